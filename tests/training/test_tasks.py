import pytest

from audit.models import AuditEvent
from training import services
from training.models import ModelVersion, TrainingRun
from training.pipeline import Augmentation
from training.tasks import run_training


def config_for(dataset, tmp_path, **overrides):
    return {
        "dataset": str(dataset), "output": str(tmp_path / "run"), "architecture": "SmallCNN", "input_size": 32,
        "epochs": 2, "batch_size": 8, "weights": "none", "augmentation": Augmentation.none().to_dict(), **overrides,
    }


def test_a_run_started_from_the_platform_trains_reports_progress_and_registers_a_candidate(
    tiny_dataset, tmp_path, admin_user, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        run = services.start_training(config_for(tiny_dataset, tmp_path), actor=admin_user)
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.SUCCEEDED, run.message
    assert (run.epoch, run.total_epochs) == (2, 2) and len(run.epochs) == 2
    assert run.model_version.status == ModelVersion.Status.CANDIDATE
    assert run.model_version.metrics["test"]["all"]["roc_auc"] is not None
    assert run.model_version.report.endswith("report.html")
    assert AuditEvent.objects.filter(action="training.started").exists()


def test_a_cancelled_run_stops_and_says_so(tiny_dataset, tmp_path, admin_user, monkeypatch):
    run = TrainingRun.objects.create(name="r1", config=config_for(tiny_dataset, tmp_path, epochs=5), total_epochs=5)
    # Ask for cancellation as soon as training starts, from "another process".
    from training import trainer

    real_train = trainer.train

    def train_then_cancel(config, progress=None, should_stop=None, log=print):
        TrainingRun.objects.filter(pk=run.pk).update(cancel_requested=True)
        return real_train(config, progress=progress, should_stop=should_stop, log=log)

    monkeypatch.setattr(trainer, "train", train_then_cancel)
    run_training(run.pk)
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.CANCELLED
    assert run.epoch < 5


def test_a_queued_run_that_is_cancelled_never_starts(tiny_dataset, tmp_path, db):
    run = TrainingRun.objects.create(name="r2", config=config_for(tiny_dataset, tmp_path))
    assert services.cancel_training(run)
    run_training(run.pk)
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.CANCELLED and run.epoch == 0


def test_running_the_task_twice_trains_once(tiny_dataset, tmp_path, monkeypatch, db):
    run = TrainingRun.objects.create(name="r3", config=config_for(tiny_dataset, tmp_path), status=TrainingRun.Status.SUCCEEDED)
    called = []
    from training import trainer

    monkeypatch.setattr(trainer, "train", lambda *a, **k: called.append(1))
    assert run_training(run.pk) is None
    assert called == []


def test_a_run_on_a_bad_dataset_fails_with_the_reason(tmp_path, db):
    (tmp_path / "bad" / "real").mkdir(parents=True)
    run = TrainingRun.objects.create(name="r4", config=config_for(tmp_path / "bad", tmp_path))
    run_training(run.pk)
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.FAILED
    assert "no 'fake' class folder" in run.message


def test_an_unknown_setting_is_refused_before_anything_is_queued(tiny_dataset, tmp_path, db):
    with pytest.raises(TypeError):
        services.start_training({**config_for(tiny_dataset, tmp_path), "optimiser": "sgd"})
    assert not TrainingRun.objects.exists()
