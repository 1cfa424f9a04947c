"""The training loop: dataset to a trained .keras file, with the papers' per-epoch table.

Adam, binary cross-entropy with label smoothing, early stopping on validation loss, learning rate reduced
on plateau, best checkpoint kept. Starting from pretrained weights, training runs in two phases: the
backbone frozen (only the head learns), then everything at a lower rate. With GPUs, mixed precision and
MirroredStrategy are used.
"""
import json
import logging
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .architectures import BACKBONE, DEFAULT_ARCHITECTURE, build_model, count_params, default_input_size
from .datasets import load_dataset
from .pipeline import Augmentation, make_dataset

logger = logging.getLogger(__name__)

MODEL_FILE = "model.keras"
CHECKPOINT_FILE = "checkpoint.keras"
HISTORY_FILE = "history.json"
CONFIG_FILE = "config.json"
TABLE_FILE = "epochs.txt"


class TrainingCancelled(Exception):
    """Someone asked the run to stop; the best checkpoint so far is kept."""


@dataclass
class TrainConfig:
    dataset: str
    output: str
    architecture: str = DEFAULT_ARCHITECTURE
    input_size: int = 0  # 0: the architecture's default
    epochs: int = 20
    batch_size: int = 32
    weights: str = "imagenet"
    learning_rate: float = 1e-3
    fine_tune_learning_rate: float = 1e-4
    frozen_epochs: int = 2  # phase one, only with pretrained weights
    label_smoothing: float = 0.05
    dropout: float = 0.2
    early_stopping_patience: int = 5
    lr_patience: int = 2
    lr_factor: float = 0.5
    max_minutes: float = 0  # 0: no time budget; otherwise no epoch starts that would end past it
    max_train_images: int = 0  # 0: all; a subset for quick comparisons
    valid_fraction: float = 0.15
    test_fraction: float = 0.15
    seed: int = 1337
    augmentation: dict = field(default_factory=lambda: Augmentation().to_dict())

    def __post_init__(self):
        if not self.input_size:
            self.input_size = default_input_size(self.architecture)

    @property
    def pretrained(self):
        return self.weights not in (None, "", "none")

    def to_dict(self):
        return asdict(self)


@dataclass
class TrainResult:
    output: Path
    model_path: Path
    epochs: list
    seconds: float
    train_images_per_second: float
    params: int
    dataset: dict
    stopped_early: bool = False


def _epoch_table_row(row):
    return (
        f"{row['epoch']:>5} {row['phase']:>9} {row['loss']:>10.4f} {row['accuracy']:>9.4f} "
        f"{row['val_loss']:>9.4f} {row['val_accuracy']:>8.4f} {row['val_loss_improvement_pct']:>11} "
        f"{row['learning_rate']:>10.2e} {row['next_learning_rate']:>10.2e} {row['seconds']:>8.1f}"
    )


TABLE_HEADER = (
    f"{'epoch':>5} {'phase':>9} {'loss':>10} {'accuracy':>9} {'val_loss':>9} {'val_acc':>8} "
    f"{'val_impr_%':>11} {'lr':>10} {'next_lr':>10} {'seconds':>8}"
)


def format_epoch_table(rows):
    """The per-epoch table of the papers as text."""
    return "\n".join([TABLE_HEADER, *(_epoch_table_row(r) for r in rows)])


