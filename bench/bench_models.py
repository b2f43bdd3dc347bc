"""Time the ONNX models on one CPU thread (VERIFIER_ONNX_THREADS=1), per item.

    python bench/bench_models.py [--runs N]

Face detection on a 1920x1080 frame, the face-swap model on one 128 px face crop, the
synthetic-image model on one image (9 patches of 128 px). Models that are not installed are
reported as missing. No thresholds: numbers to report (median and p90 over N runs).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from PIL import Image

from verifier import faces, models
from verifier.errors import ModelError
from verifier.settings import Settings


def timed(fn, runs: int) -> str:
    fn()  # warm-up
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return (
        f"median {statistics.median(times):.1f} ms, p90 {times[int(0.9 * (len(times) - 1))]:.1f} ms"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    settings = Settings.from_env({"VERIFIER_ONNX_THREADS": "1"})
    rng = np.random.default_rng(0)
    frame = Image.fromarray(rng.integers(0, 256, (1080, 1920, 3), dtype=np.uint8))
    try:
        card, sess = models.load(settings, "centerface", "face_detection_centerface")
        print(
            "centerface, 1920x1080 frame:",
            timed(lambda: faces.detect_faces(sess, frame, max_side=card["max_side"]), args.runs),
        )
    except ModelError as exc:
        print("centerface:", exc.message)
    for name, task, n in (
        ("face_swap_sbi", "face_swap_crop", 1),
        ("synthetic_image", "synthetic_image_patch", 9),
    ):
        try:
            card, sess = models.load(settings, name, task)
        except ModelError as exc:
            print(f"{name}: {exc.message}")
            continue
        size = int(card["input_size"])
        x = rng.random((n, 3, size, size), dtype=np.float32)
        feed = {sess.get_inputs()[0].name: x}
        print(
            f"{name}, {n} x {size}px input:",
            timed(lambda s=sess, f=feed: s.run(None, f), args.runs),
        )


if __name__ == "__main__":
    main()
