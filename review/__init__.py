"""Moderator review: listens to detection.signals.submission_scored (the queue itself is still to come)."""
