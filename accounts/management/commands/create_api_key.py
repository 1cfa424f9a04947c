"""Print a new API key for a partner organisation: `manage.py create_api_key --org NAME --scopes submit,read`."""
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q

from accounts.api_keys import InvalidScopes, create_api_key
from accounts.models import Organisation


class Command(BaseCommand):
    help = "Create an API key for an organisation and print it (it is shown only this once)."

    def add_arguments(self, parser):
        parser.add_argument("--org", required=True, help="organisation name or slug")
        parser.add_argument("--scopes", default="submit,read", help="comma-separated: submit, read")
        parser.add_argument("--name", default="created with manage.py create_api_key", help="what the key is for")

    def handle(self, *args, org, scopes, name, **options):
        organisation = Organisation.objects.filter(Q(name=org) | Q(slug=org)).first()
        if organisation is None:
            raise CommandError(f"no organisation named {org!r}")
        try:
            key, raw_key = create_api_key(organisation=organisation, name=name, scopes=scopes, actor="manage.py create_api_key")
        except InvalidScopes as exc:
            raise CommandError(str(exc)) from exc
        self.stderr.write(
            f"Created key {key.prefix} for {organisation} with scopes {', '.join(key.scopes)}. "
            "It is shown only once; store it now."
        )
        self.stdout.write(raw_key)
