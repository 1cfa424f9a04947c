"""How a verdict, a score, a time and a file name read on every page: one wording, one number format.

Templates reach these through `detection.templatetags.verdicts`; the live-status endpoint sends the same
strings, so a page that updates itself says exactly what a reload would.
"""
import re
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal

from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import mark_safe
from django.utils.timesince import timesince

# Band names double as CSS classes: the colour of a score follows what it means, not where it is shown.
FAKE, UNCERTAIN, REAL = "fake", "uncertain", "real"
VERDICT_WORDS = {
    (FAKE, False): "Likely fake",
    (FAKE, True): "Uncertain, leaning fake",
    (REAL, True): "Uncertain, leaning real",
    (REAL, False): "Likely real",
}
# No face found: the face-trained detector gives no verdict; the whole image's score is shown for information.
NO_FACE = "no_face"
NO_FACE_WORDS = "No face found: outside what this detector was trained for"
# Any other label reads as its display name.


def subject(submission):
    """What the pages call a submission: "clip" for a video, "image" otherwise (also without one)."""
    return "clip" if getattr(submission, "is_video", False) else "image"


def _format_percent(value, places):
    text = f"{value:.{places}f}" if places else str(int(value))
    return f"{text}%"


def _percent_of(probability):
    # Four decimals of a percent: enough for any score, and 0.3 + 0.15 is 45%, not 44.999999999999996%.
    return (Decimal(repr(float(probability))) * 100).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


def percent(probability):
    """A threshold or band edge as a percent: whole, or with the one decimal that tells it apart (30.5%)."""
    value = _percent_of(probability).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    return _format_percent(value, 0 if value == value.to_integral_value() else 1)


def band(probability, threshold, half_width):
    """fake, uncertain or real, by the rule the scorer applies (detection.services.classify)."""
    if abs(probability - threshold) < half_width:
        return UNCERTAIN
    return FAKE if probability >= threshold else REAL


def score_percent(probability, threshold, half_width, label=None, uncertain=None):
    """The score as a percent that never contradicts its verdict.

    A whole percent unless rounding would carry it across the threshold or a band edge (0.2996 under a
    0.30 threshold reads "29.96%", not "30%"); then one or two decimals, rounded towards the side it is on.
    Scores that round to 0% or 100% read "under 1%" and "over 99%": the detector is never certain.
    """
    label = label or (FAKE if probability >= threshold else REAL)
    uncertain = abs(probability - threshold) < half_width if uncertain is None else uncertain
    value = _percent_of(probability)
    edges = [_percent_of(threshold), _percent_of(threshold - half_width), _percent_of(threshold + half_width)]

    def agrees(shown):
        if label not in (FAKE, REAL):
            return True  # a label that is not a side of the threshold: nothing to contradict
        t, low, high = edges
        return (shown >= t) == (label == FAKE) and (low < shown < high) == bool(uncertain)

    candidates = [(places, ROUND_HALF_UP) for places in (0, 1, 2)]
    candidates += [(places, mode) for places in (1, 2, 3) for mode in (ROUND_FLOOR, ROUND_CEILING)]
    for places, mode in candidates:
        shown = value.quantize(Decimal(1).scaleb(-places), rounding=mode)
        if agrees(shown):
            break
    else:  # inconsistent stored data (a band edited after scoring): say the number as it is
        places, shown = 2, value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    if shown <= 0 < value and agrees(Decimal("0.5")):
        return "under 1%"
    if shown >= 100 > value and agrees(Decimal("99.5")):
        return "over 99%"
    return _format_percent(shown, places)


@dataclass(frozen=True)
class Verdict:
    """The detector's verdict in words, with its score, threshold and uncertain band as a reader sees them."""

    label: str  # fake or real
    uncertain: bool
    words: str  # "Likely fake"
    score: str  # "48%"
    threshold: str  # "30%"
    band_low: str  # "15%"
    band_high: str  # "45%"
    # What the verdict is about, read only by the sentences that name it (a list need not load every submission).
    submission_of: object = field(default=lambda: None, repr=False, compare=False)

    @property
    def subject(self):
        """What the verdict is about: "image", or "clip" for a video."""
        return subject(self.submission_of())

    @property
    def css(self):
        return f"{self.label}{' uncertain' if self.uncertain else ''}"

    @property
    def flags_at(self):
        return f"this model flags at {self.threshold} and above"

    @property
    def band_text(self):
        return f"uncertain between {self.band_low} and {self.band_high}"

    @property
    def no_face(self):
        return self.label == NO_FACE

    @property
    def short(self):
        """For lists: "Likely fake — 48%"."""
        if self.no_face:
            return "No face found — no verdict"
        return f"{self.words} — {self.score}"

    @property
    def sentence(self):
        """For quoting: "Likely fake — 48% — this model flags at 30% and above (uncertain between 15% and 45%)"."""
        if self.no_face:
            return (f"{self.words}. It judges faces, so it gives no verdict on this {self.subject} "
                    f"(the whole {self.subject} scores {self.score}, for information only).")
        return f"{self.words} — {self.score} — {self.flags_at} ({self.band_text})"

    def as_dict(self):
        return {
            "words": self.words,
            "score": self.score,
            "threshold": self.threshold,
            "flags_at": self.flags_at,
            "band": self.band_text,
            "short": self.short,
            "sentence": self.sentence,
            "css": self.css,
        }


def describe(detection):
    """The Verdict of a Detection (its stored label and uncertainty; the band of its model version)."""
    threshold = detection.threshold
    half_width = detection.model_version.uncertain_band
    return Verdict(
        label=detection.label,
        uncertain=bool(detection.uncertain),
        words=(NO_FACE_WORDS if detection.label == NO_FACE else None)
        or VERDICT_WORDS.get((detection.label, bool(detection.uncertain))) or _label_display(detection),
        score=score_percent(detection.probability, threshold, half_width, detection.label, detection.uncertain),
        threshold=percent(threshold),
        band_low=percent(max(0.0, threshold - half_width)),
        band_high=percent(min(1.0, threshold + half_width)),
        submission_of=lambda: getattr(detection, "submission", None),
    )


