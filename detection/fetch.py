"""Fetching a partner's URL without becoming a tool for server-side request forgery (SSRF).

Every hop (the URL, and each redirect) is checked before a connection is made: http or https only, no
credentials in the URL, and every address the host name resolves to must be a public one (not private,
loopback, link-local, shared, reserved, multicast or unspecified). The connection then goes to the
address that was checked, never to a second lookup of the name, so a DNS answer that changes between
the check and the connection (DNS rebinding) cannot slip through. Size and time are limited: the download
stops at the image limit (VERITY_MAX_UPLOAD_BYTES), or at the video limit (VERITY_MAX_VIDEO_BYTES) when its
first bytes (or, where they say nothing, its Content-Type) show a video; never unbounded.

Webhook deliveries use the same guard (`post_json`), so a callback URL cannot reach internal services.
"""
import io
import ipaddress
import socket
import time
from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import unquote, urljoin, urlsplit

import urllib3
from django.conf import settings
from django.template.defaultfilters import filesizeformat
from PIL import Image

from .validation import EXTENSION_FOR_FORMAT
from .video import probe

REDIRECT_STATUSES = {301, 302, 303, 307, 308}
USER_AGENT = "Verity/1.0 (+image fetcher)"
CHUNK = 64 * 1024
HEAD = 64  # bytes enough for probe.sniff to tell the container
STILL_IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n")  # JPEG, PNG


class FetchError(Exception):
    """The URL could not be fetched; `code` is the machine-readable reason given to API clients."""

    code = "url_fetch_failed"


class UnsafeURL(FetchError):
    """The URL (or a redirect) points somewhere the platform must not connect to."""

    code = "url_not_allowed"


class TooLarge(FetchError):
    code = "url_too_large"


@dataclass(frozen=True)
class FetchedImage:
    data: bytes
    name: str
    url: str  # the final URL, after redirects


def resolve(host, port):
    """Every address `host` resolves to (a literal IP resolves to itself). Tests replace this."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchError(f"the host name {host!r} could not be resolved") from exc
    return list(dict.fromkeys(info[4][0] for info in infos))


def check_address(address):
    """Raise UnsafeURL unless `address` is a public unicast IP (loopback only when tests allow it)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback and getattr(settings, "VERITY_API_FETCH_ALLOW_LOOPBACK", False):
        return
    if not ip.is_global or ip.is_multicast or ip.is_reserved or ip.is_unspecified or ip.is_link_local:
        raise UnsafeURL(f"the address {ip} is not a public internet address")


