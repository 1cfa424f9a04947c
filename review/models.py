"""The moderator queue: one ReviewItem per submission that needs a person, and every decision taken on it."""
from django.conf import settings
from django.db import models
from django.utils import timezone

from detection.models import Decision


class ReviewItem(models.Model):
    """A submission waiting for (or holding) a moderator's decision. Changed only by review.services."""

    class State(models.TextChoices):
        OPEN = "open", "Waiting for a moderator"
        ESCALATED = "escalated", "Waiting for a second opinion"
        DISPUTED = "disputed", "Disputed: waiting for an admin"
        DECIDED = "decided", "Decided"

    class Reason(models.TextChoices):
        FAKE = "fake", "Detector says fake"
        UNCERTAIN = "uncertain", "Detector is uncertain"
        REQUESTED = "requested", "Uploader asked for a review"
        NO_FACE = "no_face", "No face: outside what the detector was trained for"

    submission = models.OneToOneField("detection.Submission", on_delete=models.CASCADE, related_name="review_item")
    # The detection that put the item in the queue (or the latest one, if the image was scored again).
    detection = models.ForeignKey("detection.Detection", null=True, on_delete=models.SET_NULL, related_name="+")
    reasons = models.JSONField(default=list)
    state = models.CharField(max_length=16, choices=State.choices, default=State.OPEN, db_index=True)
    # Incremented when an admin reopens a decision; decisions of earlier rounds stay as history.
    round = models.PositiveIntegerField(default=1)

    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    claim_expires_at = models.DateTimeField(null=True, blank=True, db_index=True)

    decision = models.CharField(max_length=16, choices=Decision.choices, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        permissions = [
            ("review_items", "Can claim, decide and escalate review items"),
            ("resolve_reviews", "Can decide disputed review items and reopen decisions"),
            ("export_decisions", "Can export decisions as a training dataset"),
        ]

    def __str__(self):
        return f"review of {self.submission}"

    @property
    def is_closed(self):
        return self.state == self.State.DECIDED

    def claim_is_live(self, now=None):
        return self.claimed_by_id is not None and self.claim_expires_at and self.claim_expires_at > (now or timezone.now())

    def is_claimed_by(self, user, now=None):
        return self.claim_is_live(now) and self.claimed_by_id == user.pk

    def current_decisions(self):
        return self.decisions.filter(round=self.round).select_related("moderator")

    def get_reasons_display(self):
        labels = dict(self.Reason.choices)
        return [labels.get(r, r) for r in self.reasons]


class ReviewDecision(models.Model):
    """One person's call on an item: a first opinion, a second opinion, or an admin's ruling."""

    class Kind(models.TextChoices):
        DECISION = "decision", "Decision"
        ESCALATION = "escalation", "Asked for a second opinion"
        SECOND_OPINION = "second_opinion", "Second opinion"
        RULING = "ruling", "Admin's ruling"

    item = models.ForeignKey(ReviewItem, on_delete=models.CASCADE, related_name="decisions")
    round = models.PositiveIntegerField()
    kind = models.CharField(max_length=16, choices=Kind.choices)
    moderator = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    # Blank for an escalation without an opinion of one's own.
    decision = models.CharField(max_length=16, choices=Decision.choices, blank=True)
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self):
        return f"{self.get_kind_display()}: {self.get_decision_display() or '—'} by {self.moderator}"
