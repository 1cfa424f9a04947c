import secrets

from django.contrib.auth.models import Group, Permission
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import Organisation, Role, User

DEMO_DOMAIN = "demo.verity.local"


class Command(BaseCommand):
    help = "Create one demo user per role (new random passwords every run) and print their credentials."

    @transaction.atomic
    def handle(self, *args, **options):
        newsroom, _ = Organisation.objects.get_or_create(
            slug="demo-newsroom", defaults={"name": "Demo Newsroom", "kind": Organisation.Kind.NEWSROOM}
        )
        partner, _ = Organisation.objects.get_or_create(
            slug="demo-partner", defaults={"name": "Demo Partner", "kind": Organisation.Kind.PARTNER}
        )
        people = [
            (Role.JOURNALIST, newsroom, False),
            (Role.MODERATOR, newsroom, False),
            (Role.PARTNER, partner, False),
            (Role.ADMIN, None, True),
        ]
        self.stdout.write("Demo users (passwords are new on every run):")
        for role, org, is_admin in people:
            email = f"{role.value}@{DEMO_DOMAIN}"
            password = secrets.token_urlsafe(9)
            user = User.objects.filter(email=email).first() or User(email=email)
            user.organisation = org
            user.is_staff = user.is_superuser = is_admin
            user.set_password(password)
            user.save()
            user.groups.add(Group.objects.get(name=role.value))
            if role == Role.PARTNER:
                # The demo partner is its organisation's partner admin: the portal's API keys page is theirs.
                user.user_permissions.add(Permission.objects.get(codename="manage_organisation_api_keys"))
            self.stdout.write(f"  {role.label:<11} {email:<32} {password}")
