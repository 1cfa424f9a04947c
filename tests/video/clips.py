"""Small clips made in the test with PyAV from synthetic frames (no files from outside the repository)."""
import io
import struct
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

FACE = Path(__file__).resolve().parents[1] / "fixtures" / "astronaut.jpg"

ENCODERS = {"h264": "libx264", "hevc": "libx265", "vp8": "libvpx", "vp9": "libvpx-vp9", "mpeg4": "mpeg4"}
FAST = {
    "libx264": {"preset": "ultrafast"},
    "libx265": {"preset": "ultrafast", "log-level": "error"},
    "libvpx": {"deadline": "realtime", "cpu-used": "16"},
    "libvpx-vp9": {"deadline": "realtime", "cpu-used": "8"},
}


def colour_frames(count, size=(64, 48), colour=(200, 30, 30)):
    """Solid frames of one colour with a small moving square (so that frames differ)."""
    w, h = size
    for i in range(count):
        array = np.zeros((h, w, 3), np.uint8)
        array[:] = colour
        x = (i * 3) % max(1, w - 8)
        array[2:8, x: x + 6] = 255 - np.array(colour, np.uint8)
        yield array


def encode(frames, *, fps=10, codec="h264", fmt="mp4", size=None, gop=None, rotation=None, path=None, pts=None,
           options=None, metadata=None):
    """Bytes of a clip of `frames` (RGB arrays or PIL images); `pts` gives each frame's time in 1/1000 s (VFR)."""
    frames = [np.asarray(f.convert("RGB")) if isinstance(f, Image.Image) else f for f in frames]
    h, w = frames[0].shape[:2] if size is None else size[::-1]
    target = str(path) if path else io.BytesIO()
    with av.open(target, "w", format=fmt, options=options or {}) as container:
        if metadata:
            container.metadata.update(metadata)
        stream = container.add_stream(ENCODERS[codec], rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = dict(FAST.get(ENCODERS[codec], {}), **({"g": str(gop)} if gop else {}))
        if pts is not None:
            stream.codec_context.time_base = Fraction(1, 1000)
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for index, array in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(array[:h, :w]), format="rgb24")
            if pts is not None:
                frame.pts = pts[index]
                frame.time_base = Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return Path(path).read_bytes() if path else target.getvalue()


def red_clip(count=12, **kwargs):
    return encode(list(colour_frames(count)), **kwargs)


def green_clip(count=12, **kwargs):
    return encode(list(colour_frames(count, colour=(30, 170, 40))), **kwargs)


def audio_only_mp4():
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=44100)
        for index in range(20):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 44100, index * 1024
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def with_box_patched(data, box, offset, fmt, *values):
    """`data` with `values` packed at `offset` bytes after the (first) `box` four-character code."""
    patched = bytearray(data)
    at = patched.find(box)
    assert at > 0, f"no {box!r} box"
    struct.pack_into(fmt, patched, at + offset, *values)
    return bytes(patched)


def claiming_hours(data):
    """A 10-frame MP4 whose headers claim 10 hours: movie and media headers, and each frame lasting an hour."""
    media_timescale = struct.unpack_from(">I", data, data.find(b"mdhd") + 16)[0]
    for box in (b"mvhd", b"mdhd"):
        at = data.find(box)
        timescale = struct.unpack_from(">I", data, at + 16)[0]
        data = with_box_patched(data, box, 20, ">I", timescale * 36000)
    movie_timescale = struct.unpack_from(">I", data, data.find(b"mvhd") + 16)[0]
    data = with_box_patched(data, b"tkhd", 24, ">I", movie_timescale * 36000)
    data = with_box_patched(data, b"elst", 12, ">I", movie_timescale * 36000)  # the edit list's one segment
    # stts: version and flags, entry count, then (sample count, sample delta) of the first entry.
    return with_box_patched(data, b"stts", 16, ">I", media_timescale * 3600)


def gif_animation(frames=4, size=(64, 48), screen=None):
    """An animated GIF; `screen` overrides the logical screen size its header claims (a bomb-like header)."""
    images = [Image.new("RGB", size, (40 * i, 90, 200 - 40 * i)) for i in range(frames)]
    buffer = io.BytesIO()
    images[0].save(buffer, "GIF", save_all=True, append_images=images[1:], duration=100, loop=0)
    data = bytearray(buffer.getvalue())
    if screen:
        struct.pack_into("<HH", data, 6, *screen)
    return bytes(data)


def webp_animation(frames=4, size=(64, 48), colour=(200, 30, 30)):
    images = [Image.new("RGB", size, colour) for _ in range(frames)]
    for index, image in enumerate(images):
        image.paste((255, 255, 255), (index * 4, 4, index * 4 + 6, 10))
    buffer = io.BytesIO()
    images[0].save(buffer, "WEBP", save_all=True, append_images=images[1:], duration=[100, 200, 100, 300][:frames], loop=0)
    return buffer.getvalue()


def face_frames(count, size=(480, 360), tint=None, drift=4):
    """Frames of a real face photo moving slowly across a textured background (OpenCV finds the face)."""
    face = Image.open(FACE).convert("RGB")
    face = face.resize((face.width * 200 // face.height, 200))
    background = Image.blend(face.resize(size), Image.new("RGB", size, (90, 110, 130)), 0.5)
    if tint is not None:
        face = Image.blend(face, Image.new("RGB", face.size, tint), 0.45)
    for index in range(count):
        frame = background.copy()
        frame.paste(face, (size[0] // 2 - face.width // 2 + index * drift - count * drift // 2, size[1] // 2 - 100))
        yield frame
