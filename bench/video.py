"""Video: decode rate, frames scored per second, and upload-to-verdict time of a 60-second 720p H.264 clip.

    .venv/bin/python bench/video.py [--seconds 60] [--broker redis://...] [--json var/video-bench.json]

Makes its own clip (a face moving over a textured background, 1280x720, 30 frames a second, H.264 at
4 Mbit/s with a keyframe every 2 seconds), then measures in one run:

- decode_fps: every frame decoded with PyAV, as fast as it goes (threads as the scorer uses them);
- sampled decode: what the scorer decodes for its samples (keyframe-aware seeking), frames and seconds;
- frames_scored_per_s: sampled frames through the scoring path in this process (faces found and cut,
  the active model version on the worker's runtime);
- upload_to_verdict_s: a real Celery worker (inference queue) on Redis scores the uploaded clip; seconds
  from the upload's stored time to the stored verdict, and its ratio to the clip's duration (the target is 0.25).

Everything runs in a temporary folder with its own SQLite database and media; ONNX exports are shared with
var/models as the platform keeps them. Prints JSON.
"""
import argparse
import io
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, private_stack_env, start_redis, write_json  # noqa: E402

FACE = ROOT / "tests" / "fixtures" / "astronaut.jpg"
SIZE, FPS, BITRATE, GOP = (1280, 720), 30, 4_000_000, 60


def make_clip(seconds):
    """H.264 MP4 bytes: the face photo drifting and zooming over a blurred copy of itself."""
    import av
    from PIL import Image, ImageFilter

    face = Image.open(FACE).convert("RGB")
    background = face.resize(SIZE).filter(ImageFilter.GaussianBlur(6))
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = SIZE[0], SIZE[1], "yuv420p"
        stream.bit_rate = BITRATE
        stream.options = {"preset": "veryfast", "g": str(GOP)}
        count = int(seconds * FPS)
        for index in range(count):
            phase = index / count
            side = round(360 * (1 + 0.2 * abs(((phase * 4) % 2) - 1)))
            frame = background.copy()
            frame.paste(face.resize((side, side)), (round(200 + 600 * phase), SIZE[1] // 2 - side // 2))
            for packet in stream.encode(av.VideoFrame.from_image(frame)):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def decode_rate(data):
    import av

    started = time.perf_counter()
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        frames = sum(1 for _ in container.decode(stream))
    return frames, frames / (time.perf_counter() - started)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--broker", help="Redis URL (default: start a private redis-server)")
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="verity-video-"))
    redis_proc = None
    if not args.broker:
        redis_proc, args.broker = start_redis(workdir)
    private_stack_env(workdir, args.broker)
    os.environ["MEDIA_ROOT"] = str(workdir / "media")
    import django

    django.setup()
    import numpy as np
    from django.conf import settings
    from django.core.management import call_command

    from detection import services
    from detection.inference import crops
    from detection.inference.runtime import get_detector
    from detection.models import Detection, Submission
    from detection.video import facesearch, reader
    from detection.video.scoring import CHUNK_FRAMES, DETECT_SIDE, SCORING_SIDE
    from training.defaults import ensure_default_model

    started = time.perf_counter()
    data = make_clip(args.seconds)
    figures = {"clip": {"seconds": args.seconds, "size": list(SIZE), "fps": FPS, "codec": "H.264", "bitrate": BITRATE,
                        "keyframe_every_s": GOP / FPS, "bytes": len(data), "made_in_s": round(time.perf_counter() - started, 1)}}
    frames, figures["decode_fps"] = decode_rate(data)
    figures["clip"]["frames"] = frames

    worker = None
    try:
        call_command("migrate", verbosity=0)
        version, _ = ensure_default_model()
        services.export_for_serving(version.pk)
        times = reader.sample_times(args.seconds, settings.VERITY_VIDEO_SAMPLE_RATE, settings.VERITY_VIDEO_MAX_FRAMES)
        started = time.perf_counter()
        with reader.ContainerClip(data) as clip:
            sampled = [image for _, image in clip.frames_at(times)]
            decoded = clip.decoded
        figures["sampled_decode"] = {"samples": len(sampled), "frames_decoded": decoded,
                                     "seconds": round(time.perf_counter() - started, 2)}

        detector = get_detector(version)
        detector.predict(np.zeros((1, version.input_size, version.input_size, 3), np.float32))  # warm-up
        started = time.perf_counter()
        for at in range(0, len(sampled), CHUNK_FRAMES):
            chunk = []
            for image in sampled[at: at + CHUNK_FRAMES]:
                if max(image.size) > SCORING_SIDE:
                    image = image.copy()
                    image.thumbnail((SCORING_SIDE, SCORING_SIDE))
                chunk.append(image)
            found = [crops.scoring_input_from_boxes(image, version.input_size, boxes, 16)
                     for image, boxes in zip(chunk, facesearch.search(chunk, DETECT_SIDE))]
            detector.predict(np.stack([c for f in found for c in f.crops]))
        figures["frames_scored_per_s"] = round(len(sampled) / (time.perf_counter() - started), 2)
        figures["runtime"] = detector.runtime

        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "inference", "--concurrency", "1",
             "-l", "warning", "--without-gossip", "--without-mingle"],
            cwd=ROOT, env=dict(os.environ), stdout=open(workdir / "worker.log", "w"), stderr=subprocess.STDOUT,
        )

        def verdict_of(pk, timeout=900):
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                submission = Submission.objects.get(pk=pk)
                if submission.status in ("scored", "failed"):
                    return submission
                time.sleep(0.05)
            sys.exit(f"timed out; worker log in {workdir / 'worker.log'}")

        warm = services.submit(data=make_clip(2.0), name="warm-up.mp4", source=Submission.Source.API)
        verdict_of(warm.pk)  # the worker loads the model on its first batch: not part of a clip's time

        started = time.perf_counter()
        submission = services.submit(data=data, name="sixty-seconds.mp4", source=Submission.Source.API)
        upload_s = time.perf_counter() - started
        submission = verdict_of(submission.pk)
        wall_s = time.perf_counter() - started
        detection = Detection.objects.filter(submission=submission).first()
        seconds = (submission.scored_at - submission.created_at).total_seconds() if detection else None
        figures["upload_to_verdict"] = {
            "status": submission.status,
            "failure_reason": submission.failure_reason,
            "upload_validation_s": round(upload_s, 2),
            "stored_to_verdict_s": round(seconds, 2) if seconds is not None else None,
            "upload_to_verdict_s": round(wall_s, 2),
            "ratio_to_duration": round(wall_s / args.seconds, 3),
            "frames_scored": submission.frames_scored,
            "label": detection.label if detection else None,
            "worker_reading_ms": round(detection.preprocess_ms) if detection else None,
            "worker_model_ms": round(detection.inference_ms) if detection else None,
        }
    finally:
        if worker:
            worker.terminate()
            worker.wait(timeout=30)
        if redis_proc:
            redis_proc.terminate()
    import json

    print(json.dumps(figures, indent=2))
    write_json(args.json, figures)


if __name__ == "__main__":
    main()
