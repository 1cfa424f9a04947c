import json

import pytest

from training.evaluation import PERTURBATIONS, evaluate, evaluate_run
from training.trainer import TrainConfig, train


@pytest.fixture
def trained_run(tiny_dataset, tmp_path):
    config = TrainConfig(dataset=str(tiny_dataset), output=str(tmp_path / "run"), architecture="SmallCNN", input_size=32, epochs=1, batch_size=8, weights="none")
    return train(config, log=lambda _: None).output


def test_it_writes_an_html_report_json_metrics_and_every_plot(trained_run):
    report = evaluate_run(trained_run, log=lambda _: None)
    assert report.html_path.exists() and report.json_path.exists()
    for plot in ("training_curves.png", "roc.png", "precision_recall.png", "confusion_matrix.png", "score_histogram.png", "reliability.png"):
        assert (report.output / plot).stat().st_size > 1000
    html = report.html_path.read_text()
    assert "Robustness" in html and "alpha" in html and "Calibration" in html
    data = json.loads(report.json_path.read_text())
    assert set(data["test"]) == {"all", "alpha", "beta"}
    assert set(data["robustness"]) == set(PERTURBATIONS)
    assert "at_0_5" in data["test"]["all"] and "at_threshold" in data["test"]["all"]
    assert (trained_run / "summary.json").exists()


def test_threshold_and_temperature_come_from_the_validation_split(tiny_model_path, tiny_dataset, tmp_path):
    # The conftest detector scores red images as fake: the tiny dataset's fakes are red.
    report = evaluate(tiny_model_path, tiny_dataset, tmp_path / "out", robustness=False, plots=False, log=lambda _: None)
    data = report.data
    assert data["valid"]["all"]["roc_auc"] == 1.0
    assert data["test"]["all"]["at_threshold"]["accuracy"] == 1.0
    assert data["test"]["all"]["at_threshold"]["threshold"] == data["threshold"]
    assert data["temperature"] > 0


def test_robustness_reports_the_drop_from_clean(tiny_model_path, tiny_dataset, tmp_path):
    data = evaluate(tiny_model_path, tiny_dataset, tmp_path / "out", plots=False, log=lambda _: None).data
    for name in PERTURBATIONS:
        result = data["robustness"][name]["all"]
        assert result["auc_drop"] == pytest.approx(data["test"]["all"]["roc_auc"] - result["roc_auc"])
