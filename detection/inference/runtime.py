"""Load detectors once per process and score preprocessed batches.

Nothing here runs at import time: Celery's prefork pool forks its children from the parent, and
TensorFlow initialised before a fork hangs in the children. The first batch in each child loads the model.

The runtime is a setting (`VERITY_INFERENCE_RUNTIME`): `onnx` (ONNX Runtime, the CPU default) uses the
version's checked ONNX export and falls back to Keras until one exists; `keras` always uses Keras
(GPU workers, where TensorFlow places the model on the GPU).
"""
import logging
import os
import threading

import numpy as np
from django.conf import settings

from training.ensembles import fake_column, member_columns

from . import export, quantize

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_loaded = {}  # (version id, artifact sha or path, runtime) -> Detector


class ModelUnavailable(Exception):
    """The version's artifact is missing or cannot be loaded."""


class Detector:
    """A loaded detector: probabilities of 'fake' for batches of (size, size, 3) float32 images in [0, 255]."""

    def __init__(self, version, runtime, predict_fn, keras_model=None):
        self.version_id = version.pk
        self.artifact_path = version.artifact_path
        self.input_size = version.input_size
        self.temperature = version.temperature
        self.runtime = runtime
        self.member_names = version.member_names  # an ensemble's members, in its output columns' order
        self._predict = predict_fn
        self._keras_model = keras_model
        # Images per model run: a batch larger than this runs in slices of it (None: the whole batch in one run).
        # Chosen by measuring where the worker runs (get_detector): see choose_run_size().
        self.run_size = None

    @property
    def model(self):
        """The Keras model (loaded on first use when serving through ONNX), e.g. for Grad-CAM."""
        if self._keras_model is None:
            self._keras_model = load_keras_model(str(self.artifact_path))
        return self._keras_model

    def predict(self, batch):
        """P(fake) per image, the version's temperature applied."""
        return self.predict_with_members(batch)[0]

    def predict_with_members(self, batch):
        """(P(fake) per image, each ensemble member's own probability (n, members) or None)."""
        batch = np.asarray(batch, dtype=np.float32)
        if batch.ndim == 3:
            batch = batch[None]
        output = np.asarray(run_in_slices(self._predict, batch, self.run_size), dtype=np.float64)
        raw = fake_column(output)
        if self.temperature != 1.0:
            raw = apply_temperature(raw, self.temperature)
        return raw, member_columns(output)


def run_in_slices(predict_fn, batch, size=None):
    """`predict_fn` on `batch` in runs of at most `size` images (None: one run), outputs concatenated in order."""
    if not size or len(batch) <= size:
        return np.asarray(predict_fn(batch))
    return np.concatenate([np.asarray(predict_fn(batch[i: i + size])) for i in range(0, len(batch), size)])


def apply_temperature(probabilities, temperature):
    """Temperature scaling of a sigmoid output: sigmoid(logit(p) / T)."""
    eps = 1e-7
    p = np.clip(probabilities, eps, 1 - eps)
    logits = np.log(p / (1 - p))
    return 1 / (1 + np.exp(-logits / temperature))


