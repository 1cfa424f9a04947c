"""Reading the Celery broker: is it reachable, and how many messages wait in each queue.

kombu answers both for the two brokers Verity runs on: Redis (the queue's list length, LLEN) and the default
SQLite file (kombu's SQLAlchemy transport: rows of `kombu_message` still `visible`, i.e. not yet handed to a
worker). Other brokers are only checked for reachability; their depths are "unknown".
"""
from dataclasses import dataclass

from django.conf import settings
from kombu import Connection
from kombu.exceptions import ChannelError

# Seconds before an unreachable broker counts as down: a probe must answer long before its own timeout.
TIMEOUT_SECONDS = 2
# kombu's driver types whose queue depth we can read.
COUNTABLE = {"redis": "Redis", "sql": "the SQL broker (kombu's SQLAlchemy transport)"}


@dataclass
class QueueDepths:
    """Messages waiting per queue (None: unknown), where they were read from, and why not if they were not."""

    depths: dict
    source: str = ""
    error: str = ""
    countable: bool = True


def connection():
    """A kombu connection to the configured broker, with a short connect timeout and no transport options.

    The URL is read from Django settings at call time; transport options are left out on purpose: Redis's
    (visibility timeout) would be handed to SQLAlchemy's create_engine() by the SQL transport.
    """
    return Connection(settings.CELERY_BROKER_URL, connect_timeout=TIMEOUT_SECONDS)


def check(conn):
    """Raise unless the broker answers: connect once, then read one queue (the SQL transport connects lazily)."""
    conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=TIMEOUT_SECONDS)
    if conn.transport.driver_type in COUNTABLE:
        depth(conn, "inference")


def depth(conn, queue):
    """Messages waiting in `queue`, not counting those a worker has taken and not yet acknowledged."""
    try:
        return conn.default_channel.queue_declare(queue=queue, passive=True).message_count
    except ChannelError:  # Redis keeps no key for an empty queue: "not found" means nothing waits
        return 0


def queue_depths(queues):
    """QueueDepths of `queues`; never raises (an unreachable broker gives unknown depths and the reason)."""
    unknown = dict.fromkeys(queues)
    try:
        with connection() as conn:
            driver = conn.transport.driver_type
            if driver not in COUNTABLE:
                return QueueDepths(unknown, source=driver, countable=False)
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=TIMEOUT_SECONDS)
            # The SQL transport keeps the database URL as its host name: sqlite:///…/celery-broker.sqlite.
            source = "the SQLite broker file" if str(conn.hostname).startswith("sqlite") else COUNTABLE[driver]
            return QueueDepths({queue: depth(conn, queue) for queue in queues}, source=source)
    except Exception as exc:  # kombu, redis and SQLAlchemy each raise their own types
        return QueueDepths(unknown, error=f"the broker could not be reached ({exc.__class__.__name__})")
