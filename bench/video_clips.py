"""Labelled test clips made from the face dataset's still images, and frame-level vs video-level ROC AUC on them.

    .venv/bin/python bench/video_clips.py --model models/default.keras --json var/video-clips.json

No labelled video set exists here, so clips are built from the test split: each clip strings shots of one
class (each shot one image, slowly zooming and drifting over a blurred copy of itself, the way a camera move
looks), encoded with H.264 at a web bitrate; a mixed clip has one fake shot in the middle of real ones and is
labelled fake. Clips are scored the way the platform scores an upload (detection/video/: the same sampling,
face crops, tracks and verdict rules), with the model's own temperature. Prints JSON: frame-level ROC AUC
(every sampled frame, labelled by its shot), video-level ROC AUC per combining rule, and counts.

What this does and does not show: see the model card's "Video" section. In short, it measures whether
combining frames helps on these clips, not how the detector fares on real deepfake video (no temporal
artefacts, no real face-swap pipelines, one still per shot).
"""
import argparse
import io
import json
import random
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._common import DEFAULT_DATASET, setup_django, write_json  # noqa: E402

SIZE = (640, 360)
FPS = 12
SHOT_SECONDS = 1.5
BITRATE = 800_000  # bits a second: a web-quality 360p stream
FACE_HEIGHT = 240


def shot_frames(image, seconds=SHOT_SECONDS, rng=None):
    """Frames of one shot: the image zooming in (1.0 to 1.15) and drifting sideways over a blurred copy of itself."""
    from PIL import Image, ImageFilter

    rng = rng or random.Random(0)
    width, height = SIZE
    background = image.resize(SIZE).filter(ImageFilter.GaussianBlur(8))
    background = Image.blend(background, Image.new("RGB", SIZE, (60, 60, 60)), 0.3)
    count = round(seconds * FPS)
    direction = rng.choice((-1, 1))
    for index in range(count):
        progress = index / max(1, count - 1)
        zoom = 1.0 + 0.15 * progress
        face_h = round(FACE_HEIGHT * zoom)
        face = image.resize((round(image.width * face_h / image.height), face_h))
        x = width // 2 - face.width // 2 + round(direction * 40 * (progress - 0.5))
        y = height // 2 - face.height // 2
        frame = background.copy()
        frame.paste(face, (x, y))
        yield frame


def encode(frames):
    """H.264 MP4 bytes of `frames` at FPS, BITRATE, a keyframe every two seconds."""
    import av

    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = SIZE[0], SIZE[1], "yuv420p"
        stream.bit_rate = BITRATE
        stream.options = {"preset": "veryfast", "g": str(2 * FPS)}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_image(frame)):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def build_clips(samples, per_class, mixed, shots, seed):
    """[(name, clip label, [(shot label, image path)])]: one-class clips, and mixed ones with a fake middle shot."""
    rng = random.Random(seed)
    pools = {label: [s for s in samples if s.label == label] for label in (0, 1)}
    for pool in pools.values():
        rng.shuffle(pool)
    clips = []
    for label in (0, 1):
        for number in range(per_class):
            chosen = [pools[label].pop() for _ in range(shots)]
            clips.append((f"{'fake' if label else 'real'}-{number:02d}", label, [(label, s.path) for s in chosen]))
    for number in range(mixed):
        reals = [pools[0].pop() for _ in range(shots)]
        middle = shots // 2
        parts = [(0, s.path) for s in reals[:middle]] + [(1, pools[1].pop().path)] + [(0, s.path) for s in reals[middle:]]
        clips.append((f"mixed-{number:02d}", 1, parts))
    return clips


