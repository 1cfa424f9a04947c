"""The learning loop: decisions export as a training dataset; agreement with the detector per model version."""
import csv
from io import StringIO

from django.core.management import call_command
from django.urls import reverse

from audit.models import AuditEvent
from review import services
from training.datasets import load_dataset

from .conftest import DARK_RED, GREEN, RED, scored


def decide(submission, moderator, decision, note="checked"):
    item = services.claim(submission.review_item.pk, moderator)
    services.decide(item.pk, moderator, decision, note)


def test_decisions_export_as_a_dataset_that_training_reads(journalist, moderator, active_model, tmp_path):
    colours = iter([(200, 30, 30), (210, 30, 30), (220, 30, 30), (230, 30, 30), (240, 30, 30), (250, 30, 30), (190, 30, 30)])
    for decision in ["authentic", "authentic", "authentic", "manipulated", "ai_generated", "manipulated", "inconclusive"]:
        decide(scored(journalist, next(colours)), moderator, decision)

    out = StringIO()
    call_command("export_review_dataset", str(tmp_path / "ds"), stdout=out)
    assert "wrote 3 real and 3 fake images" in out.getvalue()
    assert len(list((tmp_path / "ds" / "real").iterdir())) == 3
    assert len(list((tmp_path / "ds" / "fake").iterdir())) == 3
    with open(tmp_path / "ds" / "MANIFEST.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert sorted(r["source"] for r in rows) == ["ai_generated", "authentic", "authentic", "authentic", "manipulated", "manipulated"]
    assert all(r["decided_by"] == "mod@verity.test" and r["model_version"] == "tiny-test" for r in rows)

    dataset = load_dataset(tmp_path / "ds")
    assert dataset.layout == "flat"
    assert sum(len(s) for s in dataset.splits.values()) == 6
    assert AuditEvent.objects.filter(action="review.dataset_exported").exists()


def test_bytes_labelled_both_ways_are_left_out(journalist, moderator, active_model, tmp_path):
    decide(scored(journalist, RED, "a.jpg"), moderator, "authentic")
    decide(scored(journalist, RED, "b.jpg"), moderator, "manipulated")  # the same bytes
    counts = services.export_dataset(tmp_path / "ds")
    assert counts == {"real": 0, "fake": 0, "conflicting": 1}


def test_agreement_with_the_detector_per_model_version(client, journalist, moderator, active_model):
    decide(scored(journalist, RED, "1.jpg"), moderator, "manipulated")  # detector fake: agrees
    decide(scored(journalist, (201, 30, 30), "2.jpg"), moderator, "authentic")  # detector fake: disagrees
    decide(scored(journalist, DARK_RED, "3.jpg"), moderator, "ai_generated")  # detector fake: agrees
    decide(scored(journalist, GREEN, "4.jpg", requested=True), moderator, "inconclusive")  # left out
    [row] = services.agreement_by_model_version()
    assert (row["model_version"], row["decided"], row["agreed"], row["disagreed"], row["inconclusive"]) == (
        "tiny-test", 4, 2, 1, 1
    )
    assert abs(row["agreement"] - 2 / 3) < 1e-9
    client.force_login(moderator)
    html = client.get(reverse("review:agreement")).content.decode()
    assert "tiny-test" in html and "67%" in html
