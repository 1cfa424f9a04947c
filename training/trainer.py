"""The training loop: dataset to a trained .keras file, with the papers' per-epoch table.

The default recipe is the one measured best on the faces dataset: every layer trainable from the start,
AdamW (decoupled weight decay), a one-cycle learning rate (warm up to the peak, then cosine down),
horizontal flips only, plain binary cross-entropy, and the checkpoint with the best validation ROC AUC kept.
The older recipe (Adam, a frozen-backbone phase, reduce-on-plateau, heavy augmentation) stays selectable.

Training runs one epoch at a time, and after each epoch writes the last weights with the optimizer state
and `state.json` (the epoch table, the best score, plateau counters): `train(..., resume=True)` continues
a run that stopped (a crash, a time budget, a sitting that ended) and gives the same epochs as an
uninterrupted run, because each epoch's shuffle and augmentation are seeded by the epoch number.
With GPUs, mixed precision and MirroredStrategy are used.
"""
import json
import logging
import math
import os
import shutil
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from .architectures import BACKBONE, DEFAULT_ARCHITECTURE, build_model, count_params, default_input_size
from .datasets import load_dataset
from .pipeline import Augmentation, make_dataset

logger = logging.getLogger(__name__)

MODEL_FILE = "model.keras"
CHECKPOINT_FILE = "checkpoint.keras"  # best epoch by the monitored validation score
LAST_FILE = "last.keras"  # the latest epoch, with the optimizer state, for --resume
STATE_FILE = "state.json"  # progress of a run: epochs done, the table, the best score
HISTORY_FILE = "history.json"
CONFIG_FILE = "config.json"
TABLE_FILE = "epochs.txt"
OPTIMIZERS = ("adamw", "adam")
SCHEDULES = ("one_cycle", "plateau")


class TrainingCancelled(Exception):
    """Someone asked the run to stop; the best checkpoint so far is kept."""


def plain_augmentation():
    """Horizontal flips only: the augmentation of the measured-best plain fine-tune."""
    return Augmentation(flip=True, zoom=0, brightness=0, rotation=0, jpeg_probability=0, blur_probability=0)


# Architectures with a layer that needs the image size when built, so a model cannot train on crops and serve
# whole images: why not.
FIXED_SIZE = {"SmallCNN": "has a fixed-size head (Flatten)", "TResNetM": "has a space-to-depth stem (Reshape)"}


@dataclass
class TrainConfig:
    dataset: str
    output: str
    architecture: str = DEFAULT_ARCHITECTURE
    input_size: int = 0  # 0: the architecture's default
    # > 0: train on random crop x crop windows of the images at input_size, never resampled (the forensic
    # literature's way: resampling erases generator traces); validation and the saved model see input_size.
    crop: int = 0
    mixup: float = 0.0  # > 0: mixup (Zhang et al. 2018) with Beta(mixup, mixup) shares; 0: off
    cutmix: float = 0.0  # > 0: CutMix (Yun et al. 2019), box shares from Beta(cutmix, cutmix); 0: off
    epochs: int = 5
    batch_size: int = 32
    weights: str = "imagenet"
    init_model: str = ""  # a trained .keras file to continue from (a second stage); its architecture and size
    optimizer: str = "adamw"
    weight_decay: float = 1e-4  # AdamW only
    schedule: str = "one_cycle"  # or "plateau": learning_rate, reduced by lr_factor after lr_patience flat epochs
    learning_rate: float = 1e-3  # peak of the one-cycle schedule, or the starting rate
    warmup_fraction: float = 0.3  # one-cycle: share of the steps spent rising to the peak
    fine_tune_learning_rate: float = 1e-4  # after a frozen phase (plateau schedule)
    frozen_epochs: int = 0  # phase one with the backbone frozen, only with pretrained weights
    label_smoothing: float = 0.0
    dropout: float = 0.2
    monitor: str = "val_auc"  # the validation score that picks the kept checkpoint (val_auc: higher is better)
    early_stopping_patience: int = 5
    lr_patience: int = 2
    lr_factor: float = 0.5
    max_minutes: float = 0  # 0: no time budget; otherwise no epoch starts that would end past it
    max_train_images: int = 0  # 0: all; a subset for quick comparisons
    valid_fraction: float = 0.15
    test_fraction: float = 0.15
    seed: int = 1337
    augmentation: dict = field(default_factory=lambda: plain_augmentation().to_dict())

    def __post_init__(self):
        if not self.input_size:
            self.input_size = default_input_size(self.architecture)
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}")
        if self.monitor not in ("val_auc", "val_loss"):
            raise ValueError("monitor must be val_auc or val_loss")
        if self.crop:
            if self.architecture in FIXED_SIZE:
                raise ValueError(f"{self.architecture} {FIXED_SIZE[self.architecture]}: it cannot train on crops")
            if not 32 <= self.crop < self.input_size:
                raise ValueError(f"crop must be at least 32 and smaller than the input size ({self.input_size})")
            if self.crop % 4:
                raise ValueError("crop must be a multiple of 4")
        if self.mixup < 0:
            raise ValueError("mixup must be 0 (off) or a positive Beta parameter")
        if self.cutmix < 0:
            raise ValueError("cutmix must be 0 (off) or a positive Beta parameter")
        if self.mixup and self.cutmix:
            raise ValueError("mixup and cutmix are alternatives: give one")
        if self.max_minutes < 0:
            raise ValueError("max_minutes must be 0 (no budget) or a positive number of minutes")
        if self.augmentation:
            Augmentation(**self.augmentation)  # refuses settings it cannot apply

    @property
    def pretrained(self):
        return self.weights not in (None, "", "none")

    @property
    def has_frozen_phase(self):
        return self.pretrained and self.frozen_epochs > 0 and self.architecture != "SmallCNN"

    def phase(self, epoch):
        """The phase of (0-based) `epoch`: frozen, fine-tune or full."""
        if not self.has_frozen_phase:
            return "full"
        return "frozen" if epoch < self.frozen_epochs else "fine-tune"

    def to_dict(self):
        return asdict(self)

    @classmethod
    def from_dict(cls, data):
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


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
        f"{row['val_loss']:>9.4f} {row['val_accuracy']:>8.4f} {row.get('val_auc', float('nan')):>8.4f} "
        f"{row['val_loss_improvement_pct']:>11} {row['learning_rate']:>10.2e} {row['next_learning_rate']:>10.2e} "
        f"{row['seconds']:>8.1f}"
    )


