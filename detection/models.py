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
    """One uploaded image or video clip and where it is on its way to a verdict."""

    class Kind(models.TextChoices):
        IMAGE = "image", "Image"
        VIDEO = "video", "Video"

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
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.IMAGE)
    # Videos only (detection/video/): the clip as probed at upload, and scoring progress ("frame N of M").
    duration_seconds = models.FloatField(null=True, blank=True)
    frame_rate = models.FloatField(null=True, blank=True, help_text="average frames per second")
    frame_count = models.PositiveIntegerField(null=True, blank=True, help_text="frames in the file")
    frames_to_score = models.PositiveIntegerField(null=True, blank=True, help_text="frames sampled for scoring")
    frames_scored = models.PositiveIntegerField(default=0)
    # Codec, rotation, variable frame rate, the poster frame's storage name and the container's metadata
    # (filtered by detection.video.metadata: never a location).
    video_info = models.JSONField(default=dict, blank=True)
    # Storage name (content-addressed): several submissions may share one stored file.
    file = models.CharField(max_length=255)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.PORTAL)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    failure_reason = models.TextField(blank=True)
    # Set when the broker could not be reached at upload time; a starting worker sends these again.
    enqueue_pending = models.BooleanField(default=False)
    # Recovery bookkeeping (detection/sweeper.py): when the sweeper last sent it again, and how many scoring
    # batches have taken it up (a submission that keeps killing its worker fails after VERITY_MAX_SCORING_ATTEMPTS).
    requeued_at = models.DateTimeField(null=True, blank=True)
    scoring_attempts = models.PositiveSmallIntegerField(default=0)
    # The faces found before scoring, on the prepare queue (services.prepare): (x, y, w, h) as fractions of the
    # image, largest first; [] when there are none; null when nobody looked yet (the inference worker looks).
    face_boxes = models.JSONField(null=True, blank=True, editable=False)
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

    # Partner API: where the signed webhook goes when the result is ready or the verdict changes.
    callback_url = models.URLField(max_length=2000, blank=True)
    # Partner API: the key that sent it (the uploader is the organisation's service account, shared by all keys).
    api_key = models.ForeignKey(
        "accounts.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="submissions"
    )

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
    def uploader_label(self):
        """Who uploaded it, as a person reads it: the API key's name for API uploads, else the uploader's email."""
        if self.api_key_id is not None:
            return f"API key “{self.api_key.name}”"
        if self.source == self.Source.API:
            return "API key (not recorded)"  # sent before keys were recorded on submissions
        return self.uploader.email if self.uploader_id is not None else ""

    @property
    def is_finished(self):
        return self.status in (self.Status.SCORED, self.Status.FAILED)

    @property
    def is_settled(self):
        """Nothing more will change by itself: scored or failed, and not waiting for a moderator."""
        return self.is_finished and self.review_state != ReviewState.OPEN

    @property
    def latest_detection(self):
        return self.detections.select_related("model_version").order_by("-created_at").first()

    @property
    def is_video(self):
        return self.kind == self.Kind.VIDEO


class Detection(models.Model):
    """The detector's output for one submission with one model version."""

    class Label(models.TextChoices):
        REAL = "real", "Real"
        FAKE = "fake", "Fake"
        # No face found: outside what the face-trained detector can judge (the probability is for information).
        NO_FACE = "no_face", "No face (outside what the detector was trained for)"

    class ScoredOn(models.TextChoices):
        FACES = "faces", "Face crops (the most suspicious face decides)"
        IMAGE = "image", "The whole image (a face crop)"
        NO_FACE = "no_face", "The whole image (no face found)"
        TRACKS = "tracks", "Face tracks across the clip's frames (the most suspicious track decides)"
        FRAMES = "frames", "The clip's whole frames (faces not looked for)"

    submission = models.ForeignKey(Submission, on_delete=models.CASCADE, related_name="detections")
    model_version = models.ForeignKey("training.ModelVersion", on_delete=models.PROTECT, related_name="detections")
    probability = models.FloatField(help_text="probability that the image is fake")
    label = models.CharField(max_length=8, choices=Label.choices)
    uncertain = models.BooleanField(default=False)
    threshold = models.FloatField()
    scored_on = models.CharField(max_length=8, choices=ScoredOn.choices, default=ScoredOn.IMAGE)
    # Each scored face: {"box": [x, y, w, h] as fractions of the image, "probability": p}, most suspicious first.
    faces = models.JSONField(default=list, blank=True)
    # An ensemble's members on the deciding crop: [{"version": name, "probability": p}], in member order.
    member_scores = models.JSONField(default=list, blank=True)
    # Videos (detection/video/): every sampled frame {"index", "t", "probability", "faces": [{"box", "probability",
    # "track"}], "image"}, the face tracks {"id", "probability", "frames", "start", "end", "best"} most suspicious
    # first, and fixed-length segments {"start", "end", "probability", "mean"} of the timeline.
    timeline = models.JSONField(default=list, blank=True)
    tracks = models.JSONField(default=list, blank=True)
    segments = models.JSONField(default=list, blank=True)
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


