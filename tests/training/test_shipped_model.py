import json

import pytest
from django.conf import settings

from training import defaults, shipping
from training.models import ModelVersion
from training.trainer import TrainConfig, train

CARD_KEYS = {"name", "artifact", "architecture", "input_size", "threshold", "uncertain_band", "temperature", "metrics", "training_config", "dataset_fingerprint"}


@pytest.fixture
def shipped(tiny_dataset, tmp_path, settings):
    from training.evaluation import evaluate_run

    config = TrainConfig(dataset=str(tiny_dataset), output=str(tmp_path / "run"), architecture="SmallCNN", input_size=32, epochs=1, batch_size=8, weights="none")
    run = train(config, log=lambda _: None).output
    evaluate_run(run, log=lambda _: None)
    settings.VERITY_DEFAULT_MODEL_DIR = tmp_path / "models"
    shipping.ship(run, "small-default", "manage.py train ...", why="Because.", limits="Tiny.", destination=tmp_path / "models")
    return tmp_path / "models"


def test_shipping_writes_the_model_its_card_and_report(shipped):
    meta = json.loads((shipped / "default.json").read_text())
    assert CARD_KEYS <= set(meta)
    assert (shipped / meta["artifact"]).exists() and (shipped / "report" / "report.html").exists()
    card = (shipped / "MODEL_CARD.md").read_text()
    for heading in ("## Data", "## Results on the test split", "## Robustness", "## Calibration", "## Known limits", "## Reproduce"):
        assert heading in card
    assert "| alpha |" in card


def test_first_start_registers_and_activates_the_shipped_model(shipped, db):
    version, message = defaults.ensure_default_model()
    meta = json.loads((shipped / "default.json").read_text())
    assert version.name == "small-default" and version.status == ModelVersion.Status.ACTIVE and version.is_trained
    assert version.temperature == pytest.approx(meta["temperature"]) and version.threshold == pytest.approx(meta["threshold"])
    assert version.report.endswith("report.html")
    again, _ = defaults.ensure_default_model()
    assert again.pk == version.pk and ModelVersion.objects.count() == 1


def test_the_committed_default_model_loads_without_custom_objects_and_matches_its_card():
    card = settings.VERITY_DEFAULT_MODEL_DIR / "default.json"
    if not card.exists():
        pytest.skip("no trained default model shipped yet")
    meta = json.loads(card.read_text())
    assert CARD_KEYS <= set(meta)
    from detection.inference.runtime import load_keras_model

    model = load_keras_model(str(settings.VERITY_DEFAULT_MODEL_DIR / meta["artifact"]))
    assert model.input_shape == (None, meta["input_size"], meta["input_size"], 3)
    assert (settings.VERITY_DEFAULT_MODEL_DIR / "MODEL_CARD.md").exists()
    # PostgreSQL refuses what does not fit (SQLite would store it): the first start would fail there.
    for field in ("name", "architecture"):
        assert len(meta[field]) <= ModelVersion._meta.get_field(field).max_length, field


def test_an_ensemble_of_three_registers_with_its_whole_architecture(db, tmp_path):
    from training import registry

    label = "Ensemble(" + " + ".join(["EfficientNetLite0"] * 3) + ", flips)"
    artifact = tmp_path / "model.keras"
    artifact.write_bytes(b"")
    version = registry.register(name="three", artifact=artifact, architecture=label, input_size=256, is_trained=True)
    assert ModelVersion.objects.get(pk=version.pk).architecture == label


def test_a_newer_shipped_default_replaces_the_one_the_system_activated(shipped, db):
    first, _ = defaults.ensure_default_model()
    _ship_again(shipped, "small-default-v2")
    second, message = defaults.ensure_default_model()
    first.refresh_from_db()
    assert second.name == "small-default-v2" and second.status == ModelVersion.Status.ACTIVE
    assert first.status == ModelVersion.Status.RETIRED
    assert "shipped default" in message


def test_a_newer_shipped_default_never_replaces_a_version_someone_promoted(shipped, db, admin_user):
    from training import registry

    first, _ = defaults.ensure_default_model()
    registry.activate(first, actor=admin_user)  # promoted by a person
    _ship_again(shipped, "small-default-v2")
    active, _ = defaults.ensure_default_model()
    assert active.pk == first.pk
    assert ModelVersion.objects.get(name="small-default-v2").status == ModelVersion.Status.CANDIDATE


def test_a_candidate_registered_under_the_shipped_name_is_not_taken_for_the_shipped_file(shipped, db, tmp_path):
    """A release's candidate is often registered under the name it is later shipped as; the shipped file is
    re-saved (another file, another hash), and a different model under that name must not be served as it."""
    import shutil

    from training import registry

    other = tmp_path / "candidate.keras"
    shutil.copyfile(shipped / "default.keras", other)
    candidate = registry.register(name="small-default", artifact=other, input_size=32, is_trained=True)
    version, message = defaults.ensure_default_model()
    candidate.refresh_from_db()
    assert version.pk != candidate.pk and version.name == "small-default-shipped"
    assert version.artifact_path.resolve() == (shipped / "default.keras").resolve()
    assert version.status == ModelVersion.Status.ACTIVE and candidate.status == ModelVersion.Status.CANDIDATE
    assert "shipped default" in message
    again, _ = defaults.ensure_default_model()  # and it is found again by the next start, not registered twice
    assert again.pk == version.pk and ModelVersion.objects.count() == 2


def _ship_again(shipped, name):
    meta = json.loads((shipped / "default.json").read_text())
    (shipped / "default.json").write_text(json.dumps(dict(meta, name=name)))
