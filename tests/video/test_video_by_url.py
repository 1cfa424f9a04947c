"""Clips submitted by URL: fetched up to the video limit, while images by URL keep the (smaller) image limit.

The limits are lowered around tiny clips made in the test; the clips are served by the API tests' HTTP server
on 127.0.0.1.
"""
import pytest
from django.urls import reverse

from detection import fetch
from detection.models import Submission
from tests.api.conftest import (  # noqa: F401  (the API's fixtures)
    _api_settings,
    allow_loopback,
    api,
    local_server,
    partner_key,
    partner_org,
)
from tests.conftest import make_image_bytes
from tests.video import clips

LIST = reverse("api:submission-list")


def submit_url(api, url):
    response = api.post(LIST, {"url": url}, format="json")
    return response.status_code, response.json()


@pytest.mark.parametrize("content_type", ["video/mp4", "application/octet-stream"])
def test_a_clip_larger_than_the_image_limit_is_fetched_up_to_the_video_limit(
    api, allow_loopback, local_server, settings, content_type
):
    clip = clips.red_clip()
    settings.VERITY_MAX_UPLOAD_BYTES = len(clip) // 4
    settings.VERITY_MAX_VIDEO_BYTES = len(clip) * 2
    # No extension in the URL, and (in one case) a Content-Type that says nothing: the bytes say MP4.
    local_server.route("/watch?v=42", headers={"Content-Type": content_type}, body=clip)
    status, body = submit_url(api, local_server.url("/watch?v=42"))
    assert status == 201, body
    submission = Submission.objects.get()
    assert submission.kind == "video" and submission.size_bytes == len(clip)
    assert submission.original_name == "watch.mp4"


def test_an_animated_gif_larger_than_the_image_limit_is_fetched_as_a_clip(api, allow_loopback, local_server, settings):
    gif = clips.gif_animation()
    settings.VERITY_MAX_UPLOAD_BYTES = len(gif) // 2
    local_server.route("/loop.gif", headers={"Content-Type": "image/gif"}, body=gif)
    status, body = submit_url(api, local_server.url("/loop.gif"))
    assert status == 201, body
    assert Submission.objects.get().kind == "video"


def test_a_clip_over_the_video_limit_is_refused_naming_the_video_limit(api, allow_loopback, local_server, settings):
    clip = clips.red_clip()
    settings.VERITY_MAX_VIDEO_BYTES = len(clip) - 1
    local_server.route("/clip.mp4", headers={"Content-Type": "video/mp4"}, body=clip)
    status, body = submit_url(api, local_server.url("/clip.mp4"))
    assert status == 400
    error = body["errors"][0]
    assert error["code"] == "url_too_large" and error["attr"] == "url"
    assert "the limit for videos is" in error["detail"] and error["detail"].startswith("the video is")
    assert not Submission.objects.exists()


@pytest.mark.parametrize("content_type", ["image/jpeg", "video/mp4"])
def test_an_image_over_the_image_limit_is_still_refused_even_when_the_server_calls_it_a_video(
    api, allow_loopback, local_server, settings, content_type
):
    image = make_image_bytes(size=(256, 256))
    settings.VERITY_MAX_UPLOAD_BYTES = len(image) - 1
    settings.VERITY_MAX_VIDEO_BYTES = len(image) * 10
    local_server.route("/big.jpg", headers={"Content-Type": content_type}, body=image)
    status, body = submit_url(api, local_server.url("/big.jpg"))
    assert status == 400
    error = body["errors"][0]
    assert error["code"] == "url_too_large"
    assert error["detail"].startswith("the image is") and "the limit for images is" in error["detail"]
    assert not Submission.objects.exists()


def test_a_still_gif_over_the_image_limit_is_refused_as_an_image(api, allow_loopback, local_server, settings):
    gif = make_image_bytes("GIF", size=(256, 256))
    settings.VERITY_MAX_UPLOAD_BYTES = len(gif) - 1
    local_server.route("/still.gif", headers={"Content-Type": "image/gif"}, body=gif)
    status, body = submit_url(api, local_server.url("/still.gif"))
    assert body["errors"][0]["code"] == "url_too_large"
    assert "the limit for images is" in body["errors"][0]["detail"]


class EndlessResponse:
    """A response without Content-Length whose body never ends; counts the chunks read from it."""

    headers = {}

    def __init__(self, first):
        self.first, self.chunks_read, self.released = first, 0, False

    def stream(self, amount, decode_content=False):
        yield self.first
        self.chunks_read += 1
        while True:
            self.chunks_read += 1
            yield b"\0" * amount

    def release_conn(self):
        self.released = True


@pytest.mark.parametrize(
    "first, limit_setting, what",
    [
        (clips.red_clip()[:64], "VERITY_MAX_VIDEO_BYTES", "video"),
        (b"\xff\xd8\xff\xe0" + b"\0" * 60, "VERITY_MAX_UPLOAD_BYTES", "image"),
    ],
    ids=["a clip", "an image"],
)
def test_a_body_without_a_length_is_read_only_up_to_its_kinds_limit(settings, first, limit_setting, what):
    setattr(settings, limit_setting, 10 * fetch.CHUNK)
    response = EndlessResponse(first)
    choose = lambda head: fetch._cap_for(fetch.media_kind(head, "video/mp4"))  # noqa: E731
    with pytest.raises(fetch.TooLarge, match=f"the limit for {what}s is"):
        fetch._read_limited(response, choose, deadline=float("inf"))
    assert response.chunks_read <= 12 and response.released


def test_heic_and_avif_start_like_an_mp4_but_are_held_to_the_image_limit():
    assert fetch.media_kind(b"\0\0\0\x1cftypheic" + b"\0" * 52, "image/heic") == "image"
    assert fetch.media_kind(b"\0\0\0\x1cftypavif" + b"\0" * 52, "video/mp4") == "image"
    assert fetch.media_kind(b"\0\0\0\x1cftypisom" + b"\0" * 52, "image/jpeg") == "video"
