"""Rate limits per key and per organisation (cache counters), and a daily submission quota (database)."""
import datetime
import logging

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle

from accounts.models import ApiKey

from ..models import Submission

logger = logging.getLogger(__name__)


class _SettingsRateThrottle(SimpleRateThrottle):
    def allow_request(self, request, view):
        # The counters live in the cache (Redis in production). A cache that is down must not take the API
        # down with it: for that while, requests go through unthrottled (the daily quota, in the database, holds).
        try:
            return super().allow_request(request, view)
        except Exception as exc:  # redis-py and the cache backends raise their own types
            logger.warning("rate limit not applied, the cache is unreachable: %s", exc)
            return True

    def get_rate(self):
        # Read the rate now, not at import (DRF's default), so that a settings change takes effect.
        return api_settings.DEFAULT_THROTTLE_RATES[self.scope]

    def wait(self):
        # DRF gives no wait when the history outgrew the rate (the rate was lowered); a 429 always says when.
        waited = super().wait()
        if waited is None and self.history:
            waited = max(1, self.duration - (self.now - self.history[-1]))
        return waited


class ApiKeyRateThrottle(_SettingsRateThrottle):
    scope = "api_key"

    def get_cache_key(self, request, view):
        if not isinstance(request.auth, ApiKey):
            return None
        return f"throttle:api_key:{request.auth.pk}"


class OrganisationRateThrottle(_SettingsRateThrottle):
    scope = "organisation"

    def get_cache_key(self, request, view):
        if not isinstance(request.auth, ApiKey):
            return None
        return f"throttle:organisation:{request.auth.organisation_id}"


def submissions_today(organisation):
    """The organisation's API submissions this UTC day.

    A counter in the cache, counted from the database when the cache has none (a new day, an eviction) or
    cannot be reached: counting on every request read every row of the day (3.5 ms at 8,000 rows on
    PostgreSQL, more with every upload until midnight). The API adds what it accepts (count_submission) once
    the submissions commit; one committed while the counter was being counted may go uncounted, so the quota
    can let through a few more, never fewer.
    """
    key = _quota_key(organisation.pk)
    try:
        count = cache.get(key)
    except Exception as exc:  # redis-py and the cache backends raise their own types
        logger.warning("daily quota counted from the database, the cache is unreachable: %s", exc)
        return _count_today(organisation)
    if count is None:
        count = _count_today(organisation)
        try:
            cache.add(key, count, timeout=seconds_until_tomorrow() + 3600)
        except Exception as exc:
            logger.warning("could not keep the daily quota counter: %s", exc)
    return count


def count_submission(organisation_id):
    """Add one committed API submission to the organisation's counter for today, where there is one."""
    try:
        cache.incr(_quota_key(organisation_id))
    except ValueError:
        pass  # no counter (expired or evicted): the next request counts from the database
    except Exception as exc:
        logger.warning("could not count a submission towards the daily quota: %s", exc)


def _count_today(organisation):
    return Submission.objects.filter(
        organisation=organisation, source=Submission.Source.API, created_at__gte=_start_of_day()
    ).count()


def _quota_key(organisation_id):
    return f"quota:api-submissions:{organisation_id}:{_start_of_day():%Y-%m-%d}"


def seconds_until_tomorrow():
    return max(1, int((_start_of_day() + datetime.timedelta(days=1) - timezone.now()).total_seconds()) + 1)


class DailySubmissionQuota(BaseThrottle):
    """At most VERITY_API_DAILY_QUOTA API submissions per organisation per UTC day (POSTs only)."""

    def allow_request(self, request, view):
        if request.method != "POST" or not isinstance(request.auth, ApiKey):
            return True
        return submissions_today(request.auth.organisation) < settings.VERITY_API_DAILY_QUOTA

    def wait(self):
        return seconds_until_tomorrow()


def _start_of_day():
    now = timezone.now().astimezone(datetime.timezone.utc)
    return now.replace(hour=0, minute=0, second=0, microsecond=0)
