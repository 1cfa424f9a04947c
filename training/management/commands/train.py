import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from training.architectures import ARCHITECTURES, DEFAULT_ARCHITECTURE, WeightsUnavailable
from training.datasets import DatasetError
from training.pipeline import Augmentation
from training.trainer import OPTIMIZERS, SCHEDULES, TrainConfig, resume_config, train


class Command(BaseCommand):
    help = "Train a detector on a folder of real/ and fake/ images and write the model, history and report."

    def add_arguments(self, parser):
        parser.add_argument("dataset", nargs="?", help="folder with {train,valid,test}/{real,fake}/ or {real,fake}/")
        parser.add_argument("--resume", metavar="RUN_DIR", default="",
                            help="continue a run that stopped, from its last finished epoch (its own settings)")
        parser.add_argument("--architecture", default=DEFAULT_ARCHITECTURE, choices=ARCHITECTURES)
        parser.add_argument("--input-size", type=int, default=0, help="pixels (default: the architecture's own)")
        parser.add_argument("--crop", type=int, default=0,
                            help="train on random CROP x CROP windows of the images at the input size, never resampled "
                                 "(validation and serving see the whole image); 0: the whole image")
        parser.add_argument("--mixup", type=float, default=0.0,
                            help="mixup: blend each training image and its label with another's, the share drawn "
                                 "from Beta(ALPHA, ALPHA); 0: off")
        parser.add_argument("--cutmix", type=float, default=0.0,
                            help="CutMix: paste a box of another training image into each, the label mixed by area, the "
                                 "box's share drawn from Beta(ALPHA, ALPHA); 0: off")
        parser.add_argument("--epochs", type=int, default=5)
        parser.add_argument("--batch-size", type=int, default=32)
        parser.add_argument("--weights", default="imagenet", help="imagenet, none, or PATH to backbone weights")
        parser.add_argument("--init-model", default="", metavar="KERAS_FILE",
                            help="continue from a trained model (a second stage; give its --architecture and --input-size)")
        parser.add_argument("--optimizer", default="adamw", choices=OPTIMIZERS)
        parser.add_argument("--weight-decay", type=float, default=1e-4, help="AdamW's decoupled weight decay")
        parser.add_argument("--schedule", default="one_cycle", choices=SCHEDULES,
                            help="one_cycle: warm up to --learning-rate, then cosine down; plateau: reduce on plateau")
        parser.add_argument("--warmup-fraction", type=float, default=0.3, help="one-cycle: share of steps rising")
        parser.add_argument("--monitor", default="val_auc", choices=("val_auc", "val_loss"),
                            help="validation score that picks the kept checkpoint")
        parser.add_argument("--learning-rate", type=float, default=1e-3, help="peak (one_cycle) or starting rate")
        parser.add_argument("--fine-tune-learning-rate", type=float, default=1e-4)
        parser.add_argument("--frozen-epochs", type=int, default=0, help="epochs with the backbone frozen (pretrained only)")
        parser.add_argument("--label-smoothing", type=float, default=0.0)
        parser.add_argument("--patience", type=int, default=5, help="early stopping patience, epochs")
        parser.add_argument("--lr-patience", type=int, default=2, help="reduce-on-plateau patience, epochs")
        parser.add_argument("--max-minutes", type=float, default=None,
                            help="this sitting's time budget: no epoch starts that would overrun it (with --resume, "
                                 "the resumed sitting's own; none unless given)")
        parser.add_argument("--max-train-images", type=int, default=0, help="use a random subset of the training split")
        parser.add_argument("--seed", type=int, default=1337)
        parser.add_argument("--output", default="", help="run folder (default var/runs/<architecture>-<time>)")
        # Default augmentation: horizontal flips only (measured best here); --robust adds the papers' set.
        parser.add_argument("--no-augment", action="store_true", help="no augmentation at all")
        parser.add_argument("--robust", action="store_true",
                            help="the papers' robustness set: zoom 0.2, brightness 0.5, rotation 10, JPEG p=0.5, blur p=0.2")
        parser.add_argument("--no-flip", action="store_true")
        parser.add_argument("--zoom", type=float, default=None, help="zoom range: factor in [1-z, 1+z]")
        parser.add_argument("--brightness", type=float, default=None, help="brightness factor in [1-b, 1+b]")
        parser.add_argument("--rotation", type=float, default=None, help="degrees either way")
        parser.add_argument("--jpeg-probability", type=float, default=None)
        parser.add_argument("--jpeg-quality", type=int, nargs=2, default=(50, 95), metavar=("MIN", "MAX"))
        parser.add_argument("--blur-probability", type=float, default=None)
        parser.add_argument("--blur-sigma", type=float, default=1.0)
        parser.add_argument("--downscale-probability", type=float, default=0.0,
                            help="downscale this share of training images (by a factor in [--downscale-min, 1)) and "
                                 "scale them back up, as a resize on the way does")
        parser.add_argument("--downscale-min", type=float, default=0.5)
        parser.add_argument("--no-evaluate", action="store_true", help="skip the evaluation report after training")
        parser.add_argument("--register", action="store_true", help="register the trained model as a candidate version")

    def handle(self, *args, **o):
        from django.conf import settings

        if o["max_minutes"] is not None and not o["max_minutes"] > 0:
            raise CommandError("--max-minutes must be a positive number of minutes (leave it out for no budget)")
        if o["resume"]:
            try:
                config = resume_config(o["resume"])
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
            config.output = o["resume"]
            config.max_minutes = o["max_minutes"] or 0  # a budget is a sitting's: the first one's does not carry over
        else:
            if not o["dataset"]:
                raise CommandError("give the dataset folder (or --resume RUN_DIR)")
            config = self._config(o, settings)
        write = lambda line: self.stdout.write(line) or self.stdout.flush()  # noqa: E731
        try:
            result = train(config, log=write, resume=bool(o["resume"]))
        except (DatasetError, WeightsUnavailable, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        self._finish(result, o, write)

    def _config(self, o, settings):
        try:
            return self._train_config(o, settings)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc

    def _train_config(self, o, settings):
        if o["no_augment"]:
            augmentation = Augmentation.none()
        else:
            base = Augmentation() if o["robust"] else Augmentation(zoom=0, brightness=0, rotation=0, jpeg_probability=0, blur_probability=0)
            pick = lambda key: getattr(base, key) if o[key] is None else o[key]  # noqa: E731
            augmentation = Augmentation(
                flip=not o["no_flip"], zoom=pick("zoom"), brightness=pick("brightness"), rotation=pick("rotation"),
                jpeg_probability=pick("jpeg_probability"), jpeg_quality=tuple(o["jpeg_quality"]),
                blur_probability=pick("blur_probability"), blur_sigma=o["blur_sigma"],
                downscale_probability=o["downscale_probability"], downscale_min=o["downscale_min"],
            )
        output = o["output"] or str(
            Path(settings.VAR_DIR) / "runs" / f"{o['architecture'].lower()}-{timezone.now():%Y%m%d-%H%M%S}"
        )
        return TrainConfig(
            dataset=o["dataset"], output=output, architecture=o["architecture"], input_size=o["input_size"],
            crop=o["crop"], mixup=o["mixup"], cutmix=o["cutmix"], epochs=o["epochs"], batch_size=o["batch_size"], weights=o["weights"], init_model=o["init_model"],
            optimizer=o["optimizer"],
            weight_decay=o["weight_decay"], schedule=o["schedule"], learning_rate=o["learning_rate"],
            warmup_fraction=o["warmup_fraction"], fine_tune_learning_rate=o["fine_tune_learning_rate"],
            frozen_epochs=o["frozen_epochs"], label_smoothing=o["label_smoothing"], monitor=o["monitor"],
            early_stopping_patience=o["patience"], lr_patience=o["lr_patience"], max_minutes=o["max_minutes"] or 0,
            max_train_images=o["max_train_images"], seed=o["seed"], augmentation=augmentation.to_dict(),
        )

    def _finish(self, result, o, write):
        write(f"trained in {result.seconds:.0f} s, {result.train_images_per_second:.1f} training images/s")
        write(f"model: {result.model_path}")
        if not o["no_evaluate"]:
            from training import evaluation

            report = evaluation.evaluate_run(result.output)
            write(f"report: {report.html_path}")
            write(json.dumps(report.headline(), indent=2))
        if o["register"]:
            from training import services

            version = services.register_run(result.output)
            write(f"registered {version.name} as a candidate")
