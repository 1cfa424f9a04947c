from django.core.management.base import BaseCommand, CommandError

from audit import services
from audit.models import AuditEvent


class Command(BaseCommand):
    help = "Check the audit trail's hash chain and report the first broken link (exit status 1 when broken)."

    def add_arguments(self, parser):
        parser.add_argument("--database", default=None, help="database alias (default: the audit trail's)")

    def handle(self, *args, database=None, **options):
        broken = services.verify(using=database)
        if broken is not None:
            raise CommandError(f"audit trail broken at {broken}")
        count = AuditEvent.objects.using(database or "default").count()
        self.stdout.write(self.style.SUCCESS(f"audit trail intact: {count} events, every link checked"))
