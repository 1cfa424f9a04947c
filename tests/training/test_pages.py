import pytest
from django.urls import reverse

from audit.models import AuditEvent
from training import registry
from training.models import ModelVersion, TrainingRun


@pytest.fixture
def reported_version(db, tiny_model_path, tmp_path):
    report = tmp_path / "report"
    report.mkdir()
    (report / "report.html").write_text("<h1>the report</h1>")
    (report / "roc.png").write_bytes(b"\x89PNG fake")
    metrics = {
        "params": 1234, "valid": {"all": {"roc_auc": 0.91}},
        "test": {"all": {"roc_auc": 0.9, "accuracy": 0.8, "f1": 0.7, "mcc": 0.6, "eer": 0.1}, "alpha": {"roc_auc": 0.95}},
        "robustness": {"jpeg_75": {"all": {"roc_auc": 0.88, "auc_drop": 0.02, "accuracy": 0.79}}},
    }
    return registry.register(
        name="reported", artifact=tiny_model_path, input_size=32, is_trained=True, metrics=metrics, report=str(report / "report.html")
    )


def test_the_training_pages_are_for_staff_only(client, journalist, moderator):
    for user in (journalist, moderator):
        client.force_login(user)
        assert client.get(reverse("training:index")).status_code == 403
    client.logout()
    assert client.get(reverse("training:index")).status_code == 302


def test_staff_see_versions_and_compare_them_per_source(client, admin_user, active_model, reported_version):
    client.force_login(admin_user)
    page = client.get(reverse("training:index")).content.decode()
    assert "reported" in page and "tiny-test" in page
    table = client.get(reverse("training:compare")).content.decode()
    assert "AUC alpha" in table and "0.9500" in table and "0.0200" in table


def test_staff_read_a_report_and_its_plots_but_nothing_outside_it(client, admin_user, reported_version):
    client.force_login(admin_user)
    detail = client.get(reverse("training:version-detail", args=[reported_version.pk])).content.decode()
    assert "jpeg_75" in detail and "roc.png" in detail
    report = client.get(reverse("training:version-report-file", args=[reported_version.pk, "report.html"]))
    assert b"the report" in b"".join(report.streaming_content)
    escape = client.get(reverse("training:version-report-file", args=[reported_version.pk, "..%2Fsecret"]))
    assert escape.status_code == 404


def test_staff_promote_a_version_from_its_page(client, admin_user, active_model, reported_version):
    client.force_login(admin_user)
    response = client.post(reverse("training:version-promote", args=[reported_version.pk]))
    assert response.status_code == 302
    reported_version.refresh_from_db()
    assert reported_version.status == ModelVersion.Status.ACTIVE
    assert AuditEvent.objects.filter(action="model.promoted", actor=admin_user).exists()


def test_staff_start_a_run_and_follow_its_progress(client, admin_user, tmp_path, monkeypatch):
    from training import tasks

    queued = []
    monkeypatch.setattr(tasks.run_training, "delay", lambda pk: queued.append(pk))
    client.force_login(admin_user)
    (tmp_path / "data").mkdir()
    response = client.post(reverse("training:run-new"), {
        "dataset": str(tmp_path / "data"), "architecture": "SmallCNN", "input_size": 32, "epochs": 3, "batch_size": 8,
        "weights": "none", "learning_rate": 0.001, "fine_tune_learning_rate": 0.0001, "frozen_epochs": 0, "augment": "flips",
    })
    run = TrainingRun.objects.get()
    assert response.status_code == 302 and run.total_epochs == 3 and run.created_by == admin_user
    TrainingRun.objects.filter(pk=run.pk).update(status=TrainingRun.Status.RUNNING, epoch=1)
    page = client.get(reverse("training:run-detail", args=[run.pk])).content.decode()
    assert "epoch 1 of 3" in page and "Cancel run" in page
    progress = client.get(reverse("training:run-progress", args=[run.pk])).json()
    assert progress["epoch"] == 1 and progress["percent"] == 33


def test_the_run_form_takes_crops_mixup_and_label_smoothing_and_refuses_what_the_trainer_would(client, admin_user, tmp_path, monkeypatch):
    from training import tasks

    monkeypatch.setattr(tasks.run_training, "delay", lambda pk: None)
    client.force_login(admin_user)
    (tmp_path / "data").mkdir()
    fields = {
        "dataset": str(tmp_path / "data"), "architecture": "NPR", "input_size": 256, "crop": 128, "epochs": 8, "batch_size": 32,
        "weights": "none", "learning_rate": 0.001, "fine_tune_learning_rate": 0.0001, "frozen_epochs": 0, "augment": "flips",
        "mixup": 0.2, "label_smoothing": 0.1,
    }  # fmt: skip
    refused = client.post(reverse("training:run-new"), {**fields, "crop": 256}).content.decode()
    assert "crop must be at least 32 and smaller than the input size (256)" in refused and not TrainingRun.objects.exists()
    assert '<div role="alert"><ul class="errorlist nonfield"><li>crop must be' in refused  # read as an error, first
    both = client.post(reverse("training:run-new"), {**fields, "cutmix": 1.0}).content.decode()
    assert "mixup and cutmix are alternatives" in both and not TrainingRun.objects.exists()
    assert client.post(reverse("training:run-new"), fields).status_code == 302
    config = TrainingRun.objects.get().config
    assert (config["crop"], config["mixup"], config["label_smoothing"]) == (128, 0.2, 0.1)
    assert config["augmentation"]["flip"] and not config["augmentation"]["jpeg_probability"]  # flips only


def test_staff_cancel_a_running_run(client, admin_user):
    run = TrainingRun.objects.create(name="running", config={}, status=TrainingRun.Status.RUNNING, total_epochs=4)
    client.force_login(admin_user)
    client.post(reverse("training:run-cancel", args=[run.pk]))
    run.refresh_from_db()
    assert run.cancel_requested


def test_the_run_form_refuses_a_dataset_folder_that_does_not_exist(client, admin_user, tmp_path):
    client.force_login(admin_user)
    response = client.post(reverse("training:run-new"), {"dataset": str(tmp_path / "nope"), "architecture": "SmallCNN", "epochs": 1, "batch_size": 8, "weights": "none", "learning_rate": 0.001, "fine_tune_learning_rate": 0.0001, "frozen_epochs": 0})
    assert response.status_code == 200 and "is not a folder" in response.content.decode()
    assert not TrainingRun.objects.exists()


def test_the_admin_shows_a_versions_metrics_and_report(client, admin_user, reported_version):
    client.force_login(admin_user)
    page = client.get(reverse("admin:training_modelversion_change", args=[reported_version.pk])).content.decode()
    assert "evaluation report" in page and "0.9500" in page
