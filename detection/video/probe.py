"""Video upload validation: the bytes must really be a clip we can read, within the limits in settings.

Everything here runs before anything is stored, like image validation (detection/validation.py), and
each failure raises `InvalidVideo` with a reason a journalist can act on. What is checked, in order:
what the bytes are (never the file name), the file name against that, the container (opens, has a video
track, a codec we decode), the header's claims (frame size, duration), every packet's timestamp (truncation,
frame count, frame rate), and the first and last keyframes decode.

Variable frame rate and a quarter-turn rotation are accepted (phones record both): frames are sampled by
their timestamps and turned upright. Timestamps that repeat, a rotation that is not a quarter turn, and a
frame rate above VERITY_MAX_VIDEO_FPS are refused.
"""
import hashlib
import io
import warnings
from dataclasses import dataclass, field
from pathlib import PurePath

import av
from django.conf import settings
from PIL import Image, UnidentifiedImageError

from ..validation import InvalidImage
from . import reader

# Container -> (MIME type, extensions that may carry it, codecs accepted in it).
FORMATS = {
    "MP4": ("video/mp4", {".mp4", ".m4v"}, {"h264", "hevc"}),
    "MOV": ("video/quicktime", {".mov"}, {"h264", "hevc"}),
    "WebM": ("video/webm", {".webm"}, {"vp8", "vp9"}),
    "GIF": ("image/gif", {".gif"}, set()),
    "WebP": ("image/webp", {".webp"}, set()),
}
EXTENSION_FOR_FORMAT = {"MP4": ".mp4", "MOV": ".mov", "WebM": ".webm", "GIF": ".gif", "WebP": ".webp"}
FORMAT_WORDS = {
    "MP4": "an MP4 video", "MOV": "a QuickTime (MOV) video", "WebM": "a WebM video", "GIF": "an animated GIF",
    "WebP": "an animated WebP",
}
VIDEO_EXTENSIONS = {".mp4", ".m4v", ".mov", ".webm"}
ACCEPTED_VIDEO = "MP4 or MOV (H.264, H.265), WebM (VP8, VP9), or an animated GIF or WebP"
CODEC_NAMES = {"h264": "H.264", "hevc": "H.265", "vp8": "VP8", "vp9": "VP9"}
# What other media files start with: named so that the rejection says what the file is.
OTHER_MEDIA = {b"OggS": "an Ogg file", b"ID3": "an MP3 file", b"fLaC": "a FLAC file", b"FLV": "a Flash video"}
# Packets demuxed at most (a 10-minute clip at 240 frames a second); a file with more is refused unread.
TIMESTAMP_TOLERANCE = 1e-4


class InvalidVideo(InvalidImage):
    """The upload is not a video we accept; the message says why. (An InvalidImage: callers handle both.)"""


@dataclass(frozen=True)
class ValidatedVideo:
    data: bytes
    name: str
    format: str
    content_type: str
    width: int  # as shown: after the rotation
    height: int
    sha256: str
    duration: float  # seconds
    frame_count: int
    frame_rate: float  # average frames per second
    codec: str
    rotation: int = 0
    variable_frame_rate: bool = False
    keyframes: int = 0
    metadata: dict = field(default_factory=dict)  # container and stream tags, as read (metadata.py filters)
    poster: Image.Image = None  # the first frame, upright, RGB

    @property
    def size(self):
        return len(self.data)

    @property
    def extension(self):
        return EXTENSION_FOR_FORMAT[self.format]


# ISO media brands of still images (HEIC, AVIF): their files start with an ftyp box like an MP4's.
STILL_IMAGE_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif", b"avis"}


def is_still_image_box(data):
    """HEIC or AVIF: an ISO media file (an ftyp box first, like an MP4's) whose brand is a still image."""
    return data[4:8] == b"ftyp" and data[8:12] in STILL_IMAGE_BRANDS


