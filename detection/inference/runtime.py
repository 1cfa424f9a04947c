"""Load detectors once per process and score preprocessed batches.

Nothing here runs at import time: Celery's prefork pool forks its children from the parent, and
TensorFlow initialised before a fork hangs in the children. The first task in each child loads the model.
"""
import logging
import os
import threading

import numpy as np

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_loaded = {}  # (version id, artifact sha or path) -> Detector


class ModelUnavailable(Exception):
    """The version's artifact is missing or cannot be loaded."""


class Detector:
    """A loaded Keras model: probabilities of 'fake' for batches of (size, size, 3) float32 images."""

    def __init__(self, model, input_size, temperature=1.0):
        self.model = model
        self.input_size = input_size
        self.temperature = temperature

    def predict(self, batch):
        batch = np.asarray(batch, dtype=np.float32)
        if batch.ndim == 3:
            batch = batch[None]
        # predict_on_batch runs the compiled graph (a plain model(x) call runs eagerly, ~10x slower here)
        # without predict()'s per-call dataset setup, which dominates small batches.
        raw = np.asarray(self.model.predict_on_batch(batch), dtype=np.float64).reshape(-1)
        if self.temperature != 1.0:
            raw = _apply_temperature(raw, self.temperature)
        return raw


def _apply_temperature(probabilities, temperature):
    eps = 1e-7
    p = np.clip(probabilities, eps, 1 - eps)
    logits = np.log(p / (1 - p))
    return 1 / (1 + np.exp(-logits / temperature))


def load_keras_model(path):
    """Load a .keras file for inference (no optimizer state), importing Keras only now."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    return keras.models.load_model(path, compile=False)


def get_detector(version):
    """The loaded detector for a ModelVersion, loading it on first use in this process."""
    key = (version.pk, version.artifact_sha256 or str(version.artifact_path))
    with _lock:
        detector = _loaded.get(key)
        if detector is None:
            path = version.artifact_path
            if not path.exists():
                raise ModelUnavailable(f"model file for {version.name} not found at {path}")
            try:
                model = load_keras_model(str(path))
            except Exception as exc:  # Keras raises many types for a damaged file
                raise ModelUnavailable(f"model file for {version.name} cannot be loaded: {exc}") from exc
            detector = Detector(model, version.input_size, version.temperature)
            # One model per process: drop versions that are no longer in use.
            _loaded.clear()
            _loaded[key] = detector
            logger.info("loaded model %s from %s (pid %s)", version.name, path, os.getpid())
        return detector
