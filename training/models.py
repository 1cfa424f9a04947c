from django.conf import settings
from django.db import models
from django.db.models import Q


class ModelVersion(models.Model):
    """A trained (or placeholder) detector the workers can score with. Exactly one is active."""

    class Status(models.TextChoices):
        CANDIDATE = "candidate", "Candidate"
        ACTIVE = "active", "Active"
        RETIRED = "retired", "Retired"

    name = models.CharField(max_length=100, unique=True)
    architecture = models.CharField(max_length=255, default="EfficientNetV2B1")  # an ensemble names its members
    input_size = models.PositiveIntegerField(default=240)
    # Path to the .keras file: absolute, or relative to the project directory.
    artifact = models.CharField(max_length=500)
    artifact_sha256 = models.CharField(max_length=64, blank=True)
    threshold = models.FloatField(default=0.5)
    uncertain_band = models.FloatField(default=0.15, help_text="half-width of the uncertain band around the threshold")
    # Temperature scaling fitted on the validation split; 1.0 leaves probabilities as the model gives them.
    temperature = models.FloatField(default=1.0)
    # False for a placeholder built with random weights: every page showing its scores says so.
    is_trained = models.BooleanField(default=False)
    metrics = models.JSONField(default=dict, blank=True)
    report = models.CharField(max_length=500, blank=True)
    training_config = models.JSONField(default=dict, blank=True)
    dataset_fingerprint = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.CANDIDATE, db_index=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    activated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    activated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["status"], condition=Q(status="active"), name="one_active_model_version"),
        ]

    def __str__(self):
        return self.name if self.is_trained else f"{self.name} (untrained)"

    @property
    def member_names(self):
        """The ensemble's members in output-column order ([] for a single detector).

        A shipped ensemble is one file whose members are not registered on their own: their names come from
        the configuration it was built with.
        """
        names = [link.member.name for link in self.member_links.select_related("member")]
        if not names:
            names = [m["name"] for m in (self.training_config or {}).get("ensemble", {}).get("members", [])]
        return names

    @property
    def artifact_path(self):
        from pathlib import Path

        path = Path(self.artifact)
        return path if path.is_absolute() else settings.BASE_DIR / path


class EnsembleMember(models.Model):
    """A member of an ensemble version, in the order of the ensemble's output columns (training/ensembles.py)."""

    ensemble = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="member_links")
    member = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="ensemble_links")
    position = models.PositiveIntegerField()
    weight = models.FloatField(help_text="weight of the member's logit in the combination")

    class Meta:
        ordering = ["position"]
        constraints = [models.UniqueConstraint(fields=["ensemble", "position"], name="one_member_per_position")]

    def __str__(self):
        return f"{self.member.name} in {self.ensemble.name} (x{self.weight:.3f})"


class TrainingRun(models.Model):
    """A training run started from the staff pages: its configuration, progress, and what it produced."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    FINISHED = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)

    name = models.CharField(max_length=100, unique=True)
    config = models.JSONField(default=dict)  # training.trainer.TrainConfig fields
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    epoch = models.PositiveIntegerField(default=0)
    total_epochs = models.PositiveIntegerField(default=0)
    epochs = models.JSONField(default=list, blank=True)  # the per-epoch table rows so far
    cancel_requested = models.BooleanField(default=False)
    output_dir = models.CharField(max_length=500, blank=True)
    message = models.TextField(blank=True)
    model_version = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return self.name

    @property
    def is_finished(self):
        return self.status in self.FINISHED

    @property
    def progress_percent(self):
        return int(100 * self.epoch / self.total_epochs) if self.total_epochs else 0