def load_keras_model(path):
    """Load a .keras file for inference (no optimizer state), importing Keras only now."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    return keras.models.load_model(path, compile=False)


def configured_runtime():
    runtime = getattr(settings, "VERITY_INFERENCE_RUNTIME", "onnx")
    if runtime not in ("onnx", "keras"):
        raise ValueError(f"VERITY_INFERENCE_RUNTIME must be 'onnx' or 'keras', not {runtime!r}")
    return runtime


def _load(version, runtime):
    path = version.artifact_path
    if not path.exists():
        raise ModelUnavailable(f"model file for {version.name} not found at {path}")
    if runtime == "onnx-int8":
        reduced = quantize.existing_reduced(version.artifact_sha256)
        if reduced.quantized_ops is None:  # made before activations were folded into int8
            logger.warning(
                "the int8 variant of %s quantises convolutions only (made before activations were folded); "
                "`manage.py quantize_model` makes one that runs faster (v8 on an AVX2 CPU: 1.5x)", version.name,
            )  # fmt: skip
        return Detector(version, runtime, export.OnnxModel(reduced.onnx_path).run)
    if runtime == "onnx":
        info = export.existing_export(version.artifact_sha256)
        if info is not None:
            try:
                onnx_model = export.OnnxModel(info.onnx_path)
                return Detector(version, "onnx", onnx_model.run)
            except Exception as exc:  # a damaged export: serve with Keras rather than fail
                logger.warning("ONNX export of %s unusable (%s); using Keras", version.name, exc)
        else:
            logger.info("no ONNX export for %s yet; using Keras", version.name)
    try:
        model = load_keras_model(str(path))
    except Exception as exc:  # Keras raises many types for a damaged file
        raise ModelUnavailable(f"model file for {version.name} cannot be loaded: {exc}") from exc
    # predict_on_batch runs the compiled graph (a plain model(x) call runs eagerly, ~10x slower here)
    # without predict()'s per-call dataset setup, which dominates small batches.
    return Detector(version, "keras", model.predict_on_batch, keras_model=model)


def configured_run_size():
    """VERITY_MODEL_RUN_SIZE: "auto" (measure, ONNX runtimes), 0 (whole batches) or a number of images."""
    value = str(getattr(settings, "VERITY_MODEL_RUN_SIZE", "auto")).strip().lower()
    if value == "auto":
        return "auto"
    try:
        size = int(value)
    except ValueError:
        size = -1
    if size < 0:
        raise ValueError(f"VERITY_MODEL_RUN_SIZE must be 'auto', 0 (whole batches) or a number of images, not {value!r}")
    return size or None


def run_size_candidates(batch_size):
    """The run sizes worth timing for batches of `batch_size`: powers of two below it, and the whole batch."""
    return [n for n in (1, 2, 4, 8, 16, 32, 64) if n < batch_size] + [batch_size]


def choose_run_size(detector, batch, measure=None):
    """The fastest number of images per model run for `detector` on `batch` (its seconds per size); sets it.

    One run of a whole batch is not the fastest on a CPU: its activations outgrow the core's cache. On the AMD
    EPYC of README Performance, 16 images took 14.4 ms each in one run of ONNX Runtime on one core and 12.3 in
    runs of 2 (1.17 times the rate); on two cores 7.9 against 6.9. A GPU wants the opposite, so it is measured
    here, where the worker runs, never assumed.
    """
    measure = measure or measure_seconds
    seconds = {}
    for size in run_size_candidates(len(batch)):
        detector.run_size = size
        seconds[size] = measure(detector, batch)
    best = min(seconds, key=seconds.get)
    detector.run_size = None if best >= len(batch) else best
    return best, seconds


def measure_seconds(detector, batch, rounds=3):
    """Median seconds of `rounds` runs of `detector` on `batch`, after one warm-up run."""
    import time

    detector.predict(batch)
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        detector.predict(batch)
        times.append(time.perf_counter() - started)
    return sorted(times)[len(times) // 2]


def choose_fastest(detectors, batch, measure=None, min_speedup=1.0):
    """The runtime that serves of the loaded `detectors`, measured on `batch` on this host, and the seconds of each.

    Reduced precision is not faster everywhere (an int8 export measured 106 img/s against fp32's 113 on a
    CPU without AVX-512 VNNI), so the choice is measured where the worker runs, never assumed. `detectors[0]` is
    the full-precision one: another serves only where it is at least `min_speedup` times as fast, so that a tie
    within the timing noise keeps full precision, which loses no AUC (on an AVX2-only host v8's int8 variant
    timed 0.4800 s a batch against fp32's 0.4821, and won by that).
    """
    measure = measure or measure_seconds
    seconds = {d.runtime: measure(d, batch) for d in detectors}
    fastest = min(detectors, key=lambda d: seconds[d.runtime])
    full = detectors[0]
    if seconds[full.runtime] < min_speedup * seconds[fastest.runtime]:
        fastest = full
    return fastest, seconds


_choices = {}  # version name -> what the last runtime choice measured (for logs and staff pages)


def runtime_choices():
    """{version name: {"chosen": runtime, "seconds": {runtime: s}, "batch": n, "run_size": images per model run,
    "run_seconds": {runtime: {run size: s}}, "min_speedup": how much faster reduced precision had to be}} measured
    in this process."""
    return dict(_choices)


def get_detector(version):
    """The loaded detector for a ModelVersion, loading it on first use in this process.

    With an approved int8 export and VERITY_REDUCED_PRECISION, both ONNX runtimes are loaded and timed on a
    batch of VERITY_BATCH_SIZE images, and int8 serves where it is at least VERITY_REDUCED_PRECISION_MIN_SPEEDUP
    times as fast as fp32. An ONNX runtime is also timed at each number of images per model run (choose_run_size;
    VERITY_MODEL_RUN_SIZE=auto), each runtime at its best, before they are compared. A version that fails to load
    raises ModelUnavailable and leaves the previously loaded one in place.
    """
    runtime = configured_runtime()
    candidates = [runtime]
    if runtime == "onnx":
        if export.existing_export(version.artifact_sha256) is None:
            candidates = ["keras"]  # until the version's export exists; the key changes once it does
        elif getattr(settings, "VERITY_REDUCED_PRECISION", False):
            reduced = quantize.existing_reduced(version.artifact_sha256)
            if reduced is not None and reduced.approved:
                candidates = ["onnx", "onnx-int8"]
    key = (version.pk, version.artifact_sha256 or str(version.artifact_path), tuple(candidates))
    with _lock:
        detector = _loaded.get(key)
        if detector is None:
            loaded = [_load(version, candidate) for candidate in candidates]
            detector = _choose(version, loaded)
            # One model per process: drop versions that are no longer in use, once the new one works.
            _loaded.clear()
            _loaded[key] = detector
            logger.info("loaded %s (%s runtime, pid %s)", version.name, detector.runtime, os.getpid())
        return detector


def _choose(version, loaded):
    """Of the runtimes loaded for `version`, the one that serves, each at its measured run size; logged and kept
    for runtime_choices(). Nothing is measured where there is nothing to choose."""
    run_size = configured_run_size()
    if run_size == "auto":
        measure_runs = [d for d in loaded if d.runtime.startswith("onnx")]
    else:
        measure_runs = []
        for detector in loaded:
            detector.run_size = run_size
    if len(loaded) == 1 and not measure_runs:
        return loaded[0]
    size = getattr(settings, "VERITY_BATCH_SIZE", 16)
    batch = np.random.default_rng(0).uniform(0, 255, (size, version.input_size, version.input_size, 3)).astype(np.float32)
    run_seconds, best_seconds = {}, {}
    for detector in measure_runs:
        best, run_seconds[detector.runtime] = choose_run_size(detector, batch)
        best_seconds[detector.runtime] = run_seconds[detector.runtime][best]
        logger.info(
            "images per model run for %s (%s): %d (seconds per batch of %d: %s)", version.name, detector.runtime,
            best, size, ", ".join(f"{k}: {v:.4f}" for k, v in run_seconds[detector.runtime].items()),
        )  # fmt: skip
    # A runtime timed at its run sizes is not timed again: its best size's seconds are its figure.
    min_speedup = getattr(settings, "VERITY_REDUCED_PRECISION_MIN_SPEEDUP", 1.0)
    chosen, seconds = choose_fastest(
        loaded, batch, min_speedup=min_speedup,
        measure=lambda d, b: best_seconds[d.runtime] if d.runtime in best_seconds else measure_seconds(d, b),
    )  # fmt: skip
    if len(loaded) > 1:
        logger.info(
            "runtime for %s: %s (seconds per batch of %d: %s; reduced precision serves at %.2fx or more)",
            version.name, chosen.runtime, size, ", ".join(f"{k} {v:.4f}" for k, v in seconds.items()), min_speedup,
        )  # fmt: skip
    _choices[version.name] = {
        "chosen": chosen.runtime, "seconds": seconds, "batch": size, "run_size": chosen.run_size or size,
        "run_seconds": run_seconds, "min_speedup": min_speedup,
    }  # fmt: skip
    return chosen


def serving_run_size(version):
    """Images per model run of `version` as loaded in this process (its whole batch: VERITY_BATCH_SIZE); None if
    this process has not loaded it."""
    for key, detector in _loaded.items():
        if key[0] == version.pk:
            return detector.run_size or getattr(settings, "VERITY_BATCH_SIZE", 16)
    return None


def loaded_versions():
    """Ids of the versions loaded in this process (for tests and diagnostics)."""
    return [key[0] for key in _loaded]