def sniff(data):
    """The container the bytes are ("MP4", "MOV", "WebM", "GIF", "WebP", "other: ..."), or None: never the name.

    None for HEIC and AVIF images too: they are images, whatever their box structure shares with MP4."""
    head = data[:64]
    if is_still_image_box(head):
        return None
    if head[4:8] == b"ftyp":
        return "MOV" if head[8:12] == b"qt  " else "MP4"
    if head[4:8] in (b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"):
        return "MOV"  # QuickTime files from before the ftyp box
    if head[:4] == b"\x1aE\xdf\xa3":
        return "WebM" if b"webm" in head else "other: a Matroska (MKV) file"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    if head[:4] == b"RIFF" and head[8:12] in (b"AVI ", b"WAVE"):
        return "other: " + ("an AVI video" if head[8:12] == b"AVI " else "a WAV audio file")
    for magic, what in OTHER_MEDIA.items():
        if head.startswith(magic):
            return f"other: {what}"
    return None


def is_animated(data):
    """An animated GIF or WebP (more than one frame); False for a still one or bytes Pillow cannot open."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            return bool(getattr(image, "is_animated", False))
    except Exception:  # a damaged or hostile file: the animation path will say what is wrong with it
        return False


def _image_pillow_opens(data):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as image:
                return image.format
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return None


def is_video_upload(data, name):
    """Whether an upload goes through video validation: decided by its bytes, or its name when they are unreadable.

    A still GIF or WebP is an image; an animated one is a video. A file named .mp4 that is not any container
    we recognise, and not an image either, is a damaged video (and is told so).
    """
    kind = sniff(data)
    if kind in ("GIF", "WebP"):
        return is_animated(data) or (kind == "GIF" and _image_pillow_opens(data) is None)
    if kind is not None:
        return True
    ext = PurePath(name or "").suffix.lower()
    return ext in VIDEO_EXTENSIONS and _image_pillow_opens(data) is None


def validate_video(data, name):
    """Check `data` (bytes) uploaded as `name`; return a ValidatedVideo or raise InvalidVideo."""
    name = PurePath(name or "upload").name[:255] or "upload"
    ext = PurePath(name).suffix.lower()
    if len(data) == 0:
        raise InvalidVideo("the file is empty (0 bytes)")
    limit = settings.VERITY_MAX_VIDEO_BYTES
    if len(data) > limit:
        raise InvalidVideo(f"the video is {_mb(len(data))}; the limit for videos is {_mb(limit)}")
    kind = sniff(data)
    if kind is not None and kind.startswith("other: "):
        raise InvalidVideo(f"the file is {kind[7:]}; upload {ACCEPTED_VIDEO}")
    if kind is not None:
        _check_name(kind, ext)
    elif ext not in VIDEO_EXTENSIONS:
        raise InvalidVideo(f"'{ext or 'no extension'}' files are not accepted as video; upload {ACCEPTED_VIDEO}")
    if kind in ("GIF", "WebP"):
        facts = _probe_animation(data, kind)
    else:
        facts = _probe_container(data, kind)
    return ValidatedVideo(data=data, name=name, sha256=hashlib.sha256(data).hexdigest(), **facts)


def _check_name(kind, ext):
    content_type, extensions, _ = FORMATS[kind]
    if ext not in extensions:
        what = FORMAT_WORDS[kind]
        raise InvalidVideo(
            f"the file is named '{ext or 'without an extension'}' but is really {what}; "
            f"rename it {EXTENSION_FOR_FORMAT[kind]} and try again"
        )


def _check_frame_size(width, height):
    limit = settings.VERITY_MAX_VIDEO_PIXELS
    if width <= 0 or height <= 0:
        raise InvalidVideo("the video's header gives no frame size: the file is damaged")
    if width * height > limit:
        raise InvalidVideo(
            f"the video's frames are {width}x{height} pixels ({width * height / 1e6:.0f} megapixels each); "
            f"the limit is {limit / 1e6:.1f} megapixels a frame"
        )


def _check_duration(seconds, claimed=False):
    limit = settings.VERITY_MAX_VIDEO_SECONDS
    if seconds > limit:
        said = "the file says the video lasts" if claimed else "the video lasts"
        raise InvalidVideo(f"{said} {_clock(seconds)}; the limit is {_clock(limit)}")


def _probe_container(data, kind):
    try:
        clip = reader.ContainerClip(data)
    except IndexError:
        clip = None  # opened, but no video stream: say what is there instead
    except av.EOFError:
        raise InvalidVideo("the file ends before the video's first frame: it has no frames, or is cut short") from None
    except av.FFmpegError as exc:
        raise InvalidVideo(f"the video is damaged or truncated and cannot be opened ({_reason(exc)})") from None
    if clip is None:
        with av.open(io.BytesIO(data), metadata_errors="replace") as container:
            if container.streams.audio:
                raise InvalidVideo(f"the file has only an audio track, no video; upload {ACCEPTED_VIDEO}")
            raise InvalidVideo("the file has no video track (it holds no frames)")
    with clip:
        return _container_facts(clip, kind)


def _container_facts(clip, kind):
    container, stream = clip.container, clip.stream
    if kind is None:  # unrecognised bytes that PyAV still opened (a damaged header): name the container it saw
        kind = "WebM" if "webm" in container.format.name else "MP4" if "mp4" in container.format.name else None
        if kind is None:
            raise InvalidVideo(f"the file is a {container.format.long_name} file; upload {ACCEPTED_VIDEO}")
    context = stream.codec_context
    accepted = FORMATS[kind][2]
    if context is None:
        tag = stream.codec_tag if hasattr(stream, "codec_tag") else "unknown"
        raise InvalidVideo(
            f"the video is encoded with a codec we cannot decode ('{tag}'); upload {ACCEPTED_VIDEO}"
        )
    if context.name not in accepted:
        wanted = ", ".join(CODEC_NAMES[c] for c in sorted(accepted))
        raise InvalidVideo(
            f"the video is encoded with {context.codec.long_name}; {kind} videos are accepted in {wanted}"
        )
    _check_frame_size(context.width, context.height)
    if container.duration:
        _check_duration(container.duration / av.time_base, claimed=True)

    max_packets = int(settings.VERITY_MAX_VIDEO_SECONDS * settings.VERITY_MAX_VIDEO_FPS)
    index = clip.packet_index(max_packets=max_packets)
    times = index.times
    if len(times) > max_packets:
        raise InvalidVideo(f"the video has more than {max_packets:,} frames; the limit is {_clock(settings.VERITY_MAX_VIDEO_SECONDS)} "
                           f"at {settings.VERITY_MAX_VIDEO_FPS:g} frames a second")
    if not times:
        raise InvalidVideo("the video has no frames")
    declared = stream.frames or 0
    if not index.complete or (declared and len(times) < declared):
        held = f"{len(times)} of the {declared} frames it declares" if declared else f"only {len(times)} frames"
        raise InvalidVideo(f"the video is truncated or damaged: the file holds {held}")
    if not index.keyframes:
        raise InvalidVideo("the video has no keyframe to start decoding from: the file is damaged")
    ordered = sorted(times)
    gaps = [b - a for a, b in zip(ordered, ordered[1:])]
    if any(gap < TIMESTAMP_TOLERANCE for gap in gaps):
        raise InvalidVideo("two frames of the video have the same timestamp: the file is damaged")
    frame_time = sorted(gaps)[len(gaps) // 2] if gaps else 1 / 30
    duration = ordered[-1] - ordered[0] + frame_time
    _check_duration(duration)
    frame_rate = len(times) / duration
    if frame_rate > settings.VERITY_MAX_VIDEO_FPS:
        raise InvalidVideo(
            f"the video runs at {frame_rate:.0f} frames a second; the limit is {settings.VERITY_MAX_VIDEO_FPS:g}"
        )
    variable = bool(gaps) and max(gaps) > 1.5 * min(gaps)

    poster, rotation = _decode_check(clip, index)
    width, height = poster.size
    return dict(
        format=kind,
        content_type=FORMATS[kind][0],
        width=width,
        height=height,
        duration=round(duration, 4),
        frame_count=len(times),
        frame_rate=round(frame_rate, 3),
        codec=context.name,
        rotation=rotation,
        variable_frame_rate=variable,
        keyframes=len(index.keyframes),
        metadata={"container": dict(container.metadata), "stream": dict(stream.metadata)},
        poster=poster,
    )


def _decode_check(clip, index):
    """Decode the first frame and the last keyframe's: a damaged stream fails here, not in the worker."""
    try:
        stream = clip.stream
        first = next(clip.container.decode(stream), None)
        if first is None:
            raise InvalidVideo("the video has no frame that can be decoded: the file is damaged")
        rotation = reader.normalised_rotation(first.rotation)
        if rotation % 90:
            raise InvalidVideo(
                f"the video asks to be shown turned by {rotation}°; only quarter turns (90°, 180°, 270°) are supported"
            )
        poster = reader.turned_upright(first.to_image(), rotation)
        last = list(clip.frames_at([index.keyframes[-1]]))
        if not last:
            raise InvalidVideo("the end of the video cannot be decoded: the file is damaged")
    except av.FFmpegError as exc:
        raise InvalidVideo(f"the video is damaged and cannot be decoded ({_reason(exc)})") from None
    return poster, rotation


def _probe_animation(data, kind):
    max_frames = int(settings.VERITY_MAX_VIDEO_SECONDS * settings.VERITY_MAX_VIDEO_FPS)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            clip = reader.AnimationClip(data)
            with clip:
                width, height = clip.image.size
                _check_frame_size(width, height)
                starts = clip.frame_times(max_frames=max_frames)
                if len(starts) > max_frames:
                    raise InvalidVideo(f"the animation has more than {max_frames:,} frames")
                duration = clip.duration
                _check_duration(duration)
                clip.image.seek(len(starts) - 1)
                clip.image.load()  # the last frame decodes: a truncated file fails here
                clip.image.seek(0)
                poster = clip.image.convert("RGB")
    except InvalidVideo:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InvalidVideo(f"the animation's frames are too large to decode safely ({exc})") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise InvalidVideo(f"the animation is damaged or truncated and cannot be decoded ({exc})") from None
    if len(starts) < 2:
        raise InvalidVideo("the file is a still image, not an animation")
    return dict(
        format=kind,
        content_type=FORMATS[kind][0],
        width=width,
        height=height,
        duration=round(duration, 4),
        frame_count=len(starts),
        frame_rate=round(len(starts) / duration, 3) if duration else 0.0,
        codec=kind.lower(),
        variable_frame_rate=len({round(b - a, 3) for a, b in zip(starts, starts[1:])}) > 1,
        keyframes=len(starts),
        metadata={},
        poster=poster,
    )


def _reason(exc):
    # FFmpeg's own words, without the errno prefix PyAV adds.
    return getattr(exc, "strerror", None) or str(exc)


def _clock(seconds):
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d} (hours)"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


def _mb(n):
    return f"{n / (1024 * 1024):.1f} MB"
