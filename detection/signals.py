"""Signals other apps listen to; detection never imports its listeners (review routes on these)."""
from django.dispatch import Signal

# Sent once per stored batch of new Detections, inside its transaction: kwarg scored, a list of
# (submission, detection) pairs, and runtime (what scored them: "onnx", "onnx-int8", "keras"). One call per
# batch lets listeners do their work in bulk.
submissions_scored = Signal()

# Sent by review.services when a moderator's decision sets or changes the final verdict: kwargs submission.
verdict_changed = Signal()