TABLE_HEADER = (
    f"{'epoch':>5} {'phase':>9} {'loss':>10} {'accuracy':>9} {'val_loss':>9} {'val_acc':>8} {'val_auc':>8} "
    f"{'val_impr_%':>11} {'lr':>10} {'next_lr':>10} {'seconds':>8}"
)


def format_epoch_table(rows):
    """The per-epoch table of the papers as text."""
    return "\n".join([TABLE_HEADER, *(_epoch_table_row(r) for r in rows)])


def one_cycle_rate(step, total_steps, peak, warmup_fraction=0.3, div_factor=25.0, final_div_factor=1e4):
    """The one-cycle learning rate at `step` (cosine up from peak/div_factor, cosine down to a tiny rate)."""
    start, end = peak / div_factor, peak / div_factor / final_div_factor
    warmup = max(1, int(round(total_steps * warmup_fraction)))
    if step < warmup:
        low, high, t = start, peak, step / warmup
    else:
        low, high, t = peak, end, min(1.0, (step - warmup) / max(1, total_steps - warmup))
    return high + (low - high) * (1 + math.cos(math.pi * t)) / 2


def read_state(output):
    """The progress of the run in `output` (state.json), or None."""
    path = Path(output) / STATE_FILE
    return json.loads(path.read_text()) if path.exists() else None


def _better(config, value, best):
    if best is None or math.isnan(best):
        return not math.isnan(value)
    return value > best if config.monitor == "val_auc" else value < best


def _compile(model, config, strategy, learning_rate):
    import keras

    with strategy.scope():
        if config.optimizer == "adamw":
            optimizer = keras.optimizers.AdamW(learning_rate, weight_decay=config.weight_decay)
        else:
            optimizer = keras.optimizers.Adam(learning_rate)
        model.compile(
            optimizer=optimizer,
            loss=keras.losses.BinaryCrossentropy(label_smoothing=config.label_smoothing),
            metrics=[keras.metrics.BinaryAccuracy(name="accuracy"), keras.metrics.AUC(name="auc")],
        )


def _seed_generators(model):
    """The random streams of the model's layers (dropout, stochastic depth), by layer name."""
    return {f"{layer.name}/{i}": gen for layer in model._flatten_layers()
            for i, gen in enumerate(getattr(layer, "_seed_generators", []))}


def _save_random_state(model):
    import keras

    return {name: keras.ops.convert_to_numpy(gen.state).tolist() for name, gen in _seed_generators(model).items()}


def _restore_random_state(model, saved):
    for name, gen in _seed_generators(model).items():
        if name in saved:
            gen.state.assign(saved[name])


def _set_phase(model, config, phase):
    if config.architecture != "SmallCNN" and phase != "full":
        model.get_layer(BACKBONE).trainable = phase != "frozen"


