"""Review listens to detection; detection never imports review."""
from detection.signals import submission_scored

from . import services


def route_scored_submission(sender, submission, detection, **kwargs):
    services.route_scored(submission, detection)


def connect():
    submission_scored.connect(route_scored_submission, dispatch_uid="review.route_scored_submission")
