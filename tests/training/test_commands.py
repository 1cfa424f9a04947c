import json

import pytest
from django.core.management import CommandError, call_command

from training import registry
from training.models import ModelVersion
from training.trainer import TrainConfig, train


@pytest.fixture
def evaluated_run(tiny_dataset, tmp_path):
    from training.evaluation import evaluate_run

    config = TrainConfig(dataset=str(tiny_dataset), output=str(tmp_path / "runs" / "small"), architecture="SmallCNN", input_size=32, epochs=1, batch_size=8, weights="none")
    run = train(config, log=lambda _: None).output
    evaluate_run(run, robustness=False, log=lambda _: None)
    return run


def test_evaluate_writes_a_report_for_a_keras_file(tiny_model_path, tiny_dataset, tmp_path, capsys):
    call_command("evaluate", str(tiny_model_path), "--dataset", str(tiny_dataset), "--output", str(tmp_path / "rep"), "--no-robustness")
    assert (tmp_path / "rep" / "report.html").exists()
    assert json.loads((tmp_path / "rep" / "metrics.json").read_text())["test"]["all"]["roc_auc"] == 1.0


def test_compare_prints_one_row_per_run_with_per_source_columns(evaluated_run, capsys):
    call_command("compare", str(evaluated_run))
    out = capsys.readouterr().out
    assert "architecture" in out and "infer img/s" in out and "AUC alpha" in out
    assert "SmallCNN" in out


def test_promote_registers_a_run_folder_and_makes_it_active(evaluated_run, active_model, capsys):
    call_command("promote", str(evaluated_run), "--name", "small-1")
    version = ModelVersion.objects.get(name="small-1")
    assert version.status == ModelVersion.Status.ACTIVE and version.is_trained
    assert version.metrics["test"]["all"]["roc_auc"] is not None
    assert version.input_size == 32 and version.dataset_fingerprint


def test_promote_refuses_an_unknown_version(db):
    with pytest.raises(CommandError, match="no model version named"):
        call_command("promote", "nobody")


def test_compare_versions_lists_registered_models(active_model, tiny_model_path, capsys):
    registry.register(name="other", artifact=tiny_model_path, is_trained=True, metrics={"test": {"all": {"roc_auc": 0.7}}})
    call_command("compare", "--versions")
    out = capsys.readouterr().out
    assert "other" in out and "0.7000" in out
