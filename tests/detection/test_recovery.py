"""Every accepted upload ends scored or failed with a reason: the sweeper, transient errors, poison images."""
from io import StringIO
from unittest import mock

import pytest
from django.core.management import CommandError, call_command
from django.db import OperationalError
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from audit.models import AuditEvent
from detection import services, sweeper, tasks
from detection.models import Detection, Evidence, Submission, WebhookDelivery
from tests.conftest import make_image_bytes

RED = (220, 20, 20)
READ_BACKLOG = sweeper.inference_backlog  # the real one; the tests below stand in for it


def upload(journalist, color=RED, **kwargs):
    # enqueue=False: the task is "lost" (a killed worker's prefetched message, a broker that forgot it).
    return services.submit(data=make_image_bytes(color=color), name="x.jpg", uploader=journalist, enqueue=False, **kwargs)


def later(seconds):
    return timezone.now() + timezone.timedelta(seconds=seconds)


@pytest.fixture(autouse=True)
def empty_inference_queue(monkeypatch):
    """The broker's inference queue is empty unless a test says otherwise (never read a real broker here)."""
    backlog = mock.Mock(return_value=0)
    monkeypatch.setattr(sweeper, "inference_backlog", backlog)
    return backlog


@pytest.fixture
def sent():
    with mock.patch("detection.tasks.score_submission.delay") as delay:
        yield delay


def sent_ids(delay):
    return [call.args[0] for call in delay.call_args_list]


def test_a_queued_upload_whose_message_was_lost_is_sent_again_once_it_is_stale(journalist, settings, sent):
    settings.VERITY_STUCK_AFTER_SECONDS = 30
    submission = upload(journalist)

    assert sweeper.sweep(now=later(10))["submissions"] == 0  # not stale yet: its message may be on its way
    assert sweeper.sweep(now=later(31))["submissions"] == 1
    assert sent_ids(sent) == [str(submission.pk)]
    submission.refresh_from_db()
    assert submission.requeued_at is not None and submission.status == Submission.Status.QUEUED

    # Sent again only when that send has shown no sign of life for another VERITY_STUCK_AFTER_SECONDS.
    assert sweeper.resend_stuck_submissions(now=submission.requeued_at + timezone.timedelta(seconds=20)) == 0
    assert sweeper.resend_stuck_submissions(now=submission.requeued_at + timezone.timedelta(seconds=31)) == 1


def test_a_submission_left_processing_by_a_dead_batch_is_sent_again(journalist, settings, sent):
    settings.VERITY_STUCK_AFTER_SECONDS = 30
    submission = upload(journalist)
    Submission.objects.filter(pk=submission.pk).update(status=Submission.Status.PROCESSING, updated_at=later(5))
    assert sweeper.resend_stuck_submissions(now=later(30)) == 0  # the batch took it up 25 s ago
    assert sweeper.resend_stuck_submissions(now=later(40)) == 1
    assert sent_ids(sent) == [str(submission.pk)]


def test_scored_and_failed_submissions_are_never_sent_again(active_model, journalist, sent):
    scored = upload(journalist)
    services.score(scored.pk)
    failed = upload(journalist, color=(1, 2, 3))
    services._fail(failed, "test")
    assert sweeper.resend_stuck_submissions(now=later(3600)) == 0
    sent.assert_not_called()


def test_an_upload_made_while_the_broker_was_down_is_sent_at_the_next_pass(journalist, sent):
    submission = upload(journalist)
    Submission.objects.filter(pk=submission.pk).update(enqueue_pending=True)
    assert sweeper.resend_stuck_submissions() == 1  # no waiting: it is known never to have reached the broker
    submission.refresh_from_db()
    assert not submission.enqueue_pending


def test_a_pass_stops_at_the_first_broker_error_and_keeps_the_rest_for_the_next(journalist, settings):
    settings.VERITY_STUCK_AFTER_SECONDS = 30
    first, second = upload(journalist), upload(journalist, color=(20, 20, 220))
    with mock.patch("detection.tasks.score_submission.delay", side_effect=BrokerError("refused")) as delay:
        assert sweeper.resend_stuck_submissions(now=later(60)) == 0
    assert delay.call_count == 1
    assert Submission.objects.filter(enqueue_pending=True).count() == 1
    assert Submission.objects.filter(requeued_at__isnull=False).count() == 0
    with mock.patch("detection.tasks.score_submission.delay") as delay:
        assert sweeper.resend_stuck_submissions(now=later(60)) == 2
    assert set(sent_ids(delay)) == {str(first.pk), str(second.pk)}


