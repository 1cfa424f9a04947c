"""How verdicts, scores, times and file names read: one wording and one number format for every page."""
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.utils import timezone

from detection import presentation
from detection.presentation import breakable_filename, describe, duration, score_percent, timing


def detection(probability, threshold=0.30, band=0.15, label=None, uncertain=None):
    """A stand-in Detection labelled by the scorer's own rule (detection.services.classify)."""
    if label is None:
        label = "fake" if probability >= threshold else "real"
    if uncertain is None:
        uncertain = abs(probability - threshold) < band
    return SimpleNamespace(
        probability=probability, threshold=threshold, label=label, uncertain=uncertain,
        model_version=SimpleNamespace(uncertain_band=band),
    )  # fmt: skip


def test_the_issue_example_reads_as_a_sentence_a_journalist_can_repeat():
    verdict = describe(detection(0.4831))
    assert verdict.words == "Likely fake"
    assert verdict.score == "48%"
    assert verdict.sentence == "Likely fake — 48% — this model flags at 30% and above (uncertain between 15% and 45%)"


@pytest.mark.parametrize(
    "probability, words",
    [(0.90, "Likely fake"), (0.40, "Uncertain, leaning fake"), (0.20, "Uncertain, leaning real"), (0.05, "Likely real")],
)
def test_the_words_say_the_side_and_how_sure(probability, words):
    assert describe(detection(probability)).words == words


@pytest.mark.parametrize(
    "probability, shown",
    [
        (0.2996, "29.96%"),  # real: must not read "30%" under "flags at 30% and above"
        (0.29996, "29.9%"),
        (0.30, "30%"),  # exactly at the threshold is fake
        (0.3004, "30%"),
        (0.4496, "44.96%"),  # inside the band: must not read as its edge "45%"
        (0.45, "45%"),  # the band's edge itself is outside it
        (0.4504, "45%"),
        (0.1504, "15.04%"),  # just inside the lower edge
        (0.1499, "15%"),  # just outside it
        (0.0003, "under 1%"),
        (0.9996, "over 99%"),
        (0.995, "over 99%"),
        (0.005, "1%"),
    ],
)
def test_a_score_never_contradicts_its_verdict_around_the_threshold_and_band_edges(probability, shown):
    d = detection(probability)
    assert describe(d).score == shown
    if "%" in shown and shown[0].isdigit():
        value = float(shown.rstrip("%")) / 100
        assert (value >= d.threshold) == (d.label == "fake")
        assert (d.threshold - 0.15 < value < d.threshold + 0.15) == d.uncertain


def test_thresholds_between_whole_percents_keep_their_decimal():
    verdict = describe(detection(0.31, threshold=0.305, band=0.1))
    assert verdict.threshold == "30.5%" and verdict.band_text == "uncertain between 20.5% and 40.5%"
    assert score_percent(0.3049, 0.305, 0.1) == "30%"  # real, and 30% reads below 30.5%


def test_the_band_is_clipped_to_zero_and_a_hundred_percent():
    verdict = describe(detection(0.95, threshold=0.9, band=0.2))
    assert (verdict.band_low, verdict.band_high) == ("70%", "100%")


def test_the_time_to_verdict_adds_up_from_its_parts():
    t = timing(SimpleNamespace(total_ms=5088.4, preprocess_ms=1.2, inference_ms=37.4))
    assert t.waiting_ms + t.reading_ms + t.model_ms == t.total_ms == 5088
    assert t.parts == [
        ("Waiting in the queue", "5,050 ms"),
        ("Reading and decoding the image", "1 ms"),
        ("Running the model", "37 ms"),
    ]


def test_a_total_smaller_than_its_parts_does_not_show_negative_waiting():
    t = timing(SimpleNamespace(total_ms=10, preprocess_ms=8, inference_ms=7))
    assert t.waiting_ms == 0 and t.total_ms == 15


@pytest.mark.parametrize("ms, text", [(0, "0 ms"), (37.4, "37 ms"), (5088, "5,088 ms"), (12_345, "12.3 s"), (125_000, "2 min 5 s")])
def test_durations_read_in_the_unit_that_fits(ms, text):
    assert duration(ms) == text


def test_the_first_minute_is_just_now():
    now = timezone.now()
    assert presentation.ago(now - timedelta(seconds=20), now) == "just now"
    assert presentation.ago(now - timedelta(minutes=5), now) == "5\xa0minutes ago"  # as Django writes it


def test_file_names_break_after_separators_and_never_inside_the_extension():
    html = breakable_filename("protest_crowd-2024.final.jpeg")
    assert html == 'protest_<wbr>crowd-<wbr>2024<wbr>.final<wbr><span class="ext">.jpeg</span>'


def test_a_long_name_without_separators_still_gets_places_to_break():
    html = breakable_filename("A" * 40 + ".jpg")
    assert html.count("<wbr>") == 3  # two inside the 40 letters, one before the extension


def test_file_names_are_escaped():
    assert "<script>" not in breakable_filename("<script>.png")


@pytest.mark.parametrize(
    "reasons, phrase",
    [
        (["fake"], "The detector says fake"),
        (["fake", "uncertain"], "The detector leans fake but is unsure"),
        (["uncertain", "requested"], "The detector is unsure and the uploader asked for a review"),
        (["requested"], "The uploader asked for a review"),
    ],
)
def test_review_reasons_read_as_one_phrase(reasons, phrase):
    assert presentation.reasons_phrase(reasons) == phrase


def test_a_label_without_its_own_words_reads_as_its_name():
    verdict = describe(detection(0.2, label="not_judged", uncertain=False))
    assert verdict.words == "Not judged" and verdict.score == "20%"


def test_no_face_reads_as_no_verdict_with_the_score_for_information():
    verdict = describe(detection(0.2, label="no_face", uncertain=False))
    assert verdict.words == "No face found: outside what this detector was trained for"
    assert verdict.short == "No face found — no verdict"
    assert "gives no verdict" in verdict.sentence and "20%" in verdict.sentence and "flags" not in verdict.sentence
    assert presentation.reasons_phrase(["no_face"]) == "No face was found, so the detector gives no verdict"
