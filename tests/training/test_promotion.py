import pytest

from audit.models import AuditEvent
from training import registry, services
from training.models import ModelVersion


@pytest.fixture
def candidate(db, tiny_model_path):
    return registry.register(name="candidate-1", artifact=tiny_model_path, architecture="TinyTest", input_size=32, is_trained=True)


def test_promotion_makes_exactly_one_version_active_and_retires_the_previous(active_model, candidate, admin_user):
    services.promote(candidate, actor=admin_user)
    active_model.refresh_from_db()
    candidate.refresh_from_db()
    assert candidate.status == ModelVersion.Status.ACTIVE and candidate.activated_by == admin_user
    assert active_model.status == ModelVersion.Status.RETIRED
    assert ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).count() == 1


def test_promotion_is_audited_with_who_and_what_it_replaced(active_model, candidate, admin_user):
    services.promote(candidate, actor=admin_user)
    event = AuditEvent.objects.filter(action="model.promoted").latest("created_at")
    assert event.target_label == str(candidate) or event.target_id == str(candidate.pk)
    assert event.data["previous"] == active_model.name


def test_a_failed_promotion_leaves_the_previous_version_active(active_model, candidate, monkeypatch):
    import audit

    def broken_record(*args, **kwargs):
        raise RuntimeError("audit store down")

    monkeypatch.setattr(audit, "record", broken_record)
    monkeypatch.setattr(registry.audit, "record", broken_record)
    with pytest.raises(RuntimeError):
        services.promote(candidate)
    active_model.refresh_from_db()
    candidate.refresh_from_db()
    assert active_model.status == ModelVersion.Status.ACTIVE
    assert candidate.status == ModelVersion.Status.CANDIDATE


def test_a_version_whose_file_is_missing_cannot_be_promoted(active_model, tmp_path):
    ghost = registry.register(name="ghost", artifact=tmp_path / "missing.keras", is_trained=True)
    with pytest.raises(services.CannotPromote, match="missing"):
        services.promote(ghost)
    active_model.refresh_from_db()
    assert active_model.status == ModelVersion.Status.ACTIVE


def test_the_worker_scores_with_the_newly_promoted_version(active_model, tmp_path, journalist, image_bytes):
    import keras
    import numpy as np

    from detection import services as detection
    from tests.conftest import TINY_INPUT_SIZE

    # A second detector that calls everything fake, promoted after the first scored an image.
    inputs = keras.Input((TINY_INPUT_SIZE, TINY_INPUT_SIZE, 3))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Rescaling(1 / 255.0)(inputs))
    outputs = keras.layers.Dense(1, activation="sigmoid")(x)
    always_fake = keras.Model(inputs, outputs)
    always_fake.layers[-1].set_weights([np.zeros((3, 1)), np.array([6.0])])
    always_fake.save(tmp_path / "always_fake.keras")

    green = image_bytes(color=(20, 200, 30))
    first = detection.submit(data=green, name="a.jpg", uploader=journalist, organisation=journalist.organisation, enqueue=False)
    assert detection.score(first.pk).model_version == active_model

    newer = registry.register(name="always-fake", artifact=tmp_path / "always_fake.keras", input_size=TINY_INPUT_SIZE, is_trained=True)
    services.promote(newer)
    second = detection.submit(data=image_bytes(color=(20, 190, 40)), name="b.jpg", uploader=journalist, organisation=journalist.organisation, enqueue=False)
    detection_row = detection.score(second.pk)
    assert detection_row.model_version == newer
    assert detection_row.probability > 0.99
