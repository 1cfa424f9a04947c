from django.contrib.auth.models import Group
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.db.models.signals import m2m_changed, post_migrate
from django.dispatch import receiver

import audit

from .models import User


@receiver(user_logged_in)
def record_sign_in(sender, request, user, **kwargs):
    audit.record(user, "user.signed_in", user, ip=_client_ip(request))


@receiver(user_login_failed)
def record_sign_in_failure(sender, credentials, request=None, **kwargs):
    # Never store the password that was tried; the email is what an investigator needs.
    audit.record(None, "user.sign_in_failed", None, email=credentials.get("username", ""), ip=_client_ip(request))


@receiver(m2m_changed, sender=User.groups.through)
def record_role_change(sender, instance, action, pk_set, **kwargs):
    if action in ("post_add", "post_remove") and isinstance(instance, User) and pk_set:
        names = sorted(Group.objects.filter(pk__in=pk_set).values_list("name", flat=True))
        audit.record(None, "user.roles_added" if action == "post_add" else "user.roles_removed", instance, roles=names)


@receiver(post_migrate)
def create_roles(sender, **kwargs):
    if sender.name == "training":  # the last of our apps to migrate
        from .roles import ensure_roles

        ensure_roles()


def _client_ip(request):
    if request is None:
        return ""
    return request.META.get("REMOTE_ADDR", "")
