from django.core.management.base import BaseCommand

from detection import sweeper


class Command(BaseCommand):
    help = (
        "Run one recovery pass now (what celery beat runs every VERITY_SWEEP_INTERVAL_SECONDS): send again stuck "
        "submissions, overdue webhooks and missing evidence; return lapsed review claims."
    )

    def handle(self, *args, **options):
        done = sweeper.sweep()
        self.stdout.write(", ".join(f"{what}: {count}" for what, count in done.items()))
