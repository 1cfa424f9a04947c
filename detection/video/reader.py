"""Read a clip's frames without decoding more of it than the samples need.

Two readers with one interface: `ContainerClip` (MP4, MOV, WebM through PyAV) and `AnimationClip` (animated
GIF and WebP through Pillow: FFmpeg cannot decode animated WebP). Validation, scoring and evidence ask these
for frames; nothing else opens a video file.
"""
import bisect
import io
from dataclasses import dataclass

import av
from PIL import Image

# Sampled frames are kept for the timeline, the frame strip and the driving faces at most this large.
FRAME_SIDE = 640
# What an animation frame with no (or a zero) delay lasts: what browsers show.
DEFAULT_ANIMATION_DELAY_MS = 100


@dataclass
class PacketIndex:
    """What demuxing (no decoding) a container's video stream tells: every frame's time and the keyframes."""

    times: list  # presentation time (s) of every video frame, in stream order
    keyframes: list  # sorted times (s) of the keyframes
    complete: bool  # False when the demuxer stopped on damaged data before the end
    error: str = ""


def sample_times(duration, rate, max_frames):
    """When to sample a clip of `duration` seconds: `rate` frames a second, at most `max_frames`, spread evenly.

    Each sample sits in the middle of its share of the clip, so neither the first (often black) frame nor
    the last one is preferred.
    """
    count = max(1, min(int(max_frames), int(duration * rate)))
    step = duration / count
    return [round(step * (index + 0.5), 4) for index in range(count)]


def turned_upright(image, rotation):
    """`image` turned the way the file asks it to be shown (its display matrix: a quarter turn or two)."""
    turns = {90: Image.Transpose.ROTATE_90, 180: Image.Transpose.ROTATE_180, 270: Image.Transpose.ROTATE_270}
    return image.transpose(turns[rotation]) if rotation in turns else image


def normalised_rotation(degrees):
    """The display matrix's counter-clockwise rotation (PyAV's `frame.rotation`) in [0, 360): 90 for -270."""
    return round(float(degrees or 0)) % 360


class ContainerClip:
    """A video in an MP4, MOV or WebM container, read with PyAV from bytes."""

    def __init__(self, data):
        self.container = av.open(io.BytesIO(data), metadata_errors="replace")
        self.stream = self.container.streams.video[0]
        self.stream.thread_type = "AUTO"  # frame and slice threads: decoding is most of a clip's cost
        self._index = None
        self.decoded = 0  # frames decoded so far (the benchmark's decode rate)

    def close(self):
        self.container.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _seconds(self, pts):
        return float(pts * self.stream.time_base) if pts is not None else None

    def packet_index(self, max_packets=None):
        """Demux the video stream (cheap: no decoding) and list its frames' times and keyframes."""
        if self._index is not None:
            return self._index
        times, keyframes, complete, error = [], [], True, ""
        start = self.stream.start_time or 0
        try:
            for packet in self.container.demux(self.stream):
                if packet.size == 0:  # the demuxer's end-of-stream marker
                    continue
                t = self._seconds((packet.pts if packet.pts is not None else packet.dts) - start) if (
                    packet.pts is not None or packet.dts is not None) else None
                if t is None:
                    continue
                times.append(t)
                if packet.is_keyframe:
                    keyframes.append(t)
                if max_packets is not None and len(times) > max_packets:
                    break
        except av.FFmpegError as exc:
            complete, error = False, str(exc)
        self.container.seek(0)
        self._index = PacketIndex(times, sorted(keyframes), complete, error)
        return self._index

    def frames_at(self, times):
        """Yield (time, RGB image) of the frame on screen at each of `times` (seconds, increasing).

        The frame on screen at t is the last one whose timestamp is at or before t, which is what a viewer
        saw then, with a variable frame rate too. Keyframe-aware: before each sample, if a keyframe lies
        after the last decoded frame and at or before the sample, seek to it (the decoder needs nothing
        earlier); otherwise keep decoding forward. A clip sampled twice a second with a keyframe every two
        seconds decodes about a third of its frames; `self.decoded` counts them.
        """
        keyframes = self.packet_index().keyframes
        start = self.stream.start_time or 0
        frames = position = previous = pending = None
        for target in times:
            at = bisect.bisect_right(keyframes, target + 1e-6) - 1
            keyframe = keyframes[at] if at >= 0 else 0.0
            if frames is None or (position is not None and keyframe > position + 1e-6):
                self.container.seek(int(keyframe / self.stream.time_base) + start, stream=self.stream, backward=True)
                frames, previous, pending = self.container.decode(self.stream), None, None
            chosen = None
            while True:
                if pending is not None:
                    (t, frame), pending = pending, None
                else:
                    frame = next(frames, None)
                    if frame is None:  # past the last frame: the last one stays on screen
                        chosen = previous
                        break
                    if frame.pts is None:
                        continue
                    self.decoded += 1
                    t = self._seconds(frame.pts - start)
                position = t
                if t > target + 1e-6:
                    pending = (t, frame)
                    chosen = previous or pending
                    break
                previous = (t, frame)
            if chosen is None:
                return
            t, frame = chosen
            yield t, turned_upright(frame.to_image(), normalised_rotation(frame.rotation))


class AnimationClip:
    """An animated GIF or WebP, read with Pillow; frame times come from each frame's delay."""

    def __init__(self, data):
        self.image = Image.open(io.BytesIO(data))

    def close(self):
        self.image.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def frame_times(self, max_frames=None):
        """Start time (s) of each frame; decoding through the file is how Pillow counts them."""
        times, t = [], 0.0
        index = 0
        while True:
            try:
                self.image.seek(index)
                self.image.load()  # WebP reads a frame's delay only when decoding it
            except EOFError:
                break
            times.append(round(t, 4))
            t += (self.image.info.get("duration") or DEFAULT_ANIMATION_DELAY_MS) / 1000
            index += 1
            if max_frames is not None and index > max_frames:
                break
        self._end = t
        return times

    @property
    def duration(self):
        return self._end

    def frames_at(self, times):
        starts = self.frame_times()
        for target in times:
            index = max(0, bisect.bisect_right(starts, target + 1e-6) - 1)
            self.image.seek(index)
            frame = self.image.convert("RGBA").convert("RGB") if "transparency" in self.image.info else self.image.convert("RGB")
            yield starts[index], frame


def open_clip(data, container):
    """The reader for `data` of the given container ("MP4", "MOV", "WebM", "GIF", "WebP")."""
    if container in ("GIF", "WebP"):
        return AnimationClip(data)
    return ContainerClip(data)


def small_copy(image, side=FRAME_SIDE):
    """A copy no larger than `side` on its longest side (frames kept for pages are this size)."""
    copy = image.copy()
    copy.thumbnail((side, side), Image.Resampling.BILINEAR)
    return copy