def score_clip(data, detector, size, rate, max_frames, duration):
    """Each sampled frame's {"t", "probability", "subject", "faces"} scored as detection/video/scoring.py does."""
    from detection.inference import crops
    from detection.video import facesearch, reader, tracks
    from detection.video.scoring import CHUNK_FRAMES, DETECT_SIDE

    frames, batch = [], []
    with reader.ContainerClip(data) as clip:
        decoded = list(clip.frames_at(reader.sample_times(duration, rate, max_frames)))
    for at in range(0, len(decoded), CHUNK_FRAMES):  # faces are searched chunk by chunk, as the worker does
        chunk = decoded[at: at + CHUNK_FRAMES]
        for (t, image), boxes in zip(chunk, facesearch.search([image for _, image in chunk], DETECT_SIDE)):
            found = crops.scoring_input_from_boxes(image, size, boxes, 16)
            frames.append({"t": round(t, 3), "subject": found.subject, "boxes": found.boxes, "n": len(found.crops),
                           "signature": tracks.frame_signature(image)})
            batch.extend(found.crops)
    probabilities = detector(np.stack(batch))
    at = 0
    for frame in frames:
        own = [float(p) for p in probabilities[at: at + frame["n"]]]
        at += frame["n"]
        frame["probability"] = crops.combine(own)
        frame["faces"] = [{"box": list(b), "probability": p} for b, p in zip(frame.pop("boxes"), own)] \
            if frame["subject"] != crops.NO_FACE else []
        frame.pop("n")
    return frames


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="models/default.keras")
    parser.add_argument("--dataset", default=str(DEFAULT_DATASET))
    parser.add_argument("--split", default="test")
    parser.add_argument("--clips-per-class", type=int, default=16)
    parser.add_argument("--mixed", type=int, default=8)
    parser.add_argument("--shots", type=int, default=4)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--json", default="")
    args = parser.parse_args()
    setup_django()

    from django.conf import settings
    from PIL import Image

    from detection.inference.runtime import apply_temperature
    from detection.inference import crops
    from detection.video import tracks, verdict
    from training import metrics as M
    from training.datasets import load_dataset
    from training.ensembles import fake_column
    from training.evaluation import load_model

    card = json.loads((Path(args.model).parent / "default.json").read_text()) if Path(args.model).name == "default.keras" else {}
    temperature = float(card.get("temperature", 1.0))
    model = load_model(args.model)
    size = int(model.input_shape[1])

    def detector(batch):
        raw = np.concatenate([fake_column(model(batch[i: i + 32], training=False)) for i in range(0, len(batch), 32)])
        return apply_temperature(raw, temperature) if temperature != 1.0 else raw

    samples = load_dataset(args.dataset).split(args.split)
    plan = build_clips(samples, args.clips_per_class, args.mixed, args.shots, args.seed)
    rate, max_frames = settings.VERITY_VIDEO_SAMPLE_RATE, settings.VERITY_VIDEO_MAX_FRAMES
    frame_labels, frame_scores, video_labels, rule_scores = [], [], [], defaultdict(list)
    kinds, faces_found, encode_s, score_s = [], 0, 0.0, 0.0
    rng = random.Random(args.seed)
    for name, label, parts in plan:
        started = time.perf_counter()
        frames = [f for _, path in parts for f in shot_frames(Image.open(path).convert("RGB"), rng=rng)]
        data = encode(frames)
        encode_s += time.perf_counter() - started
        duration = len(frames) / FPS
        started = time.perf_counter()
        scored = score_clip(data, detector, size, rate, max_frames, duration)
        score_s += time.perf_counter() - started
        for frame in scored:
            shot = min(int(frame["t"] / SHOT_SECONDS), len(parts) - 1)
            frame_labels.append(parts[shot][0])
            frame_scores.append(frame["probability"])
            faces_found += frame["subject"] != crops.NO_FACE
        for index, frame in enumerate(tracks.mark_cuts(scored)):
            frame["index"] = index
        with_faces = tracks.frames_with_faces(scored, lambda f: f["subject"] != crops.NO_FACE)
        face_tracks = tracks.follow_faces(with_faces)
        scores = [f["probability"] for f in with_faces] or [f["probability"] for f in scored]
        for rule in verdict.RULES:
            rule_scores[rule].append(verdict.combine(scores, face_tracks, rule=rule))
        video_labels.append(label)
        kinds.append(name.split("-")[0])
        print(f"{name}: {len(scored)} frames, {len(face_tracks)} tracks, "
              + ", ".join(f"{r} {rule_scores[r][-1]:.3f}" for r in verdict.RULES), file=sys.stderr)

    labels, kinds = np.array(video_labels), np.array(kinds)
    pure = kinds != "mixed"
    out = {
        "model": args.model,
        "temperature": temperature,
        "clips": {"real": int((kinds == "real").sum()), "fake": int((kinds == "fake").sum()), "mixed (labelled fake)": int((~pure).sum())},
        "clip": {"size": list(SIZE), "fps": FPS, "shot_seconds": SHOT_SECONDS, "shots": args.shots, "codec": "H.264",
                 "bitrate": BITRATE, "sample_rate": rate},
        "sampled_frames": len(frame_scores),
        "face_found_share": round(faces_found / len(frame_scores), 4),
        "frame_level_auc": round(M.summarise(np.array(frame_labels), np.array(frame_scores), 0.5)["roc_auc"], 4),
        "video_level_auc": {r: round(M.summarise(labels, np.array(s), 0.5)["roc_auc"], 4) for r, s in rule_scores.items()},
        "video_level_auc_without_mixed": {
            r: round(M.summarise(labels[pure], np.array(s)[pure], 0.5)["roc_auc"], 4) for r, s in rule_scores.items()
        },
        "chosen_rule": verdict.RULE,
        "seconds": {"building_and_encoding": round(encode_s, 1), "scoring": round(score_s, 1)},
    }
    print(json.dumps(out, indent=2))
    write_json(args.json, out)


if __name__ == "__main__":
    main()
