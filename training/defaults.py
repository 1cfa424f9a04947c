"""The default detector: the trained model shipped in models/, or an untrained placeholder until one exists."""
import json

from django.conf import settings

from . import registry
from .architectures import DEFAULT_ARCHITECTURE, DEFAULT_INPUT_SIZE, build_model
from .models import ModelVersion

CARD_FILE = "default.json"  # metadata beside models/default.keras: name, architecture, metrics...
UNTRAINED_NAME = f"untrained-{DEFAULT_ARCHITECTURE.lower()}"


def shipped_model():
    """(metadata, path) of the trained default model in models/, or None."""
    card = settings.VERITY_DEFAULT_MODEL_DIR / CARD_FILE
    if not card.exists():
        return None
    meta = json.loads(card.read_text())
    path = settings.VERITY_DEFAULT_MODEL_DIR / meta["artifact"]
    return (meta, path) if path.exists() else None


def _is_shipped_default(version, shipped_path):
    """A version registered from the shipped file in models/ and activated by the system, not by a person.

    The file is part of every web and worker image, so versions point at it in place; a release that ships a
    new default replaces the file, and with it the version the system activated from it.
    """
    return version.activated_by_id is None and version.artifact_path.resolve() == shipped_path.resolve()


def build_untrained(path, architecture=DEFAULT_ARCHITECTURE, input_size=DEFAULT_INPUT_SIZE):
    """Write a randomly initialised detector to `path` (a placeholder that says it is untrained)."""
    import keras

    keras.utils.set_random_seed(0)
    model = build_model(architecture, input_size, weights=None)
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(path)
    return path


def ensure_default_model():
    """Register and activate the default model if no version is active. Returns (version, message)."""
    active = ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).first()
    shipped = shipped_model()
    if shipped is not None:
        meta, path = shipped
        name = meta["name"]
        version = ModelVersion.objects.filter(name=name).first()
        if version is not None and version.artifact_path.resolve() != path.resolve():
            # That name was registered from another file (say, the candidate a release was built from, before
            # it was shipped under the same name): the shipped file is a version of its own, never that one.
            name = f"{name}-shipped"
            version = ModelVersion.objects.filter(name=name).first()
        if version is None:
            version = registry.register(
                name=name,
                artifact=path,
                architecture=meta["architecture"],
                input_size=meta["input_size"],
                threshold=meta.get("threshold", settings.VERITY_THRESHOLD),
                uncertain_band=meta.get("uncertain_band", settings.VERITY_UNCERTAIN_BAND),
                temperature=meta.get("temperature", 1.0),
                metrics=meta.get("metrics", {}),
                training_config=meta.get("training_config", {}),
                dataset_fingerprint=meta.get("dataset_fingerprint", ""),
                report=str(settings.VERITY_DEFAULT_MODEL_DIR / meta["report"]) if meta.get("report") else "",
                is_trained=True,
            )
        # The shipped trained model replaces an untrained placeholder or an earlier shipped default that
        # the system activated, never a version someone promoted.
        if active is None or not active.is_trained or (_is_shipped_default(active, path) and active.pk != version.pk):
            registry.activate(version)
            return version, f"Active model: {version} (shipped default)"
        return active, f"Active model: {active}"
    if active is not None:
        return active, f"Active model: {active}"
    path = settings.VERITY_MODELS_DIR / f"{UNTRAINED_NAME}.keras"
    if not path.exists():
        build_untrained(path)
    version = ModelVersion.objects.filter(name=UNTRAINED_NAME).first() or registry.register(
        name=UNTRAINED_NAME,
        artifact=path,
        architecture=DEFAULT_ARCHITECTURE,
        input_size=DEFAULT_INPUT_SIZE,
        threshold=settings.VERITY_THRESHOLD,
        uncertain_band=settings.VERITY_UNCERTAIN_BAND,
        is_trained=False,
    )
    registry.activate(version)
    return version, f"Active model: {version} (placeholder with random weights)"
