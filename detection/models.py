import uuid

from django.conf import settings
from django.db import models


class ReviewState(models.TextChoices):
    NONE = "none", "Not in review"
    OPEN = "open", "Under review"
    DECIDED = "decided", "Decided"


class Decision(models.TextChoices):
    AUTHENTIC = "authentic", "Authentic"
    MANIPULATED = "manipulated", "Manipulated"
    AI_GENERATED = "ai_generated", "AI-generated"
    INCONCLUSIVE = "inconclusive", "Inconclusive"


class Submission(models.Model):
    """One uploaded image and where it is on its way to a verdict."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        PROCESSING = "processing", "Processing"
        SCORED = "scored", "Scored"
        FAILED = "failed", "Failed"

    class Source(models.TextChoices):
        PORTAL = "portal", "Portal"
        API = "api", "API"
        CLI = "cli", "Command line"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    uploader = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="submissions"
    )
    organisation = models.ForeignKey(
        "accounts.Organisation", null=True, blank=True, on_delete=models.PROTECT, related_name="submissions"
    )
    original_name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=64)
    size_bytes = models.PositiveBigIntegerField()
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64, db_index=True)
    # Storage name (content-addressed): several submissions may share one stored file.
    file = models.CharField(max_length=255)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.PORTAL)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    failure_reason = models.TextField(blank=True)
    # Set when the broker could not be reached at upload time; a starting worker sends these again.
    enqueue_pending = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    scored_at = models.DateTimeField(null=True, blank=True)

    # Human review. Written only by review.services (detection never imports review); shown as the final verdict.
    review_requested = models.BooleanField(default=False, help_text="the uploader asked for a moderator's review")
    review_state = models.CharField(max_length=16, choices=ReviewState.choices, default=ReviewState.NONE, db_index=True)
    decision = models.CharField(max_length=16, choices=Decision.choices, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        permissions = [("view_all_submissions", "Can view submissions of every organisation")]

    @property
    def final_verdict(self):
        """(verdict, source): the moderator's decision when there is one, otherwise the detector's label."""
        if self.decision:
            return self.decision, "moderator"
        detection = self.latest_detection
        if detection is not None:
            return detection.label, "detector"
        return None, None

    def __str__(self):
        return f"{self.original_name} ({str(self.id)[:8]})"

    @property
    def is_finished(self):
        return self.status in (self.Status.SCORED, self.Status.FAILED)

    @property
    def latest_detection(self):
        return self.detections.select_related("model_version").order_by("-created_at").first()


class Detection(models.Model):
    """The detector's output for one submission with one model version."""

    class Label(models.TextChoices):
        REAL = "real", "Real"
        FAKE = "fake", "Fake"

    submission = models.ForeignKey(Submission, on_delete=models.CASCADE, related_name="detections")
    model_version = models.ForeignKey("training.ModelVersion", on_delete=models.PROTECT, related_name="detections")
    probability = models.FloatField(help_text="probability that the image is fake")
    label = models.CharField(max_length=8, choices=Label.choices)
    uncertain = models.BooleanField(default=False)
    threshold = models.FloatField()
    # Milliseconds: reading and preprocessing the image, running the model, and upload-to-verdict.
    preprocess_ms = models.FloatField()
    inference_ms = models.FloatField()
    total_ms = models.FloatField(help_text="from upload to stored verdict")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["submission", "model_version"], name="one_detection_per_model_version"),
        ]

    def __str__(self):
        return f"{self.label} {self.probability:.3f} ({self.model_version})"
