from django.core.management.base import BaseCommand

from review import services


class Command(BaseCommand):
    help = "Return review items whose claim has lapsed to the queue (claiming also takes lapsed items over)."

    def handle(self, *args, **options):
        count = services.expire_claims()
        self.stdout.write(f"{count} lapsed claim{'s' if count != 1 else ''} returned to the queue")