def test_a_sent_again_submission_is_scored_once_with_one_audit_event(active_model, journalist):
    submission = upload(journalist)
    first = services.score(submission.pk)
    second = services.score(submission.pk)  # the original message arrives after the sweeper's copy was scored
    assert first.pk == second.pk and Detection.objects.filter(submission=submission).count() == 1
    assert AuditEvent.objects.filter(action="submission.scored", target_id=str(submission.pk)).count() == 1


def test_a_submission_fails_once_and_a_later_retry_with_a_working_model_scores_it(active_model, journalist):
    submission = upload(journalist)
    services._fail(submission, "the detector is unavailable: model file cannot be loaded")
    services._fail(submission, "a second reason")  # never twice
    submission.refresh_from_db()
    assert submission.failure_reason == "the detector is unavailable: model file cannot be loaded"
    assert AuditEvent.objects.filter(action="submission.failed", target_id=str(submission.pk)).count() == 1
    # The sweep never sends a failed submission again; a task sent on purpose (the model fixed) scores it.
    assert sweeper.resend_stuck_submissions(now=later(3600)) == 0
    detection = services.score(submission.pk)
    submission.refresh_from_db()
    assert submission.status == Submission.Status.SCORED and detection is not None
    assert Detection.objects.filter(submission=submission).count() == 1


def test_each_batch_that_takes_a_submission_up_counts_and_a_poison_image_fails_after_the_limit(
    active_model, journalist, settings
):
    settings.VERITY_MAX_SCORING_ATTEMPTS = 3
    submission = upload(journalist)
    with mock.patch("detection.services.get_detector", side_effect=SystemExit("the worker died")):
        for _ in range(3):
            with pytest.raises(SystemExit):
                services.score(submission.pk)
    submission.refresh_from_db()
    assert submission.scoring_attempts == 3 and submission.status == Submission.Status.PROCESSING

    assert services.score(submission.pk) is None
    submission.refresh_from_db()
    assert submission.status == Submission.Status.FAILED
    assert submission.failure_reason == "scoring was interrupted 3 times; the worker stopped each time"


def test_without_an_active_model_version_uploads_fail_with_the_reason(journalist):
    submission = upload(journalist)
    assert services.score(submission.pk) is None
    submission.refresh_from_db()
    assert submission.status == Submission.Status.FAILED
    assert "no active model version" in submission.failure_reason
    assert "ensure_default_model" in submission.failure_reason


def test_score_inline_without_an_active_model_says_so_in_one_line(db, tmp_path):
    image = tmp_path / "a.jpg"
    image.write_bytes(make_image_bytes())
    out = StringIO()
    with pytest.raises(CommandError, match="could not be scored"):
        call_command("score", str(image), "--inline", stdout=out)
    lines = out.getvalue().strip().splitlines()
    assert len(lines) == 1 and "failed" in lines[0] and "no active model version" in lines[0]


class FakeRequest:
    """The parts of a celery worker Request that celery-batches and the flush callback use."""

    id = name = hostname = reply_to = correlation_id = None
    delivery_info = request_dict = {}

    def __init__(self, submission_id):
        self.args = [str(submission_id)]
        self._payload = (self.args, {}, {})
        self.acknowledged = self.requeued = False

    def acknowledge(self):
        self.acknowledged = True

    def reject(self, requeue=False):
        self.requeued = requeue


def run_batch(requests):
    """Run the batch task as celery-batches would and return what its flush callback did with the messages."""
    pool = mock.Mock()
    with mock.patch.object(tasks.score_submission, "_pool", pool):
        tasks.score_submission.flush(requests)
    _, kwargs = pool.apply_async.call_args
    result = tasks.score_submission.run(requests)
    kwargs["callback"](result)
    return result


