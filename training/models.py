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
    architecture = models.CharField(max_length=64, default="EfficientNetV2B1")
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
    def artifact_path(self):
        from pathlib import Path

        path = Path(self.artifact)
        return path if path.is_absolute() else settings.BASE_DIR / path
