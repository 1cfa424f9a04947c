from celery import shared_task

from . import services


@shared_task
def expire_claims():
    """Periodic sweep (e.g. every minute with celery beat): lapsed claims go back to the queue."""
    return services.expire_claims()
