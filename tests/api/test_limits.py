"""Rate limits per key and per organisation, a daily quota, and 429 with Retry-After in the usual error shape."""
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from accounts.api_keys import create_api_key
from detection import services
from tests.api.conftest import client_for
from tests.conftest import make_image_bytes

LIST = reverse("api:submission-list")
BATCH = reverse("api:submission-batch")


def rates(settings, **rates):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"api_key": "1000/min", "organisation": "1000/min", **rates},
    }


def test_a_key_over_its_rate_gets_429_with_retry_after(api, settings):
    rates(settings, api_key="2/min")
    assert [api.get(LIST).status_code for _ in range(3)] == [200, 200, 429]
    response = api.get(LIST)
    assert response.json()["errors"][0]["code"] == "throttled"
    assert 0 < int(response["Retry-After"]) <= 60


def test_the_organisation_rate_is_shared_by_all_its_keys(partner_org, settings):
    rates(settings, organisation="3/min")
    first = client_for(create_api_key(organisation=partner_org, name="a", scopes=["read"])[1])
    second = client_for(create_api_key(organisation=partner_org, name="b", scopes=["read"])[1])
    assert [c.get(LIST).status_code for c in (first, second, first, second)] == [200, 200, 200, 429]


def test_one_organisation_over_its_rate_does_not_slow_another(api, rival_api, settings):
    rates(settings, organisation="1/min")
    assert api.get(LIST).status_code == 200
    assert api.get(LIST).status_code == 429
    assert rival_api.get(LIST).status_code == 200


def test_the_daily_quota_refuses_submissions_until_tomorrow(api, partner, settings, active_model):
    settings.VERITY_API_DAILY_QUOTA = 1
    services.submit(data=make_image_bytes(), name="a.jpg", uploader=partner, source="api", enqueue=False)
    response = api.post(LIST, {"image": SimpleUploadedFile("b.jpg", make_image_bytes())}, format="multipart")
    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 24 * 3600
    assert api.get(LIST).status_code == 200  # reading is not part of the quota


def test_a_batch_that_would_pass_the_daily_quota_is_refused_whole(api, settings, active_model):
    settings.VERITY_API_DAILY_QUOTA = 2
    images = [SimpleUploadedFile(f"{n}.jpg", make_image_bytes()) for n in range(3)]
    response = api.post(BATCH, {"images": images}, format="multipart")
    assert response.status_code == 429 and response.has_header("Retry-After")
    assert api.get(LIST).json()["results"] == []


def test_a_429_says_when_to_come_back_even_after_the_rate_was_lowered(api, settings):
    for _ in range(5):
        api.get(LIST)
    rates(settings, api_key="1/min")
    response = api.get(LIST)
    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 60


def test_with_the_cache_unreachable_requests_go_through_unthrottled_instead_of_failing(api, settings):
    from unittest import mock

    rates(settings, api_key="1/min")
    unreachable = mock.Mock(**{"get.side_effect": ConnectionError("Redis is down")})
    with mock.patch("rest_framework.throttling.SimpleRateThrottle.cache", unreachable):
        answers = [api.get(reverse("api:submission-list")).status_code for _ in range(3)]
    assert answers == [200, 200, 200]


def test_the_daily_quota_is_counted_from_the_database_once_then_kept_as_a_counter(
    api, settings, active_model, django_capture_on_commit_callbacks
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    settings.VERITY_API_DAILY_QUOTA = 3

    def post(name):
        with django_capture_on_commit_callbacks(execute=True):  # the counter counts what committed
            return api.post(LIST, {"image": SimpleUploadedFile(name, make_image_bytes())}, format="multipart")

    with CaptureQueriesContext(connection) as queries:
        answers = [post(f"{n}.jpg").status_code for n in range(4)]
    assert answers == [201, 201, 201, 429]
    counts = [q["sql"] for q in queries.captured_queries if "COUNT(*)" in q["sql"] and "detection_submission" in q["sql"]]
    assert len(counts) == 1  # the first request's; the rest read the counter


def test_with_the_cache_unreachable_the_daily_quota_is_counted_from_the_database(api, partner, settings, active_model):
    from unittest import mock

    settings.VERITY_API_DAILY_QUOTA = 1
    services.submit(data=make_image_bytes(), name="a.jpg", uploader=partner, source="api", enqueue=False)
    unreachable = mock.Mock(**{"get.side_effect": ConnectionError("Redis is down")})
    with mock.patch("detection.api.throttles.cache", unreachable):
        response = api.post(LIST, {"image": SimpleUploadedFile("b.jpg", make_image_bytes())}, format="multipart")
    assert response.status_code == 429