def test_a_batch_that_meets_the_database_restarting_goes_back_to_the_broker(active_model, journalist, monkeypatch):
    monkeypatch.setattr(tasks, "TRANSIENT_BACKOFF_SECONDS", 0)
    close_all = mock.Mock()  # a worker drops its broken connection; the test's own must stay open
    monkeypatch.setattr(tasks.db.connections, "close_all", close_all)
    submission = upload(journalist)
    requests = [FakeRequest(submission.pk)]
    with mock.patch("detection.services.score_many", side_effect=OperationalError("server closed the connection")):
        assert run_batch(requests) == tasks.REQUEUE
    assert requests[0].requeued and not requests[0].acknowledged
    close_all.assert_called_once()

    requests = [FakeRequest(submission.pk)]
    assert run_batch(requests) is None  # the database is back: scored and acknowledged
    assert requests[0].acknowledged and not requests[0].requeued
    submission.refresh_from_db()
    assert submission.status == Submission.Status.SCORED


def test_a_batch_that_crashes_on_a_defect_fails_its_submissions_with_the_reason(active_model, journalist):
    submission, done = upload(journalist), upload(journalist, color=(20, 220, 20))
    services.score(done.pk)
    requests = [FakeRequest(submission.pk), FakeRequest(done.pk)]
    with mock.patch("detection.services.score_many", side_effect=ValueError("shapes do not match")):
        assert run_batch(requests) is None
    assert all(r.acknowledged for r in requests)
    submission.refresh_from_db()
    done.refresh_from_db()
    assert submission.status == Submission.Status.FAILED
    assert submission.failure_reason == "scoring failed: ValueError: shapes do not match"
    assert done.status == Submission.Status.SCORED


def test_an_overdue_webhook_retry_is_sent_again_and_then_waits(active_model, partner, settings):
    from detection import webhooks

    settings.VERITY_STUCK_AFTER_SECONDS = 30
    submission = upload(partner)
    Submission.objects.filter(pk=submission.pk).update(callback_url="https://partner.example/hook")
    delivery = webhooks.schedule(Submission.objects.get(pk=submission.pk), WebhookDelivery.Event.SCORED)
    with mock.patch("detection.webhooks.deliver_webhook.delay") as delay:
        assert sweeper.resend_overdue_webhooks(now=later(10)) == 0
        assert sweeper.resend_overdue_webhooks(now=later(40)) == 1  # never attempted: its message was lost
        assert sweeper.resend_overdue_webhooks(now=later(41)) == 0  # just sent: due now, not overdue
    delay.assert_called_once_with(str(delivery.pk))

    WebhookDelivery.objects.filter(pk=delivery.pk).update(status=WebhookDelivery.Status.DELIVERED)
    with mock.patch("detection.webhooks.deliver_webhook.delay") as delay:
        assert sweeper.resend_overdue_webhooks(now=later(3600)) == 0


def test_missing_evidence_is_asked_for_once_and_again_only_after_the_tasks_time_limit(active_model, journalist, settings):
    settings.VERITY_STUCK_AFTER_SECONDS = 30
    submission = upload(journalist)
    services.score(submission.pk)
    Evidence.objects.filter(submission=submission).delete()  # its task was lost
    with mock.patch("detection.tasks.compute_evidence.delay") as delay:
        assert sweeper.resend_missing_evidence(now=later(10)) == 0
        assert sweeper.resend_missing_evidence(now=later(40)) == 1
        assert sweeper.resend_missing_evidence(now=later(60)) == 0  # asked for; it may still be running
        assert sweeper.resend_missing_evidence(now=later(40 + sweeper.EVIDENCE_TIME_LIMIT_SECONDS + 31)) == 1
    assert [call.args[0] for call in delay.call_args_list] == [str(submission.pk)] * 2


def test_the_sweep_command_and_the_beat_schedule(journalist, settings, sent):
    from config.celery import app

    settings.VERITY_STUCK_AFTER_SECONDS = 0
    upload(journalist)
    out = StringIO()
    call_command("sweep", stdout=out)
    assert out.getvalue().strip() == "submissions: 1, webhooks: 0, evidence: 0, claims: 0"
    entry = app.conf.beat_schedule["sweep"]
    assert entry["task"] == "detection.tasks.sweep" and entry["task"] in app.tasks
    assert entry["schedule"] == settings.VERITY_SWEEP_INTERVAL_SECONDS
    # A queue of its own: behind a backlog of evidence tasks on `default` every pass expired before it ran.
    assert app.amqp.router.route({}, entry["task"])["queue"].name == "sweep"


