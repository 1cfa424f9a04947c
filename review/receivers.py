"""Review listens to detection; detection never imports review."""
from detection.signals import submissions_scored

from . import services


def route_scored_submissions(sender, scored, **kwargs):
    services.route_scored(scored)


def connect():
    submissions_scored.connect(route_scored_submissions, dispatch_uid="review.route_scored_submissions")