def _label_display(detection):
    display = getattr(detection, "get_label_display", None)
    return display() if display else str(detection.label).replace("_", " ").capitalize()


def other_score(probability, detection):
    """(percent, band) of another score judged by the same model, e.g. one face cropped from the image."""
    if probability is None:
        return None, None
    threshold, half_width = detection.threshold, detection.model_version.uncertain_band
    return score_percent(probability, threshold, half_width), band(probability, threshold, half_width)


# ---------------------------------------------------------------- times


def duration(ms):
    """"37 ms", "5,088 ms", "12.3 s", "2 min 5 s": milliseconds below ten seconds, so that parts add up exactly."""
    ms = max(0, round(ms))
    if ms < 10_000:
        return f"{ms:,} ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


@dataclass(frozen=True)
class Timing:
    """Where the time from upload to verdict went; the three parts add up to the total (in whole ms)."""

    total_ms: int
    waiting_ms: int  # in the queue, for a worker to start or load the model, for the rest of its batch
    reading_ms: int  # reading the stored file and decoding it to pixels
    model_ms: int  # this image's share of the model's run over its batch
    subject: str = "image"  # or "clip"

    @property
    def parts(self):
        return [
            ("Waiting in the queue", duration(self.waiting_ms)),
            (f"Reading and decoding the {self.subject}", duration(self.reading_ms)),
            ("Running the model", duration(self.model_ms)),
        ]

    @property
    def total(self):
        return duration(self.total_ms)


def timing(detection):
    reading, model = round(detection.preprocess_ms), round(detection.inference_ms)
    total = max(round(detection.total_ms), reading + model)
    return Timing(
        total_ms=total, waiting_ms=total - reading - model, reading_ms=reading, model_ms=model,
        subject=subject(getattr(detection, "submission", None)),
    )


def ago(moment, now=None):
    """"just now" for the first minute, then "5 minutes ago", "2 hours, 3 minutes ago"."""
    now = now or timezone.now()
    if (now - moment).total_seconds() < 60:
        return "just now"
    return f"{timesince(moment, now)} ago"


# ---------------------------------------------------------------- file names

_BREAK_AFTER = re.compile(r"([_\-\s.,;+()\[\]]+)")
LONG_RUN = 16


def breakable_filename(name):
    """HTML of a file name that may wrap after _ - . and spaces (never inside a word or its extension).

    Runs longer than LONG_RUN characters with no such place get a break every LONG_RUN characters, so that
    no name can push a narrow page wider than the screen.
    """
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem or len(extension) > 5 or not extension.isalnum():
        stem, extension = name, ""
    pieces = []
    for piece in _BREAK_AFTER.split(stem):
        if not piece:
            continue
        if _BREAK_AFTER.fullmatch(piece):
            if piece.startswith(".") and pieces:
                pieces.append("<wbr>" + escape(piece))  # "report.final" may break before a dot, like an extension
            else:
                pieces.append(escape(piece) + "<wbr>")
            continue
        chunks = [piece[i : i + LONG_RUN] for i in range(0, len(piece), LONG_RUN)]
        pieces.append("<wbr>".join(escape(c) for c in chunks))
    html = "".join(pieces)
    if extension:
        html += f'<wbr><span class="ext">.{escape(extension)}</span>'
    return mark_safe(html)


# ---------------------------------------------------------------- review reasons


def reasons_phrase(reasons):
    """One sentence for why an image is in the review queue: "The detector leans fake but is unsure"."""
    reasons = set(reasons)
    detector = ""
    if "fake" in reasons and "uncertain" in reasons:
        detector = "the detector leans fake but is unsure"
    elif "fake" in reasons:
        detector = "the detector says fake"
    elif "uncertain" in reasons:
        detector = "the detector is unsure"
    if "no_face" in reasons:
        detector = "no face was found, so the detector gives no verdict"
    parts = [p for p in (detector, "the uploader asked for a review" if "requested" in reasons else "") if p]
    phrase = " and ".join(parts)
    return phrase[:1].upper() + phrase[1:] if phrase else "—"


BAND_WORDS = {FAKE: "likely fake", UNCERTAIN: "uncertain", REAL: "likely real"}


def band_words(name):
    """"likely fake", "uncertain" or "likely real" for a band name."""
    return BAND_WORDS.get(name, "")


# ---------------------------------------------------------------- what was scored


def scored_on(detection):
    """A sentence on what the detector looked at: the faces, the whole image, or nothing it can judge."""
    faces = len(detection.faces or [])
    if detection.scored_on == "faces":
        counted = "1 face" if faces == 1 else f"{faces} faces"
        return f"{counted}, each cut out the way the training images were; the most suspicious face decides."
    if detection.scored_on == "tracks":
        tracks = len(detection.tracks or [])
        counted = "1 face" if tracks == 1 else f"{tracks} faces"
        return (f"{counted} followed across the clip's sampled frames, each cut out the way the training images were; "
                "the most suspicious face track decides.")
    if detection.scored_on == "frames":
        return "Each sampled frame of the clip, whole; the mean of the top quarter of frame scores decides."
    if detection.scored_on == "no_face":
        return (f"No face was found. This detector was trained on faces, so its score of the whole "
                f"{subject(getattr(detection, 'submission', None))} is not a verdict.")
    if faces:
        return "The whole image: it is already a close-up of a face, like the training images."
    return "The whole image, resized to the model's input."