class VideoFrame(models.Model):
    """One sampled frame of a video scored with one model version: what a resumed scoring does not redo.

    Written as each chunk of frames is scored; the Detection, stored once all are, copies them into its
    timeline. A worker killed in the middle of a clip leaves these behind and its successor starts after them.
    """

    submission = models.ForeignKey(Submission, on_delete=models.CASCADE, related_name="video_frames")
    model_version = models.ForeignKey("training.ModelVersion", on_delete=models.CASCADE, related_name="+")
    index = models.PositiveIntegerField(help_text="position among the sampled frames, from 0")
    time = models.FloatField(help_text="seconds from the start of the clip")
    probability = models.FloatField(help_text="the frame's score: its most suspicious face, or the whole frame")
    subject = models.CharField(max_length=8, help_text="faces, image or no_face, as for an image")
    faces = models.JSONField(default=list, blank=True)  # [{"box": [x, y, w, h] fractions, "probability": p}]
    image = models.CharField(max_length=255, blank=True, help_text="storage name of the frame (JPEG, no metadata)")
    # A 16x9 grey thumbnail (detection.video.tracks.frame_signature): where the clip cuts, tracks end.
    signature = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["submission", "model_version", "index"]
        constraints = [
            models.UniqueConstraint(fields=["submission", "model_version", "index"], name="one_row_per_sampled_frame"),
        ]

    def __str__(self):
        return f"frame {self.index} of {self.submission_id} ({self.probability:.3f})"


class IdempotencyRecord(models.Model):
    """The first response to an API request sent with an `Idempotency-Key`, replayed to retries of it."""

    organisation = models.ForeignKey("accounts.Organisation", on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    # SHA-256 of what was asked (fields and file hashes): the same key with a different request is refused.
    fingerprint = models.CharField(max_length=64)
    # Null while the first request is still being handled.
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organisation", "key"], name="one_response_per_idempotency_key")]

    def __str__(self):
        return f"{self.organisation_id}:{self.key}"


class WebhookSigningSecret(models.Model):
    """The secret an organisation's webhooks are signed with (HMAC-SHA256); partners verify with it."""

    organisation = models.OneToOneField("accounts.Organisation", on_delete=models.CASCADE, related_name="webhook_secret")
    secret = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    rotated_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"webhook secret of {self.organisation}"


class WebhookDelivery(models.Model):
    """One event to send to one callback URL; every attempt at sending it is a WebhookAttempt."""

    class Event(models.TextChoices):
        SCORED = "submission.scored", "Result ready"
        VERDICT_CHANGED = "submission.verdict_changed", "Verdict changed by a moderator"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed (gave up)"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    submission = models.ForeignKey(Submission, on_delete=models.CASCADE, related_name="webhook_deliveries")
    organisation = models.ForeignKey(
        "accounts.Organisation", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    event = models.CharField(max_length=40, choices=Event.choices)
    url = models.URLField(max_length=2000)
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    attempt_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "webhook deliveries"

    def __str__(self):
        return f"{self.event} to {self.url} ({self.status})"


class WebhookAttempt(models.Model):
    """One try at POSTing a delivery: what the callback answered, or why it could not be reached."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempts")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    duration_ms = models.FloatField()
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True, help_text="the first kilobyte of the answer")
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["delivery", "number"]
        constraints = [models.UniqueConstraint(fields=["delivery", "number"], name="one_row_per_webhook_attempt")]

    def __str__(self):
        return f"attempt {self.number}: {self.response_status or self.error[:40]}"

    @property
    def succeeded(self):
        return self.response_status is not None and 200 <= self.response_status < 300


class Evidence(models.Model):
    """Forensic signals shown beside the detector's score: one row per submission, recomputed per model version.

    Each signal is a JSON object with at least `status` (ok, not_applicable, skipped, error, timeout) and, when
    it did not finish, `error`. Derivative images are storage names; none of them carries EXIF or GPS.
    Written only by `detection.forensics.run`; read through `detection.forensics.summary`.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Being computed"
        DONE = "done", "Done"

    submission = models.OneToOneField(Submission, on_delete=models.CASCADE, related_name="evidence")
    # The detection whose model produced the heatmap and face scores; file-only signals do not depend on it.
    detection = models.ForeignKey(Detection, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    heatmap = models.JSONField(default=dict, blank=True)
    faces = models.JSONField(default=dict, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    content_credentials = models.JSONField(default=dict, blank=True)
    error_levels = models.JSONField(default=dict, blank=True)
    heatmap_image = models.CharField(max_length=255, blank=True)
    faces_image = models.CharField(max_length=255, blank=True)
    ela_image = models.CharField(max_length=255, blank=True)
    noise_image = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    computed_at = models.DateTimeField(null=True, blank=True)
    # When the sweeper (detection/sweeper.py) last sent the task again for a row that stayed pending.
    requested_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "evidence"

    def __str__(self):
        return f"evidence for {self.submission_id} ({self.status})"

    def image_name(self, kind):
        """Storage name of one derivative image (heatmap, faces, ela, noise), or '' when there is none."""
        return getattr(self, f"{kind}_image", "") if kind in EVIDENCE_IMAGE_KINDS else ""

    @property
    def as_summary(self):
        """The JSON-safe summary the portal, review and API show (see detection.forensics.summary)."""
        from .forensics.summary import evidence_summary

        return evidence_summary(self)


EVIDENCE_IMAGE_KINDS = ("heatmap", "faces", "ela", "noise")
