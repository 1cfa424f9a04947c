"""Moderator review: listens to detection.signals.submissions_scored (the queue itself is still to come)."""
