"""Celery application: configuration comes from Django settings (CELERY_* names)."""
import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("verity")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.task_prerun.connect
@signals.task_postrun.connect
def _recycle_database_connections(task=None, **kwargs):
    # CELERY_DB_REUSE_MAX stops the Django fixup from closing the connection around every task; this keeps
    # what that closing was for: a connection that is broken (database restarted) or past CONN_MAX_AGE is
    # dropped and the next query opens a fresh one.
    # Not for eager tasks: they run inside the caller's transaction, which must keep its connection.
    if task is not None and getattr(task.request, "is_eager", False):
        return
    from django.db import close_old_connections

    close_old_connections()


@signals.worker_process_shutdown.connect
def _close_database_connections(**kwargs):
    # Persistent connections end with the process: say goodbye to the database rather than vanish.
    from django.db import connections

    connections.close_all()
