"""Face-crop serving against whole-image scoring on a labelled split: how often a face is found, and the ROC AUC
of each path, per source. Prints JSON.

The dataset's images are face crops already, so the face path mostly scores them whole (the largest face
fills the image); this shows what the serving path costs or gains on the data the model was judged on, and how
often it would answer "no face" there.

    .venv/bin/python bench/face_crops.py --model models/default.keras --dataset ../shared/datasets/faces
"""
import argparse
import json
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from _common import DEFAULT_DATASET, setup_django, write_json


def main():
    setup_django()

    from detection.inference import crops
    from training import metrics as M
    from training.datasets import load_dataset
    from training.evaluation import load_model, predict
    from training.preprocessing import load_image

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--dataset", default=str(DEFAULT_DATASET))
    parser.add_argument("--split", default="test")
    parser.add_argument("--json", default="")
    parser.add_argument("--full-search", action="store_true", help="no close-up search first (close_up_first=False)")
    args = parser.parse_args()

    model = load_model(args.model)
    size = int(model.input_shape[1])
    samples = load_dataset(args.dataset).split(args.split)
    whole, face, subjects, search_s = [], [], [], 0.0
    for sample in samples:
        data = Path(sample.path).read_bytes()
        whole.append(load_image(data, size))
        started = time.perf_counter()
        found = crops.scoring_input(data, size, close_up_first=not args.full_search)
        search_s += time.perf_counter() - started
        face.append(found.crops)
        subjects.append(found.subject)
    whole_scores, _ = predict(model, np.stack(whole))
    flat = np.stack([c for group in face for c in group])
    flat_scores, _ = predict(model, flat)
    face_scores, at = [], 0
    for group in face:
        face_scores.append(crops.combine(flat_scores[at : at + len(group)]))
        at += len(group)
    face_scores = np.array(face_scores)
    labels = np.array([s.label for s in samples])
    sources = np.array([s.source for s in samples])
    subjects = np.array(subjects)
    out = {"model": args.model, "split": args.split, "images": len(samples), "close_up_first": not args.full_search,
           "face_search_ms_per_image": round(search_s / len(samples) * 1000, 2), "sources": {}}
    for source in ["all", *sorted(set(sources))]:
        mask = np.ones(len(samples), bool) if source == "all" else sources == source
        counts = defaultdict(int)
        for s in subjects[mask]:
            counts[str(s)] += 1
        found = mask & (subjects != crops.NO_FACE)
        out["sources"][source] = {
            "images": int(mask.sum()),
            "scored_as": dict(counts),
            "face_found_share": float(found.sum() / mask.sum()),
            "auc_whole_image": M.summarise(labels[mask], whole_scores[mask], 0.5)["roc_auc"],
            "auc_face_path": M.summarise(labels[mask], face_scores[mask], 0.5)["roc_auc"],
            "auc_face_path_where_found": M.summarise(labels[found], face_scores[found], 0.5)["roc_auc"] if found.any() else None,
        }
    print(json.dumps(out, indent=2))
    write_json(args.json, out)


if __name__ == "__main__":
    main()
