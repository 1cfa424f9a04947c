"""Signals other apps listen to; detection never imports its listeners (review routes on these)."""
from django.dispatch import Signal

# Sent after a new Detection is stored: kwargs submission, detection.
submission_scored = Signal()

# Sent by review.services when a moderator's decision sets or changes the final verdict: kwargs submission.
verdict_changed = Signal()
