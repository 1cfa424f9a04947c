"""Roles as groups with permissions. `ensure_roles()` is idempotent and runs after every migrate."""
from django.apps import apps
from django.contrib.auth.management import create_permissions
from django.contrib.auth.models import Group, Permission

from .models import Role

# codenames per role, as "app_label.codename"; admins get everything through is_superuser/is_staff.
ROLE_PERMISSIONS = {
    Role.JOURNALIST: ["detection.add_submission", "detection.view_submission", "detection.view_detection"],
    Role.PARTNER: ["detection.add_submission", "detection.view_submission", "detection.view_detection"],
    Role.MODERATOR: [
        "detection.view_submission",
        "detection.view_detection",
        "detection.view_all_submissions",
        "audit.view_auditevent",
        "review.view_reviewitem",
        "review.review_items",
    ],
    Role.ADMIN: [
        "detection.view_submission",
        "detection.view_detection",
        "detection.view_all_submissions",
        "audit.view_auditevent",
        "training.view_modelversion",
        "training.change_modelversion",
        "accounts.view_user",
        "accounts.change_user",
        "accounts.view_organisation",
        "accounts.change_organisation",
        "review.view_reviewitem",
        "review.review_items",
        "review.resolve_reviews",
        "review.export_decisions",
        # Partner API: admins make and revoke keys, see webhook deliveries and resend them.
        "accounts.view_apikey",
        "accounts.add_apikey",
        "accounts.change_apikey",
        "detection.view_webhookdelivery",
        "detection.change_webhookdelivery",
        "detection.view_webhooksigningsecret",
        "detection.change_webhooksigningsecret",
    ],
}


def ensure_roles():
    """Create the role groups and give them exactly their permissions."""
    # Permissions of apps migrated after accounts may not exist yet at post_migrate time.
    for app_config in apps.get_app_configs():
        create_permissions(app_config, verbosity=0)
    for role, perms in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role.value)
        wanted = []
        for perm in perms:
            app_label, codename = perm.split(".")
            wanted.append(Permission.objects.get(content_type__app_label=app_label, codename=codename))
        group.permissions.set(wanted)