def test_a_batch_that_cannot_reach_the_file_store_goes_back_without_failing_anyone(active_model, journalist, monkeypatch):
    from detection.storage import StorageUnavailable

    monkeypatch.setattr(tasks, "TRANSIENT_BACKOFF_SECONDS", 0)
    monkeypatch.setattr(tasks.db.connections, "close_all", mock.Mock())
    submission = upload(journalist)
    requests = [FakeRequest(submission.pk)]
    with mock.patch("detection.storage.read", side_effect=StorageUnavailable("the object store did not answer")):
        assert run_batch(requests) == tasks.REQUEUE
    assert requests[0].requeued
    submission.refresh_from_db()
    assert submission.status == Submission.Status.PROCESSING and submission.failure_reason == ""
    assert run_batch([FakeRequest(submission.pk)]) is None
    submission.refresh_from_db()
    assert submission.status == Submission.Status.SCORED


def test_while_messages_wait_in_the_inference_queue_only_the_quiet_ones_sent_before_them_are_sent_again(
    journalist, settings, sent, empty_inference_queue
):
    settings.VERITY_STUCK_AFTER_SECONDS = 30
    oldest, older, newest = (upload(journalist, color=(20, 20, c)) for c in (100, 150, 200))
    never_sent = upload(journalist, color=(20, 200, 20))
    Submission.objects.filter(pk=never_sent.pk).update(enqueue_pending=True)
    # Two messages wait: first in, first out, so they can only be those of the two most recently sent.
    empty_inference_queue.return_value = 2
    assert sweeper.resend_stuck_submissions(now=later(60)) == 2
    assert sent_ids(sent) == [str(never_sent.pk), str(oldest.pk)]

    sent.reset_mock()
    empty_inference_queue.return_value = 5  # as many waiting as quiet ones: any of them may be waiting
    assert sweeper.resend_stuck_submissions(now=later(120)) == 0
    empty_inference_queue.return_value = 0  # drained, and still not scored: every quiet one was lost
    assert sweeper.resend_stuck_submissions(now=later(120)) == 4
    # The longest unsent first: the two never sent again, then the two sent at the first pass.
    assert sent_ids(sent) == [str(older.pk), str(newest.pk), str(oldest.pk), str(never_sent.pk)]
    sent.reset_mock()
    empty_inference_queue.return_value = None  # a broker that cannot say: every quiet one, after the usual wait
    assert sweeper.resend_stuck_submissions(now=later(180)) == 4


def test_the_inference_backlog_is_what_the_broker_says_waits_in_the_inference_queue(monkeypatch):
    from detection import broker

    monkeypatch.setattr(broker, "queue_depths", lambda queues: broker.QueueDepths({q: 7 for q in queues}))
    assert READ_BACKLOG() == 7
    monkeypatch.setattr(broker, "queue_depths", lambda queues: broker.QueueDepths(dict.fromkeys(queues), error="down"))
    assert READ_BACKLOG() is None


def test_a_persistent_connection_the_database_dropped_is_replaced_before_the_next_request(transactional_db):
    """After a PostgreSQL restart every persistent connection is dead; without a health check the first request
    on each web thread (and the first task on each worker) met it and answered 503 after the outage was over
    (bench/faults.py postgres-restart: 2 API 503s after the restart). CONN_HEALTH_CHECKS replaces it first."""
    import psycopg
    from django.db import close_old_connections, connection

    if connection.vendor != "postgresql":
        pytest.skip("a server whose connections can be cut from outside: PostgreSQL")
    Submission.objects.count()  # the persistent connection is open
    pid = connection.connection.info.backend_pid
    s = connection.settings_dict
    with psycopg.connect(host=s["HOST"] or "127.0.0.1", port=s["PORT"] or 5432, user=s["USER"], password=s["PASSWORD"] or None,
                         dbname=s["NAME"], autocommit=True) as other:  # fmt: skip
        other.execute("SELECT pg_terminate_backend(%s)", [pid])  # as a restart does to every connection
    close_old_connections()  # what Django does at the start of every request and Celery around every task
    assert Submission.objects.count() == 0  # answered on a new connection, not OperationalError
    assert connection.connection.info.backend_pid != pid
