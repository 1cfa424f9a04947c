from django.core.management.base import BaseCommand

from training import defaults


class Command(BaseCommand):
    help = "Make sure a model version is active: the shipped default model, or an untrained placeholder."

    def handle(self, *args, **options):
        version, message = defaults.ensure_default_model()
        self.stdout.write(message)
        if not version.is_trained:
            self.stdout.write(
                self.style.WARNING("WARNING: the active model is UNTRAINED; its scores mean nothing.")
            )