def train(config, progress=None, should_stop=None, log=print, resume=False):
    """Train according to `config` (a TrainConfig); returns a TrainResult.

    `progress(epoch, total_epochs, row)` is called after every epoch; `should_stop()` is polled between
    batches and ends the run with TrainingCancelled. With `resume`, a run in `config.output` that stopped
    continues from its last finished epoch (its own config.json is used; see `resume_config`).
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    output = Path(config.output)
    dataset = load_dataset(config.dataset, config.valid_fraction, config.test_fraction, config.seed)
    output.mkdir(parents=True, exist_ok=True)  # after the dataset is known good: a bad one leaves no empty run
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
    state = read_state(output) if resume else None
    if resume and (state is None or not (output / LAST_FILE).exists()):
        raise ValueError(f"{output} has no finished epoch to resume from")
    if state is None:
        state = {"epochs_done": 0, "rows": [], "best": None, "best_val_loss": None, "wait": 0, "plateau_wait": 0,
                 "learning_rate": config.learning_rate, "phase": None, "train_seconds": 0.0, "seconds": 0.0,
                 "finished": False, "stopped_early": False}
        with strategy.scope():
            if config.init_model:
                model = keras.models.load_model(config.init_model, compile=False)
                if config.crop:
                    model = _resized(model, config, None)
            else:
                # Trained on crops, validated on whole images: a model that takes any size.
                size = None if config.crop else config.input_size
                model = build_model(config.architecture, size, weights=config.weights, dropout=config.dropout)
    else:
        with strategy.scope():
            model = keras.models.load_model(output / LAST_FILE)
        _restore_random_state(model, state.get("random_state", {}))
        log(f"resuming {output} after epoch {state['epochs_done']}")
    params = count_params(model)
    summary = dataset.summary()
    summary["train_images_used"] = len(train_samples)
    (output / CONFIG_FILE).write_text(json.dumps({"config": config.to_dict(), "dataset": summary, "params": params}, indent=2))

    augmentation = Augmentation(**config.augmentation) if config.augmentation else None
    valid_ds = make_dataset(dataset.split("valid"), config.input_size, config.batch_size)
    steps_per_epoch = math.ceil(len(train_samples) / config.batch_size)
    stopper = StopWhenAsked(should_stop)
    budget = TimeBudget(config.max_minutes * 60, log=log)
    table = EpochTable(config.epochs, progress=progress, log=log)
    table.rows = list(state["rows"])
    table.best_val_loss = state["best_val_loss"]
    schedule = OneCycle(config, steps_per_epoch) if config.schedule == "one_cycle" else None

    log(f"{config.architecture} at {config.input_size}px, {params:,} parameters, {len(train_samples)} training images")
    log(format_epoch_table(table.rows))  # a resumed run's table is whole: the earlier sittings' epochs first
    started = time.monotonic()
    for epoch in range(state["epochs_done"], config.epochs):
        if stopper.stopped or budget.exhausted or state["finished"]:
            break
        phase = config.phase(epoch)
        if phase != state["phase"]:
            _set_phase(model, config, phase)
            if phase == "fine-tune":
                state["learning_rate"] = config.fine_tune_learning_rate
            _compile(model, config, strategy, state["learning_rate"])
            state["phase"] = phase
        elif model.optimizer is None:
            _compile(model, config, strategy, state["learning_rate"])
        if schedule is None:
            model.optimizer.learning_rate.assign(state["learning_rate"])
        table.phase = phase
        # Each epoch's shuffle and augmentation depend only on the seed and the epoch: a resumed run sees
        # the same batches as an uninterrupted one.
        train_ds = make_dataset(train_samples, config.input_size, config.batch_size, training=True,
                                augmentation=augmentation, seed=config.seed + epoch, crop=config.crop,
                                mixup=config.mixup, cutmix=config.cutmix)
        callbacks = [c for c in (schedule, table, stopper, budget) if c is not None]
        model.fit(train_ds, validation_data=valid_ds, epochs=epoch + 1, initial_epoch=epoch, callbacks=callbacks,
                  verbose=0, shuffle=False)
        if stopper.stopped:
            del table.rows[state["epochs_done"]:]  # stopped inside the epoch: it does not count as done
            break
        row = table.rows[-1]
        score = row["val_auc"] if config.monitor == "val_auc" else row["val_loss"]
        improved = _better(config, score, state["best"])
        if improved:
            state["best"], state["wait"] = score, 0
            model.save(output / CHECKPOINT_FILE)
        else:
            state["wait"] += 1
        row["kept"] = improved
        if schedule is None:
            if improved:
                state["plateau_wait"] = 0
            else:
                state["plateau_wait"] += 1
                if state["plateau_wait"] >= config.lr_patience:
                    state["learning_rate"] = max(state["learning_rate"] * config.lr_factor, 1e-6)
                    state["plateau_wait"] = 0
            row["next_learning_rate"] = state["learning_rate"]
        state.update(epochs_done=epoch + 1, rows=table.rows, best_val_loss=table.best_val_loss)
        state["train_seconds"] += row["train_seconds"]
        if phase != "frozen" and state["wait"] >= config.early_stopping_patience:
            state["finished"] = state["stopped_early"] = True
            log(f"early stopping: no better {config.monitor} for {state['wait']} epochs")
        model.save(output / LAST_FILE)
        state["random_state"] = _save_random_state(model)  # dropout's streams continue where they were
        # Counted as each epoch ends: a sitting that is killed keeps the time of the epochs it finished.
        now = time.monotonic()
        state["seconds"] += now - started
        started = now
        _write_json(output / STATE_FILE, state)
        table.report(row)
    state["seconds"] += time.monotonic() - started
    if state["epochs_done"] >= config.epochs:
        state["finished"] = True  # a time budget leaves the run resumable in the next sitting
    state["stopped_early"] = state["stopped_early"] or state["epochs_done"] < config.epochs
    _write_json(output / STATE_FILE, state)
    rows = state["rows"]
    (output / TABLE_FILE).write_text(format_epoch_table(rows) + "\n")
    images_seen = len(train_samples) * len(rows)
    result_history = {
        "epochs": rows,
        "seconds": state["seconds"],
        "train_images_per_second": images_seen / state["train_seconds"] if rows and state["train_seconds"] else 0.0,
        "cancelled": stopper.stopped,
        "time_budget_exhausted": budget.exhausted,
        "monitor": config.monitor,
        "best": state["best"],
    }
    (output / HISTORY_FILE).write_text(json.dumps(result_history, indent=2))
    if not (output / CHECKPOINT_FILE).exists():
        model.save(output / CHECKPOINT_FILE)
    if config.crop:
        # Served at input_size like every detector: the same weights in a model of that fixed size.
        _resized(keras.models.load_model(output / CHECKPOINT_FILE, compile=False), config, config.input_size).save(
            output / MODEL_FILE
        )
    else:
        shutil.copyfile(output / CHECKPOINT_FILE, output / MODEL_FILE)
    if stopper.stopped:
        raise TrainingCancelled(
            f"training cancelled after {state['epochs_done']} epochs; best checkpoint kept at {output / MODEL_FILE}"
        )
    return TrainResult(
        output=output,
        model_path=output / MODEL_FILE,
        epochs=rows,
        seconds=state["seconds"],
        train_images_per_second=result_history["train_images_per_second"],
        params=params,
        dataset=summary,
        stopped_early=state["stopped_early"],
    )


def _resized(model, config, size):
    """`model`'s weights in a new model of `config.architecture` taking `size` x `size` images (None: any size).
    Every architecture that can train on crops is convolutions and a global pool: no weight depends on size."""
    fresh = build_model(config.architecture, size, weights=None, dropout=config.dropout)
    fresh.set_weights(model.get_weights())
    return fresh


def resume_config(output):
    """The TrainConfig a run in `output` was started with (its config.json)."""
    path = Path(output) / CONFIG_FILE
    if not path.exists():
        raise ValueError(f"{output} is not a training run folder (no {CONFIG_FILE})")
    return TrainConfig.from_dict(json.loads(path.read_text())["config"])


def _write_json(path, data):
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, path)


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
            "val_auc": float(logs.get("val_auc", float("nan"))),
            "val_loss_improvement_pct": improvement,
            "learning_rate": self._lr_at_start,
            "next_learning_rate": self._lr(),
            "seconds": now - self._started,
            "train_seconds": getattr(self, "_train_ended", now) - self._started,
        }
        self.rows.append(row)

    def report(self, row):
        """Print the finished epoch's row and tell the progress callback."""
        self.log(_epoch_table_row(row))
        if self.progress is not None:
            self.progress(row["epoch"], self.total_epochs, row)


class OneCycle(_keras_callback_base()):
    """Sets the one-cycle learning rate before every batch, from the epoch and the batch index (so that a
    resumed run continues the same curve)."""

    def __init__(self, config, steps_per_epoch):
        super().__init__()
        self.config = config
        self.steps_per_epoch = steps_per_epoch
        self.total_steps = steps_per_epoch * config.epochs
        self.epoch = 0

    def rate(self, step):
        c = self.config
        return one_cycle_rate(step, self.total_steps, c.learning_rate, c.warmup_fraction)

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        self.model.optimizer.learning_rate.assign(self.rate(epoch * self.steps_per_epoch))

    def on_train_batch_begin(self, batch, logs=None):
        self.model.optimizer.learning_rate.assign(self.rate(self.epoch * self.steps_per_epoch + batch))


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
