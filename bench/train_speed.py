"""Training and inference throughput per architecture on this machine (synthetic images; prints a table).

    .venv/bin/python bench/train_speed.py --architectures SmallCNN EfficientNetLite0 EfficientNetV2B1 --size 224
"""
import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main():
    import django

    django.setup()
    import keras
    import numpy as np

    from training.architectures import build_model, count_params

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--architectures", nargs="+", default=["SmallCNN", "EfficientNetLite0", "EfficientNetV2B1"])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (args.batch_size, args.size, args.size, 3)).astype(np.float32)
    y = rng.integers(0, 2, (args.batch_size, 1)).astype(np.float32)
    print(f"{'architecture':<20} {'size':>5} {'params':>12} {'train img/s':>12} {'infer img/s':>12}")
    for architecture in args.architectures:
        model = build_model(architecture, args.size, weights=None)
        model.compile(keras.optimizers.Adam(1e-4), "binary_crossentropy")
        model.train_on_batch(x, y)  # trace and warm up
        started = time.perf_counter()
        for _ in range(args.steps):
            model.train_on_batch(x, y)
        train_rate = args.steps * args.batch_size / (time.perf_counter() - started)
        model(x, training=False)
        started = time.perf_counter()
        for _ in range(args.steps):
            model(x, training=False)
        infer_rate = args.steps * args.batch_size / (time.perf_counter() - started)
        print(f"{architecture:<20} {args.size:>5} {count_params(model):>12,} {train_rate:>12.1f} {infer_rate:>12.1f}", flush=True)


if __name__ == "__main__":
    main()
