from django.db import models


class WorkerHeartbeat(models.Model):
    """A Celery worker's last sign of life, written by the worker itself (ops/worker.py).

    Works with any broker: the default SQLite broker cannot answer `celery inspect`, the database always can.
    """

    # The Celery node name (`-n name@host`): one row per worker, reused when it restarts under the same name.
    hostname = models.CharField(max_length=255, unique=True)
    pid = models.PositiveIntegerField(help_text="the worker's main process")
    queues = models.JSONField(default=list)
    model_version = models.CharField(max_length=100, blank=True, help_text="the version of its last scoring batch")
    runtime = models.CharField(max_length=32, blank=True, help_text="onnx, onnx-int8 or keras, as chosen by the worker")
    run_size = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="images per model run in its last batch, as chosen by the worker (VERITY_MODEL_RUN_SIZE)"
    )
    started_at = models.DateTimeField()
    last_seen = models.DateTimeField(db_index=True)
    batches = models.PositiveBigIntegerField(default=0, help_text="scoring batches stored since it started")
    last_batch_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["hostname"]

    def __str__(self):
        return self.hostname
