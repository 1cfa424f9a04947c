"""The audit page reads as a list of what happened: actions in words, one heading per day, short times, pages."""
import re
from datetime import datetime, timezone as dt_timezone

import pytest
from django.urls import reverse
from django.utils import timezone

import audit
from audit import views
from audit.labels import action_label


def record_at(moment, actor, action, target=None, **data):
    """An event recorded as if at `moment` (the trail takes its timestamps from timezone.now)."""
    original = timezone.now
    timezone.now = lambda: moment
    try:
        return audit.record(actor, action, target, **data)
    finally:
        timezone.now = original


def utc(day, hour, minute, second):
    return datetime(2026, 11, day, hour, minute, second, tzinfo=dt_timezone.utc)


@pytest.fixture
def two_days(moderator, journalist, settings):
    settings.TIME_ZONE = "UTC"  # the days and times below are UTC's
    record_at(utc(27, 9, 5, 7), journalist, "submission.uploaded", journalist, sha256="ab")
    record_at(utc(28, 16, 40, 2), moderator, "review.claimed", moderator, item=1)
    record_at(utc(28, 16, 41, 0), moderator, "review.decided", moderator, decision="authentic")


def page_of(client, **params):
    response = client.get(reverse("audit:event-list"), params)
    assert response.status_code == 200
    return response.content.decode()


def test_actions_read_in_words_with_their_code_beside_them(client, moderator, two_days):
    client.force_login(moderator)
    page = page_of(client, since="2026-11-27", until="2026-11-28")
    assert '<span class="action">Claimed for review</span> <code class="action-code muted">review.claimed</code>' in page
    assert "Image uploaded" in page and ">Decided<" in page


def test_events_are_grouped_under_one_heading_per_day_newest_first_with_times_that_do_not_wrap(client, moderator, two_days):
    client.force_login(moderator)
    page = page_of(client, since="2026-11-27", until="2026-11-28")
    days = re.findall(r'<tr class="day"><th scope="rowgroup" colspan="5"><time datetime="([\d-]+)">([^<]+)</time>', page)
    assert days == [("2026-11-28", "Saturday 28 November 2026"), ("2026-11-27", "Friday 27 November 2026")]
    times = re.findall(r'<td class="nowrap"><time [^>]*>([^<]+)</time>', page)
    assert times == ["16:41:00", "16:40:02", "09:05:07"]


def test_the_action_filter_offers_every_recorded_action_in_words_and_each_area_at_once(client, moderator, two_days):
    client.force_login(moderator)
    page = page_of(client)
    assert '<option value="review.claimed">Claimed for review</option>' in page
    assert '<optgroup label="Review">' in page and '<option value="review.">All: review</option>' in page
    filtered = page_of(client, action="review.")
    assert 'value="review." selected' in filtered
    assert '<span class="action">Claimed for review</span>' in filtered
    assert '<span class="action">Image uploaded</span>' not in filtered


def test_an_action_code_from_a_link_stays_selected_even_if_never_recorded(client, moderator, two_days):
    client.force_login(moderator)
    page = page_of(client, action="webhook.failed")
    assert '<option value="webhook.failed" selected>Webhook gave up</option>' in page
    assert "No events match these filters." in page


def test_the_trail_comes_a_page_at_a_time_and_the_filters_follow_the_pages(client, moderator, monkeypatch):
    monkeypatch.setattr(views, "PAGE_SIZE", 3)
    for n in range(5):
        audit.record(moderator, "review.claimed", moderator, item=n)
    client.force_login(moderator)
    first = page_of(client, action="review.claimed")
    assert first.count('<span class="action">Claimed for review</span>') == 3
    assert "Page 1 of 2" in first and 'href="?action=review.claimed&amp;page=2" rel="next">Next page' in first
    second = page_of(client, action="review.claimed", page=2)
    assert second.count('<span class="action">Claimed for review</span>') == 2
    assert 'href="?action=review.claimed&amp;page=1" rel="prev">← Previous page' in second


def test_an_action_without_a_label_still_reads_as_words():
    assert action_label("review.claimed") == "Claimed for review"
    assert action_label("partner.key_rotated") == "Partner: key rotated"


def test_an_uploaded_clip_reads_as_a_clip_and_an_image_as_an_image():
    from types import SimpleNamespace

    from audit.labels import event_label

    assert event_label(SimpleNamespace(action="submission.uploaded", data={"kind": "video"})) == "Clip uploaded"
    assert event_label(SimpleNamespace(action="submission.uploaded", data={"kind": "image"})) == "Image uploaded"
    assert event_label(SimpleNamespace(action="submission.uploaded", data={})) == "Image uploaded"  # before clips
    assert event_label(SimpleNamespace(action="review.claimed", data={"kind": "video"})) == "Claimed for review"


def test_details_read_as_words_not_python(client, moderator, journalist, settings):
    settings.TIME_ZONE = "UTC"
    record_at(utc(27, 9, 5, 7), moderator, "api_key.created", journalist, scopes=["read", "submit"], active=True,
              revoked=False, limits={"per_day": 100, "burst": 5}, note=None)  # fmt: skip
    client.force_login(moderator)
    page = page_of(client, since="2026-11-27", until="2026-11-27")
    assert '<span class="muted">scopes:</span> read, submit</li>' in page
    assert '<span class="muted">active:</span> yes</li>' in page and '<span class="muted">revoked:</span> no</li>' in page
    assert '<span class="muted">limits:</span> burst: 5; per day: 100</li>' in page
    assert "[&#x27;" not in page and "True" not in page and "{&#x27;" not in page and "note:" not in page


def test_a_recorded_moment_reads_as_a_date_and_time_in_the_sites_zone(client, moderator, journalist, settings):
    settings.TIME_ZONE = "Europe/London"
    record_at(utc(27, 9, 5, 7), moderator, "api_key.created", journalist, expires_at="2026-12-01T21:32:58.692700+00:00",
              summer="2026-07-01T08:00:00+00:00", code="2026-12-01T21:32:58X", plain="2026-12-01")  # fmt: skip
    client.force_login(moderator)
    page = page_of(client, since="2026-11-27", until="2026-11-27")
    assert '<span class="muted">expires at:</span> 1 December 2026, 21:32:58</li>' in page
    assert '<span class="muted">summer:</span> 1 July 2026, 09:00:00</li>' in page  # British Summer Time
    assert '<span class="muted">code:</span> 2026-12-01T21:32:58X</li>' in page  # not a moment: as recorded
    assert '<span class="muted">plain:</span> 2026-12-01</li>' in page
    assert "692700" not in page
