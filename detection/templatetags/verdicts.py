"""Template filters for verdicts, scores, times and file names; the wording lives in detection.presentation."""
from django import template

from .. import presentation

register = template.Library()


@register.filter
def verdict(detection):
    """{% with v=detection|verdict %}{{ v.words }} — {{ v.score }}{% endwith %}; None without a detection."""
    return presentation.describe(detection) if detection else None


@register.filter
def score_of(probability, detection):
    """Another score judged by the detection's model (a face crop), in the same percent format."""
    return presentation.other_score(probability, detection)[0] if detection else None


@register.filter
def band_of(probability, detection):
    """fake, uncertain or real for another score judged by the detection's model: the class that colours it."""
    return presentation.other_score(probability, detection)[1] if detection else None


@register.filter
def timing(detection):
    return presentation.timing(detection)


@register.filter
def duration(ms):
    return presentation.duration(ms)


@register.filter
def ago(moment, now=None):
    return presentation.ago(moment, now) if moment else ""


@register.filter
def filename(name):
    return presentation.breakable_filename(name or "")


@register.filter
def reasons_phrase(reasons):
    return presentation.reasons_phrase(reasons or [])


@register.filter
def band_words(name):
    return presentation.band_words(name)


@register.filter
def scored_on(detection):
    return presentation.scored_on(detection) if detection else ""