def check_url(url):
    """Check scheme, host and port of `url`; return (parts, port, the checked address to connect to)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeURL(f"the URL is malformed: {exc}") from exc
    if parts.scheme not in ("http", "https"):
        raise UnsafeURL("only http and https URLs are accepted")
    if not parts.hostname:
        raise UnsafeURL("the URL has no host")
    if parts.username or parts.password:
        raise UnsafeURL("URLs with credentials are not accepted")
    port = port or (443 if parts.scheme == "https" else 80)
    addresses = resolve(parts.hostname, port)
    if not addresses:
        raise FetchError(f"the host name {parts.hostname!r} has no address")
    for address in addresses:  # one bad address is enough to refuse: the name could be made to use it
        check_address(address)
    return parts, port, addresses[0]


def _open(method, url, *, body=None, headers=None, timeout):
    """One request to the checked address of `url`: (pool, unread response); redirects are not followed."""
    parts, port, address = check_url(url)
    host_header = parts.netloc  # no credentials (refused above); keeps the brackets of an IPv6 literal
    pool_kwargs = dict(port=port, timeout=urllib3.Timeout(connect=timeout, read=timeout), retries=False, maxsize=1)
    if parts.scheme == "https":
        pool = urllib3.HTTPSConnectionPool(
            address, server_hostname=parts.hostname, assert_hostname=parts.hostname, cert_reqs="CERT_REQUIRED", **pool_kwargs
        )
    else:
        pool = urllib3.HTTPConnectionPool(address, **pool_kwargs)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    all_headers = {"Host": host_header, "User-Agent": USER_AGENT, "Accept-Encoding": "identity", **(headers or {})}
    try:
        response = pool.urlopen(
            method, path, body=body, headers=all_headers, redirect=False, retries=False, preload_content=False
        )
    except urllib3.exceptions.HTTPError as exc:
        pool.close()
        raise FetchError(f"could not connect to {parts.hostname}: {exc.__class__.__name__}") from exc
    return pool, response


@dataclass(frozen=True)
class Cap:
    """How many bytes a download may have, and what to call the file when it has more."""

    max_bytes: int
    what: str = "file"  # "image", "video", or "file" (a webhook's answer)

    def check_declared(self, length):
        if length and length.isdigit() and int(length) > self.max_bytes:
            raise TooLarge(f"the {self.what} is {_size(int(length))}; {self.limit_words}")

    def refuse(self):
        raise TooLarge(f"the {self.what} is larger than {_size(self.max_bytes)}; {self.limit_words}")

    @property
    def limit_words(self):
        kind = {"image": "images", "video": "videos"}.get(self.what)
        return f"the limit for {kind} is {_size(self.max_bytes)}" if kind else f"the limit is {_size(self.max_bytes)}"


def image_cap():
    return Cap(settings.VERITY_MAX_UPLOAD_BYTES, "image")


def video_cap():
    return Cap(settings.VERITY_MAX_VIDEO_BYTES, "video")


def _read_limited(response, cap, deadline):
    """The body of `response`, refused past the cap: checked against Content-Length, then as it streams.

    `cap` is a Cap, or a function that chooses one from the first HEAD bytes (what the file is) before more is read.
    """
    choose = None if isinstance(cap, Cap) else cap
    length = response.headers.get("Content-Length")
    if choose is None:
        cap.check_declared(length)
    buf = bytearray()
    try:
        for chunk in response.stream(CHUNK, decode_content=False):
            buf += chunk
            if choose is not None and len(buf) >= HEAD:
                cap, choose = choose(bytes(buf[:HEAD])), None
                cap.check_declared(length)
            if choose is None and len(buf) > cap.max_bytes:
                cap.refuse()
            if time.monotonic() > deadline:
                raise FetchError("the download took too long")
    except urllib3.exceptions.HTTPError as exc:
        raise FetchError(f"the download failed: {exc.__class__.__name__}") from exc
    finally:
        response.release_conn()
    if choose is not None:  # fewer than HEAD bytes in all
        cap = choose(bytes(buf))
        if len(buf) > cap.max_bytes:
            cap.refuse()
    return bytes(buf)


def media_kind(head, content_type=""):
    """"video", "animation" (a GIF or WebP: a video only if it moves) or "image", from the first bytes of a file.

    The bytes decide (probe.sniff, as uploads are told apart); the server's Content-Type only where they say nothing.
    """
    if probe.is_still_image_box(head):
        return "image"
    kind = probe.sniff(head)
    if kind in ("MP4", "MOV", "WebM"):
        return "video"
    if kind in ("GIF", "WebP"):
        return "animation"
    if kind is None and not head.startswith(STILL_IMAGE_MAGIC):
        if content_type.split(";", 1)[0].strip().lower().startswith("video/"):
            return "video"
    return "image"


def fetch_image(url, *, timeout=None, max_redirects=None):
    """Download an image or clip a partner pointed at; returns FetchedImage or raises FetchError/UnsafeURL/TooLarge.

    A video may be as large as VERITY_MAX_VIDEO_BYTES, an image VERITY_MAX_UPLOAD_BYTES (media_kind tells which).
    """
    timeout = timeout or settings.VERITY_API_FETCH_TIMEOUT
    max_redirects = settings.VERITY_API_FETCH_MAX_REDIRECTS if max_redirects is None else max_redirects
    deadline = time.monotonic() + timeout
    current = url
    for _ in range(max_redirects + 1):
        pool, response = _open("GET", current, headers={"Accept": "image/*, video/*"}, timeout=timeout)
        with pool:
            if response.status in REDIRECT_STATUSES:
                location = response.headers.get("Location")
                response.release_conn()
                if not location:
                    raise FetchError(f"the server answered {response.status} without a Location")
                current = urljoin(current, location)
                continue
            if response.status != 200:
                response.release_conn()
                raise FetchError(f"the server answered {response.status}")
            content_type = response.headers.get("Content-Type", "")
            data = _read_limited(response, lambda head: _cap_for(media_kind(head, content_type)), deadline)
        if media_kind(data[:HEAD], content_type) == "animation" and len(data) > image_cap().max_bytes:
            if not probe.is_animated(data):  # a still GIF or WebP is an image, and held to the image limit
                raise TooLarge(f"the image is {_size(len(data))}; {image_cap().limit_words}")
        return FetchedImage(data=data, name=_name_for(current, data), url=current)
    raise FetchError(f"more than {max_redirects} redirects")


def post_json(url, body, *, headers=None, timeout=None):
    """POST `body` (bytes) to `url` through the guard, without following redirects.

    Returns (status, the first kilobyte of the answer); raises FetchError/UnsafeURL when it cannot be sent.
    """
    timeout = timeout or settings.VERITY_WEBHOOK_TIMEOUT
    pool, response = _open(
        "POST", url, body=body, headers={"Content-Type": "application/json", **(headers or {})}, timeout=timeout
    )
    with pool:
        try:
            text = _read_limited(response, Cap(1 << 20), time.monotonic() + timeout)[:1024].decode("utf-8", "replace")
        except TooLarge:
            text = ""
    return response.status, text


def _cap_for(kind):
    # An animation may be a clip: it streams to the video limit, and a still one is held to the image limit after.
    return video_cap() if kind in ("video", "animation") else image_cap()


def _size(n):
    return filesizeformat(n).replace("\xa0", " ")


def _name_for(url, data):
    """A file name for validation: the URL's last segment with the extension of the format the bytes really are."""
    stem = PurePosixPath(unquote(urlsplit(url).path)).stem or "download"
    try:
        with Image.open(io.BytesIO(data)) as image:
            extension = EXTENSION_FOR_FORMAT.get(image.format)
    except Exception:  # not an image: a clip, or validation says what it is with its own message
        extension = None
    if extension is None:
        extension = probe.EXTENSION_FOR_FORMAT.get(probe.sniff(data))
    suffix = PurePosixPath(unquote(urlsplit(url).path)).suffix
    return f"{stem[:200]}{extension or suffix or '.bin'}"