def train(config, progress=None, should_stop=None, log=print):
    """Train according to `config` (a TrainConfig); returns a TrainResult.

    `progress(epoch, total_epochs, row)` is called after every epoch; `should_stop()` is polled between
    batches and ends the run with TrainingCancelled.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    output = Path(config.output)
    output.mkdir(parents=True, exist_ok=True)
    dataset = load_dataset(config.dataset, config.valid_fraction, config.test_fraction, config.seed)
    if dataset.skipped:
        log(f"skipped {len(dataset.skipped)} unreadable files (listed in {CONFIG_FILE})")
    train_samples = dataset.split("train")
    if config.max_train_images and len(train_samples) > config.max_train_images:
        import random

        train_samples = random.Random(config.seed).sample(train_samples, config.max_train_images)
    keras.utils.set_random_seed(config.seed)

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        keras.mixed_precision.set_global_policy("mixed_float16")
    strategy = tf.distribute.MirroredStrategy() if len(gpus) > 1 else tf.distribute.get_strategy()
    with strategy.scope():
        model = build_model(config.architecture, config.input_size, weights=config.weights, dropout=config.dropout)
    params = count_params(model)
    summary = dataset.summary()
    summary["train_images_used"] = len(train_samples)
    (output / CONFIG_FILE).write_text(json.dumps({"config": config.to_dict(), "dataset": summary, "params": params}, indent=2))

    augmentation = Augmentation(**config.augmentation) if config.augmentation else None
    train_ds = make_dataset(train_samples, config.input_size, config.batch_size, training=True, augmentation=augmentation, seed=config.seed)
    valid_ds = make_dataset(dataset.split("valid"), config.input_size, config.batch_size)

    table = EpochTable(config.epochs, progress=progress, log=log)
    stopper = StopWhenAsked(should_stop)
    budget = TimeBudget(config.max_minutes * 60, log=log)
    checkpoint = keras.callbacks.ModelCheckpoint(output / CHECKPOINT_FILE, monitor="val_loss", save_best_only=True)
    callbacks = [
        checkpoint,
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=config.early_stopping_patience, restore_best_weights=True),
        keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=config.lr_factor, patience=config.lr_patience, min_lr=1e-6),
        table,  # after ReduceLROnPlateau, so that it sees the next learning rate
        stopper,
        budget,
    ]
    phases = []
    if config.pretrained and config.frozen_epochs > 0 and config.architecture != "SmallCNN":
        phases.append(("frozen", min(config.frozen_epochs, config.epochs), config.learning_rate, False))
        phases.append(("fine-tune", config.epochs, config.fine_tune_learning_rate, True))
    else:
        phases.append(("full", config.epochs, config.learning_rate, True))

    log(f"{config.architecture} at {config.input_size}px, {params:,} parameters, {len(train_samples)} training images")
    log(TABLE_HEADER)
    started = time.monotonic()
    epoch = 0
    for phase, until, lr, backbone_trainable in phases:
        if epoch >= until or stopper.stopped or budget.exhausted:
            continue
        if config.architecture != "SmallCNN":
            model.get_layer(BACKBONE).trainable = backbone_trainable
        table.phase = phase
        with strategy.scope():
            model.compile(
                optimizer=keras.optimizers.Adam(lr),
                loss=keras.losses.BinaryCrossentropy(label_smoothing=config.label_smoothing),
                metrics=[keras.metrics.BinaryAccuracy(name="accuracy")],
            )
        history = model.fit(train_ds, validation_data=valid_ds, epochs=until, initial_epoch=epoch, callbacks=callbacks, verbose=0, shuffle=False)
        epoch = epoch + len(history.epoch)
        if stopper.stopped:
            break
        if history.epoch and model.stop_training and not budget.exhausted and phase != "frozen":
            break  # early stopping
    seconds = time.monotonic() - started
    (output / TABLE_FILE).write_text(format_epoch_table(table.rows) + "\n")
    images_seen = sum(len(train_samples) for _ in table.rows)
    train_seconds = sum(r["train_seconds"] for r in table.rows) or seconds
    result_history = {
        "epochs": table.rows,
        "seconds": seconds,
        "train_images_per_second": images_seen / train_seconds if table.rows else 0.0,
        "cancelled": stopper.stopped,
        "time_budget_exhausted": budget.exhausted,
    }
    (output / HISTORY_FILE).write_text(json.dumps(result_history, indent=2))
    if not (output / CHECKPOINT_FILE).exists():
        model.save(output / CHECKPOINT_FILE)
    shutil.copyfile(output / CHECKPOINT_FILE, output / MODEL_FILE)
    if stopper.stopped:
        raise TrainingCancelled(f"training cancelled after {epoch} epochs; best checkpoint kept at {output / MODEL_FILE}")
    return TrainResult(
        output=output,
        model_path=output / MODEL_FILE,
        epochs=table.rows,
        seconds=seconds,
        train_images_per_second=result_history["train_images_per_second"],
        params=params,
        dataset=summary,
        stopped_early=epoch < config.epochs,
    )


def _keras_callback_base():
    import keras

    return keras.callbacks.Callback


class EpochTable(_keras_callback_base()):
    """Records one row per epoch: losses, accuracies, val-loss improvement, learning rates, seconds."""

    def __init__(self, total_epochs, progress=None, log=print):
        super().__init__()
        self.total_epochs = total_epochs
        self.progress = progress
        self.log = log
        self.rows = []
        self.phase = "full"
        self.best_val_loss = None

    def _lr(self):
        import keras

        return float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.monotonic()
        self._lr_at_start = self._lr()

    def on_test_begin(self, logs=None):
        self._train_ended = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        val_loss = float(logs.get("val_loss", float("nan")))
        if self.best_val_loss is None:
            improvement = "-"
        else:
            improvement = f"{(self.best_val_loss - val_loss) / self.best_val_loss * 100:+.2f}"
        if self.best_val_loss is None or val_loss < self.best_val_loss:
            self.best_val_loss = val_loss
        now = time.monotonic()
        row = {
            "epoch": epoch + 1,
            "phase": self.phase,
            "loss": float(logs.get("loss", float("nan"))),
            "accuracy": float(logs.get("accuracy", float("nan"))),
            "val_loss": val_loss,
            "val_accuracy": float(logs.get("val_accuracy", float("nan"))),
            "val_loss_improvement_pct": improvement,
            "learning_rate": self._lr_at_start,
            "next_learning_rate": self._lr(),
            "seconds": now - self._started,
            "train_seconds": getattr(self, "_train_ended", now) - self._started,
        }
        self.rows.append(row)
        self.log(_epoch_table_row(row))
        if self.progress is not None:
            self.progress(epoch + 1, self.total_epochs, row)


class StopWhenAsked(_keras_callback_base()):
    """Polls `should_stop()` every few batches and stops training when it says so."""

    def __init__(self, should_stop, every=5):
        super().__init__()
        self.should_stop = should_stop
        self.every = every
        self.stopped = False

    def on_train_batch_end(self, batch, logs=None):
        if self.should_stop is not None and batch % self.every == 0 and self.should_stop():
            self.stopped = True
            self.model.stop_training = True


class TimeBudget(_keras_callback_base()):
    """Stops before an epoch that would end past the budget (judged by the longest epoch so far)."""

    def __init__(self, seconds, log=print):
        super().__init__()
        self.seconds = seconds
        self.log = log
        self.started = time.monotonic()
        self.longest = 0.0
        self.exhausted = False

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_started = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        if not self.seconds:
            return
        now = time.monotonic()
        self.longest = max(self.longest, now - self._epoch_started)
        if now - self.started + self.longest > self.seconds:
            self.exhausted = True
            self.model.stop_training = True
            self.log(f"time budget of {self.seconds / 60:.0f} min reached: stopping after epoch {epoch + 1}")
