from django.core.management.base import BaseCommand

from review import services


class Command(BaseCommand):
    help = (
        "Export moderators' decisions as a labelled dataset: OUT/real/, OUT/fake/ and OUT/MANIFEST.csv "
        "(authentic is real; manipulated and AI-generated are fake; inconclusive is left out)."
    )

    def add_arguments(self, parser):
        parser.add_argument("out", help="folder to write (created if missing)")

    def handle(self, *args, out, **options):
        counts = services.export_dataset(out)
        self.stdout.write(
            self.style.SUCCESS(
                f"wrote {counts['real']} real and {counts['fake']} fake images to {out}"
                + (f"; left out {counts['conflicting']} labelled both ways" if counts["conflicting"] else "")
            )
        )
