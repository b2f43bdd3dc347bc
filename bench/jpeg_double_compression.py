"""Calibrate jpeg_structure's double-compression statistic on photos compressed once or twice.

    python bench/jpeg_double_compression.py [--data ../shared/data] [--n 200]

Each BSDS500 photo (stored as JPEG q95) is halved in size with Lanczos, which washes out its
earlier compression, then saved once at q2, and again at q1 then q2 (q1, q2 drawn at random
from common qualities; seeded). Prints the statistic's distribution for both, the detection
rate at the detector's threshold by case (q1 < q2, q1 > q2, q1 == q2), the AUC, and the values
on the camera files of fixtures/exif-samples (compressed once, by cameras).
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from detectors.jpeg_structure.detector import DQ_THRESHOLD, double_quantization  # noqa: E402


def jpeg(img: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


DECODER_LUMA = "--decoder-luma" in sys.argv  # the decoder's own Y instead of Y from RGB


def value(data: bytes) -> float | None:
    """The statistic as the detector computes it in the pipeline: from the shared RGB decode
    (or, with --decoder-luma, from the decoder's own luminance)."""
    pixels = None if DECODER_LUMA else Image.open(io.BytesIO(data)).convert("RGB")
    r = double_quantization(data, pixels=pixels)
    return None if r is None else r["histogram_roughness"]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--decoder-luma", action="store_true", help="decode Y directly (old path)")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    files = sorted((args.data / "train" / "photos-bsds500" / "images").glob("*"))[: args.n]
    single, double = [], []
    for f in files:
        img = Image.open(f).convert("RGB")
        img = img.resize((img.width // 2, img.height // 2), Image.Resampling.LANCZOS)
        q2 = int(rng.choice([70, 75, 80, 85, 90, 95]))
        q1 = int(rng.choice([50, 60, 65, 70, 75, 80, 85, 90]))
        single.append(value(jpeg(img, q2)))
        first = Image.open(io.BytesIO(jpeg(img, q1))).convert("RGB")
        double.append((value(jpeg(first, q2)), q1, q2))
    s = np.array([v for v in single if v is not None])
    d = np.array([v for v, _, _ in double if v is not None])
    print(
        f"single: n={len(s)} (of {len(single)}) p50={np.median(s):.3f} "
        f"p95={np.percentile(s, 95):.3f} p99={np.percentile(s, 99):.3f} max={s.max():.3f}"
    )
    print(f"double: n={len(d)} (of {len(double)}) p50={np.median(d):.3f}")
    print(f"false positives at {DQ_THRESHOLD}: {(s > DQ_THRESHOLD).mean():.3f}")
    for name, keep in (("q1<q2", lambda a, b: a < b), ("q1>q2", lambda a, b: a > b),
                       ("q1==q2", lambda a, b: a == b)):  # fmt: skip
        vals = [v for v, q1, q2 in double if keep(q1, q2)]
        hits = [v is not None and v > DQ_THRESHOLD for v in vals]
        print(f"detected {name}: {np.mean(hits):.2f} of {len(hits)}")
    auc = float(np.mean(d[:, None] > s[None, :]))
    print(f"AUC (statistic, double vs single): {auc:.3f}")
    cams = []
    for p in sorted((args.data / "fixtures" / "exif-samples").rglob("*.jp*g")):
        try:
            v = value(p.read_bytes())
        except (OSError, ValueError, SyntaxError):
            continue
        if v is not None:
            cams.append(v)
    print(
        f"exif-samples JPEGs: n={len(cams)} max={max(cams):.3f} "
        f"over threshold={sum(v > DQ_THRESHOLD for v in cams)}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
