"""Signals review sends. `verdict_changed` is defined in detection.signals so that detection's own
listeners (partner webhooks) can connect to it without importing review; it is the same object here.

verdict_changed(sender=ReviewItem, submission, previous, current, actor) is sent after commit whenever a
person sets the final verdict (a decision) or takes it back (an admin reopens a decision). `previous` and
`current` are Submission.final_verdict pairs: (verdict, "moderator" | "detector").
"""
from detection.signals import verdict_changed

__all__ = ["verdict_changed"]
