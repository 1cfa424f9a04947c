"""Worker processes get ready as they start: the model for the inference queue, the face cascades for prepare."""
import threading
from unittest import mock

import pytest

from detection import services, warmup
from detection.forensics import faces
from detection.inference import crops, runtime
from tests.conftest import make_image_bytes


@pytest.fixture(autouse=True)
def _fresh(settings, tmp_path):
    settings.VERITY_MODELS_DIR = tmp_path / "models"
    runtime._loaded.clear()
    faces._cascades.__dict__.clear()
    yield
    runtime._loaded.clear()


def in_a_thread(target):
    """Run `target` as the warm-up does: in a thread of its own, with its own database connection."""
    result = {}
    thread = threading.Thread(target=lambda: result.update(value=target()))
    thread.start()
    thread.join(timeout=120)
    return result.get("value")


def warm_up_with(queues):
    started = []
    with mock.patch.object(warmup, "consumed_queues", return_value=set(queues)), mock.patch.object(
        warmup.threading, "Thread", side_effect=lambda **kw: started.append(kw["target"]) or mock.Mock()
    ):
        warmup.warm_up()
    return started


def test_an_inference_process_loads_the_active_model_so_its_first_batch_does_not(transactional_db, active_model):
    detector = in_a_thread(warmup.load_active_model)
    assert detector is not None and runtime.loaded_versions() == [active_model.pk]
    submission = services.submit(data=make_image_bytes(), name="a.jpg", enqueue=False)
    with mock.patch.object(runtime, "_load", wraps=runtime._load) as load:
        detection = services.score(submission.pk)
    assert detection is not None and detection.model_version == active_model
    load.assert_not_called()  # the first batch found the model loaded


def test_without_an_active_model_the_warm_up_logs_and_leaves_it_to_the_first_batch(transactional_db, caplog):
    assert in_a_thread(warmup.load_active_model) is None
    assert runtime.loaded_versions() == []
    assert "could not load the model at start" in caplog.text


def test_each_queue_warms_what_it_needs():
    assert warm_up_with({"prepare"}) == []
    assert sorted(faces._cascades.by_name) == sorted([faces.CASCADE, *crops.FALLBACK_CASCADES])
    faces._cascades.__dict__.clear()

    assert warm_up_with({"inference"}) == [warmup.load_active_model]  # in a thread: the pool's start is not held up
    assert not hasattr(faces._cascades, "by_name")

    assert warm_up_with({"default", "sweep"}) == [] and not hasattr(faces._cascades, "by_name")


def test_it_can_be_switched_off(settings):
    settings.VERITY_WARM_UP_WORKERS = False
    assert warm_up_with({"inference", "prepare"}) == [] and not hasattr(faces._cascades, "by_name")
