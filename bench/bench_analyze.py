"""Time `verifier analyze` on a 12-megapixel JPEG: the whole process, and the pipeline alone.

    python bench/bench_analyze.py [--runs N]

Prints wall-clock figures (median and p90 over N runs). No thresholds: numbers to report.
"""

from __future__ import annotations

import argparse
import io
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image


def make_12mp_jpeg(path: Path) -> None:
    rng = np.random.default_rng(1)
    h, w = 3000, 4000
    base = (
        np.linspace(0, 180, w, dtype=np.float32)[None, :, None]
        + np.linspace(0, 60, h)[:, None, None]
    )
    arr = base + rng.normal(0, 12, (h, w, 3)).astype(np.float32)
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "BenchCam", "Twelve"
    buf = io.BytesIO()
    Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).save(
        buf, "JPEG", quality=92, exif=exif.tobytes()
    )
    path.write_bytes(buf.getvalue())


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "12mp.jpg"
        make_12mp_jpeg(path)
        print(f"input: 4000x3000 JPEG q92, {path.stat().st_size / 1e6:.1f} MB")

        process = []
        for _ in range(args.runs):
            start = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "verifier", "analyze", "--json", str(path)],
                check=True,
                stdout=subprocess.DEVNULL,
            )
            process.append(time.perf_counter() - start)

        from verifier.pipeline import Pipeline
        from verifier.settings import Settings

        pipeline = Pipeline(Settings.from_env({}))
        pipeline.analyze_path(path)  # warm-up
        inproc, reported = [], []
        for _ in range(args.runs):
            start = time.perf_counter()
            report = pipeline.analyze_path(path)
            inproc.append(time.perf_counter() - start)
            reported.append(report.duration_ms / 1000)
        detectors = ", ".join(report.tool.detectors)

    print(f"detectors: {detectors}")
    print(f"runs: {args.runs}")
    for label, values in (("whole process (python -m verifier analyze)", process),
                          ("pipeline alone (load + detectors + verdict)", inproc)):  # fmt: skip
        print(f"{label}: median {statistics.median(values) * 1000:.0f} ms, "
              f"p90 {pct(values, 90) * 1000:.0f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
