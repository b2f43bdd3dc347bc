"""Time the pixel-forensics detectors on a 12-megapixel JPEG, on one core, decoding included.

    python bench/bench_forensics.py [--runs N] [--photo PATH]

The input is a 4000x3000 JPEG (q92): a real photo upscaled with sensor-like noise added when
``--photo`` is given or the shared BSDS500 folder is present (real content has the keypoints and
texture that drive copy-move's cost), else the rendered scene from ``scripts/make_samples.py``.
Each run loads the file afresh (full decode, shared by all four detectors, as the pipeline
does) and runs ela, noise, jpeg_ghost and copy_move in that order; shared work (luma plane, grid,
packed blocks) is paid by the first detector that needs it. Prints medians of wall-clock time
and of CPU time (``time.process_time``: on a shared, loaded machine the CPU time is the better
measure of what one core costs). No thresholds.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before numpy loads its BLAS

import argparse
import io
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
cv2.setNumThreads(1)

from detectors.copy_move import CopyMove  # noqa: E402
from detectors.ela import ErrorLevelAnalysis  # noqa: E402
from detectors.jpeg_ghost import JpegGhost  # noqa: E402
from detectors.noise import NoiseResiduals  # noqa: E402
from verifier.media import load_media  # noqa: E402
from verifier.settings import Settings  # noqa: E402

BSDS = ROOT.parent / "shared" / "data" / "train" / "photos-bsds500" / "images"


def make_input(photo: Path | None) -> tuple[bytes, str]:
    if photo is None and BSDS.is_dir():
        photo = sorted(BSDS.glob("*.jpg"))[17]
    if photo is not None:
        img = Image.open(photo).convert("RGB").resize((4000, 3000), Image.Resampling.BICUBIC)
        what = f"{photo.name} upscaled to 4000x3000 + noise"
    else:
        sys.path.insert(0, str(ROOT / "scripts"))
        from make_samples import render_scene

        img = render_scene().resize((4000, 3000), Image.Resampling.BICUBIC)
        what = "rendered scene upscaled to 4000x3000 + noise"
    arr = np.asarray(img).astype(np.float32)
    arr += np.random.default_rng(0).normal(0, 2.5, arr.shape).astype(np.float32)
    buf = io.BytesIO()
    Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).save(buf, "JPEG", quality=92)
    return buf.getvalue(), what


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--photo", type=Path)
    args = parser.parse_args()
    data, what = make_input(args.photo)
    settings = Settings.from_env({})
    detectors = [cls(settings) for cls in (ErrorLevelAnalysis, NoiseResiduals, JpegGhost, CopyMove)]
    times: dict[str, list[float]] = {"decode": [], **{d.name: [] for d in detectors}, "total": []}
    cpu: dict[str, list[float]] = {key: [] for key in times}
    for run in range(args.runs + 1):  # the first run warms caches and is not counted
        start, cpu_start = time.perf_counter(), time.process_time()
        media = load_media(data, settings, decode="full")
        t = {"decode": time.perf_counter() - start}
        c = {"decode": time.process_time() - cpu_start}
        for det in detectors:
            t0, c0 = time.perf_counter(), time.process_time()
            finding = det.analyze(media)
            t[det.name], c[det.name] = time.perf_counter() - t0, time.process_time() - c0
            assert finding.status.value == "ok", (det.name, finding.reason, finding.error)
        t["total"] = time.perf_counter() - start
        c["total"] = time.process_time() - cpu_start
        if run:
            for key in times:
                times[key].append(t[key] * 1000)
                cpu[key].append(c[key] * 1000)
    print(f"input: {what}, JPEG q92, {len(data) / 1e6:.1f} MB; runs: {args.runs}; one core")
    print(f"  load average now: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"  {'':<11} {'wall median':>12} {'wall min':>9} {'CPU median':>11}")
    for key, values in times.items():
        print(
            f"  {key:<11} {statistics.median(values):9.1f} ms {min(values):6.1f} ms "
            f"{statistics.median(cpu[key]):8.1f} ms"
        )


if __name__ == "__main__":
    main()
