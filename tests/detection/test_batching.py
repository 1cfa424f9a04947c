"""The scoring worker's batches grow while its pool is busy (detection.tasks.ScoringBatches).

celery-batches' own buffer and flush code runs here; only the pool and the timer are stand-ins, so the
test can hold a batch "in flight" and decide when it returns.
"""
import itertools

import pytest

from detection import tasks


class Pool:
    """A prefork pool of `num_processes` that keeps each batch until the test returns it."""

    def __init__(self, num_processes=1):
        self.num_processes = num_processes
        self.batches = []  # (submission ids, callback, error_callback)

    def apply_async(self, fun, args, callback=None, error_callback=None):
        task, (requests,), *_ = args
        self.batches.append(([r.args[0] for r in requests], callback, error_callback))


class Timer:
    def __init__(self):
        self.calls = []

    def call_after(self, seconds, fun):
        self.calls.append((seconds, fun))

    def run_due(self):
        calls, self.calls = self.calls, []
        for _, fun in calls:
            fun()


_ids = itertools.count(1)


class Request:
    """What celery-batches buffers for one message (the parts its flush reads)."""

    eta = None
    name = "detection.tasks.score_submission"
    delivery_info = {}
    hostname = "inference@test"
    reply_to = correlation_id = None
    request_dict = {}

    def __init__(self):
        self.id = f"task-{next(_ids)}"
        self.submission_id = f"submission-{self.id}"
        self._payload = ((self.submission_id,), {}, {})
        self.outcome = None

    def acknowledge(self):
        self.outcome = "acknowledged"

    def reject(self, requeue=False):
        self.outcome = "requeued" if requeue else "rejected"


class Probe(tasks.ScoringBatches):
    name = "tests.batching.probe"
    flush_every = 4
    flush_interval = 0.05

    def run(self, requests):  # never called: the stand-in pool keeps the batches
        raise AssertionError("the pool stand-in runs nothing")


@pytest.fixture
def batches():
    task = Probe()
    task._pool, task._timer = Pool(), Timer()
    return task


def buffer(task, count):
    requests = [Request() for _ in range(count)]
    for request in requests:
        task._buffer.put(request)
    return requests


def test_an_idle_worker_flushes_what_it_has_on_the_interval(batches):
    requests = buffer(batches, 2)
    batches._do_flush()
    assert [ids for ids, *_ in batches._pool.batches] == [[r.submission_id for r in requests]]
    assert batches._buffer.qsize() == 0


def test_while_the_pool_is_busy_the_interval_waits_and_the_batch_grows(batches):
    first = buffer(batches, 1)
    batches._do_flush()
    later = buffer(batches, 3)
    batches._do_flush()  # the interval ticks while the first batch is being scored
    batches._do_flush()
    assert len(batches._pool.batches) == 1
    assert batches._buffer.qsize() == 3

    ids, on_return, _ = batches._pool.batches[0]
    on_return(None)  # the first batch is stored
    assert first[0].outcome == "acknowledged"
    assert [seconds for seconds, _ in batches._timer.calls] == [0]  # what waited goes now, not at the next tick
    batches._timer.run_due()
    assert [ids for ids, *_ in batches._pool.batches][1] == [r.submission_id for r in later]


def test_a_full_buffer_goes_even_while_the_pool_is_busy(batches):
    buffer(batches, 1)
    batches._do_flush()
    full = buffer(batches, Probe.flush_every)
    batches._do_flush()
    assert [ids for ids, *_ in batches._pool.batches][1] == [r.submission_id for r in full]


def test_a_partial_batch_waits_for_a_busy_pool_only_so_long(batches, monkeypatch):
    # Should a returned batch ever go uncounted, the pool would look busy for good: what is buffered then still
    # goes after max_hold_seconds, queued behind the pool as celery-batches does, instead of waiting for ever.
    clock = [100.0]
    monkeypatch.setattr(tasks.time, "monotonic", lambda: clock[0])
    buffer(batches, 1)
    batches._do_flush()
    waiting = buffer(batches, 2)
    batches._do_flush()
    clock[0] += Probe.max_hold_seconds - 0.01
    batches._do_flush()
    assert len(batches._pool.batches) == 1
    clock[0] += 0.02
    batches._do_flush()
    assert [ids for ids, *_ in batches._pool.batches][1] == [r.submission_id for r in waiting]
    buffer(batches, 1)
    batches._do_flush()  # the hold starts again for the next batch
    assert len(batches._pool.batches) == 2


def test_every_process_of_the_pool_takes_a_batch_before_the_interval_waits(batches):
    batches._pool.num_processes = 2
    buffer(batches, 1)
    batches._do_flush()
    buffer(batches, 1)
    batches._do_flush()
    buffer(batches, 1)
    batches._do_flush()
    assert len(batches._pool.batches) == 2
    assert batches._buffer.qsize() == 1


def test_a_batch_lost_with_its_process_or_sent_back_is_requeued_and_frees_the_pool(batches):
    lost = buffer(batches, 2)
    batches._do_flush()
    _, _, on_worker_lost = batches._pool.batches[0]
    on_worker_lost(None)
    assert [r.outcome for r in lost] == ["requeued", "requeued"]

    sent_back = buffer(batches, 1)
    batches._do_flush()  # the pool is free again: this goes at once
    _, on_return, _ = batches._pool.batches[1]
    on_return(tasks.REQUEUE)
    assert sent_back[0].outcome == "requeued"
    assert batches._in_flight == 0
    assert batches._timer.calls == []  # nothing was waiting


def test_the_worker_holds_two_batches_of_messages():
    from django.conf import settings

    from config.celery import app

    assert app.conf.worker_prefetch_multiplier == 2 * settings.VERITY_BATCH_SIZE
