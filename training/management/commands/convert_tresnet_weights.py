from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from training import tresnet_weights


class Command(BaseCommand):
    help = (
        "Convert timm's TResNet-M ImageNet weights (a PyTorch checkpoint or model.safetensors) into a Keras "
        "weights file for the TResNetM backbone. Needs the packages of training/requirements-convert.txt."
    )

    def add_arguments(self, parser):
        parser.add_argument("--source", required=True, type=Path, help="timm's tresnet_m state dict or checkpoint")
        parser.add_argument("--output", type=Path, help="where to write the .weights.h5 (default: under var/weights/)")
        parser.add_argument("--no-verify", action="store_true", help="skip the forward-pass comparison with timm")

    def handle(self, *args, source, output, no_verify, **options):
        try:
            path = tresnet_weights.convert(source, output)
        except (ImportError, FileNotFoundError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"wrote {path}")
        if not no_verify:
            try:
                diff, scale = tresnet_weights.compare_with_timm(source, path)
            except ImportError as exc:
                raise CommandError(f"cannot verify without timm ({exc}); install training/requirements-convert.txt "
                                   "or pass --no-verify") from exc  # fmt: skip
            self.stdout.write(f"max |keras - timm| on random input: {diff:.2e} (features up to {scale:.2f})")
            if diff > 1e-4 * max(1.0, scale):
                raise CommandError("the converted model does not match timm's")
