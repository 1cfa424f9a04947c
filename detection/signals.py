"""Signals other apps listen to; detection never imports its listeners (review routes on these)."""
from django.dispatch import Signal

# Sent after a new Detection is stored: kwargs submission, detection.
submission_scored = Signal()
