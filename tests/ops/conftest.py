"""Helpers for the ops tests: submissions in a given state and age, messages on the real broker."""
import uuid

import pytest
from django.conf import settings
from django.utils import timezone
from kombu import Connection, Exchange, Queue

from detection.models import Submission


def make_submission(status="queued", age_seconds=0, name="photo.jpg", organisation=None):
    """A Submission row (no stored file: these tests never score it) that arrived `age_seconds` ago."""
    submission = Submission.objects.create(
        original_name=name, content_type="image/jpeg", size_bytes=1000, width=64, height=48,
        sha256=uuid.uuid4().hex, file=f"test/{uuid.uuid4().hex}.jpg", status=status, organisation=organisation,
    )  # fmt: skip
    arrived = timezone.now() - timezone.timedelta(seconds=age_seconds)
    Submission.objects.filter(pk=submission.pk).update(created_at=arrived, updated_at=arrived)
    submission.refresh_from_db()
    return submission


@pytest.fixture
def broker_queues():
    """publish(queue, n): n messages on the configured broker (Redis in CI, the SQLite file otherwise).

    Queue names are unique per test, so that runs sharing a broker never count or purge each other's messages;
    the queues are deleted afterwards.
    """
    used = []
    conn = Connection(settings.CELERY_BROKER_URL)

    def publish(name, n):
        queue = Queue(name, Exchange(name, type="direct"), routing_key=name)
        used.append(queue)
        producer = conn.Producer()
        for i in range(n):
            producer.publish({"n": i}, exchange=queue.exchange, routing_key=name, declare=[queue], serializer="json")

    publish.prefix = f"ops-test-{uuid.uuid4().hex[:8]}-"
    try:
        yield publish
    finally:
        for queue in used:
            queue(conn.default_channel).delete()
        conn.release()
