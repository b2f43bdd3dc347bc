"""Synthetic manipulations with ground-truth masks, for calibrating the pixel-forensics detectors.

Made from authentic photos at evaluation time (nothing here ships any media):

* :func:`copy_move` clones a region of a photo elsewhere in the same photo (a plain shift, or
  a shift with rotation and scaling), with a feathered edge as a clone brush leaves.
* :func:`splice` pastes a region of another photo that has its own history: recompressed at a
  lower JPEG quality, sometimes with noise added or a slight blur, as a pasted object often is.
* Every manipulated image is saved as JPEG at a random final quality; :func:`resave` saves the
  untouched host the same way, so the authentic control has the same compression chain.

Masks are boolean (H, W) arrays: the pasted region for splices, source and copy for clones.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image


@dataclass
class Synthetic:
    kind: str  # "copy_move", "splice" or "authentic"
    data: bytes  # the JPEG file
    mask: np.ndarray  # bool (H, W): where the image was changed (empty for authentic)
    meta: dict[str, object]


def jpeg_bytes(rgb: np.ndarray, quality: int, subsampling: int = 2) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=int(quality), subsampling=subsampling)
    return buf.getvalue()


def decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def region_mask(h: int, w: int, rng: np.random.Generator, area: float) -> np.ndarray:
    """A random blob (ellipse or irregular polygon) covering about ``area`` of an h x w frame."""
    mask = np.zeros((h, w), np.uint8)
    side = np.sqrt(area * h * w)
    rx = side * rng.uniform(0.45, 0.8)
    ry = area * h * w / (np.pi * rx)
    cx = rng.uniform(rx + 2, max(rx + 3, w - rx - 2))
    cy = rng.uniform(ry + 2, max(ry + 3, h - ry - 2))
    if rng.random() < 0.5:
        cv2.ellipse(mask, (int(cx), int(cy)), (int(rx), int(ry)), float(rng.uniform(0, 180)),
                    0, 360, 1, -1)  # fmt: skip
    else:
        n = int(rng.integers(5, 10))
        angles = np.sort(rng.uniform(0, 2 * np.pi, n))
        radii = rng.uniform(0.7, 1.25, n)
        pts = np.stack([cx + rx * radii * np.cos(angles), cy + ry * radii * np.sin(angles)], 1)
        cv2.fillPoly(mask, [pts.astype(np.int32)], 1)
    return mask.astype(bool)


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(mask)
    return int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1


def _blend(dst: np.ndarray, src: np.ndarray, mask: np.ndarray, feather: float) -> np.ndarray:
    alpha = mask.astype(np.float32)
    if feather > 0:
        alpha = cv2.GaussianBlur(alpha, (0, 0), feather)
        alpha = np.minimum(alpha * 1.5, 1.0) * (cv2.dilate(mask.astype(np.uint8), None) > 0)
    out = (
        dst.astype(np.float32) * (1 - alpha[..., None]) + src.astype(np.float32) * alpha[..., None]
    )
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def copy_move(img: np.ndarray, rng: np.random.Generator, quality: int) -> Synthetic:
    """Clone a region of ``img`` to a non-overlapping place; mask = source and copy."""
    h, w = img.shape[:2]
    for _ in range(50):
        area = rng.uniform(0.02, 0.08)
        src = region_mask(h, w, rng, area)
        y0, y1, x0, x1 = _bbox(src)
        bh, bw = y1 - y0, x1 - x0
        ty, tx = int(rng.integers(0, max(1, h - bh))), int(rng.integers(0, max(1, w - bw)))
        if abs(ty - y0) < bh and abs(tx - x0) < bw:
            continue  # overlaps its source
        break
    else:  # pragma: no cover - 50 failed placements on a sane image size
        raise ValueError("could not place a clone")
    transformed = rng.random() < 0.4
    angle = float(rng.uniform(-25, 25)) if transformed else 0.0
    scale = float(rng.uniform(0.9, 1.1)) if transformed else 1.0
    cy, cx = (y0 + y1) / 2, (x0 + x1) / 2
    m = cv2.getRotationMatrix2D((cx, cy), angle, scale)
    m[0, 2] += tx + bw / 2 - cx
    m[1, 2] += ty + bh / 2 - cy
    moved = cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    target = cv2.warpAffine(src.astype(np.uint8), m, (w, h), flags=cv2.INTER_NEAREST) > 0
    out = _blend(img, moved, target, feather=float(rng.uniform(0, 1.5)))
    data = jpeg_bytes(out, quality)
    return Synthetic(
        "copy_move",
        data,
        src | target,
        {"quality": quality, "angle": round(angle, 1), "scale": round(scale, 3),
         "area": round(float(target.mean()), 4)},
    )  # fmt: skip


def splice(img: np.ndarray, donor: np.ndarray, rng: np.random.Generator, quality: int) -> Synthetic:
    """Paste a region of ``donor`` (with its own compression history) into ``img``."""
    h, w = img.shape[:2]
    donor = cv2.resize(donor, (w, h), interpolation=cv2.INTER_AREA)
    donor_q = int(rng.integers(55, 81))
    shift = (int(rng.integers(0, 8)), int(rng.integers(0, 8))) if rng.random() < 0.5 else (0, 0)
    shifted = np.roll(donor, shift, axis=(0, 1))  # a misaligned grid for half of them
    history = np.roll(decode(jpeg_bytes(shifted, donor_q)), (-shift[0], -shift[1]), axis=(0, 1))
    treat = rng.choice(["none", "noise", "blur"], p=[0.5, 0.3, 0.2])
    if treat == "noise":
        noisy = history.astype(np.float32) + rng.normal(0, rng.uniform(2, 5), history.shape)
        history = np.clip(noisy, 0, 255).astype(np.uint8)
    elif treat == "blur":
        history = cv2.GaussianBlur(history, (0, 0), float(rng.uniform(0.6, 1.2)))
    mask = region_mask(h, w, rng, rng.uniform(0.03, 0.12))
    # move the donor content under the mask from somewhere else in the donor
    out = _blend(img, history, mask, feather=float(rng.uniform(0, 1.5)))
    return Synthetic(
        "splice",
        jpeg_bytes(out, quality),
        mask,
        {"quality": quality, "donor_quality": donor_q, "grid_shift": list(shift),
         "treatment": str(treat), "area": round(float(mask.mean()), 4)},
    )  # fmt: skip


def resave(img: np.ndarray, quality: int) -> Synthetic:
    """The untouched photo through the same final save: the authentic control."""
    mask = np.zeros(img.shape[:2], bool)
    return Synthetic("authentic", jpeg_bytes(img, quality), mask, {"quality": quality})


def triplets(photos: list[np.ndarray], n: int, seed: int = 0):
    """``n`` (authentic, copy-move, splice) triplets; each triplet shares a host and quality."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        host = photos[i % len(photos)]
        donor = photos[(i * 7 + 3) % len(photos)]
        if donor is host:
            donor = photos[(i + 1) % len(photos)]
        quality = int(rng.integers(80, 96))
        yield (
            resave(host, quality),
            copy_move(host, rng, quality),
            splice(host, donor, rng, quality),
        )


def flat_copy_move(img: np.ndarray, rng: np.random.Generator, quality: int) -> Synthetic:
    """Clone a weakly textured region (sky, water, sand, a wall) by a plain shift.

    Of 24 random candidate regions the one with the lowest mean gradient magnitude is the source
    (regions mostly clipped to black or white are left out: there is nothing there to detect, and
    nothing a clone there could hide). Such clones are where keypoints have nothing to match, so
    this measures the block-based search. Translation only, feathered edge; mask = source and copy.
    """
    h, w = img.shape[:2]
    grey = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1)
    grad = np.hypot(gx, gy)
    clipped = (grey <= 4) | (grey >= 251)
    best: tuple[float, np.ndarray] | None = None
    for _ in range(24):
        cand = region_mask(h, w, rng, rng.uniform(0.02, 0.08))
        if clipped[cand].mean() > 0.5:
            continue
        energy = float(grad[cand].mean())
        if best is None or energy < best[0]:
            best = (energy, cand)
    src = best[1] if best is not None else region_mask(h, w, rng, 0.04)
    y0, y1, x0, x1 = _bbox(src)
    bh, bw = y1 - y0, x1 - x0
    for _ in range(200):
        ty, tx = int(rng.integers(0, max(1, h - bh))), int(rng.integers(0, max(1, w - bw)))
        if abs(ty - y0) >= bh or abs(tx - x0) >= bw:
            break
    else:  # the region spans the frame: place it as far away as it goes
        ty, tx = (0 if y0 > h - y1 else h - bh), (0 if x0 > w - x1 else w - bw)
    m = np.float32([[1, 0, tx - x0], [0, 1, ty - y0]])
    moved = cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_REFLECT)
    target = cv2.warpAffine(src.astype(np.uint8), m, (w, h), flags=cv2.INTER_NEAREST) > 0
    out = _blend(img, moved, target, feather=float(rng.uniform(0, 1.5)))
    return Synthetic(
        "copy_move",
        jpeg_bytes(out, quality),
        src | target,
        {"quality": quality, "angle": 0.0, "scale": 1.0, "flat": True, "shift": [tx - x0, ty - y0],
         "gradient": round(best[0], 2) if best is not None else None,
         "area": round(float(target.mean()), 4)},
    )  # fmt: skip


def flat_pairs(photos: list[np.ndarray], n: int, seed: int = 0):
    """``n`` (authentic control, weak-texture clone) pairs sharing a host and final quality."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        host = photos[(i * 3 + 1) % len(photos)]
        quality = int(rng.integers(80, 96))
        yield resave(host, quality), flat_copy_move(host, rng, quality)


def double_resave(img: np.ndarray, first_quality: int, quality: int) -> Synthetic:
    """The untouched photo saved at ``first_quality``, decoded and saved again at ``quality``
    on the same grid: the authentic control of :func:`island_splice` (a photo edited and
    re-saved without any paste carries double-quantisation traces everywhere)."""
    first = decode(jpeg_bytes(img, first_quality))
    mask = np.zeros(img.shape[:2], bool)
    return Synthetic(
        "authentic",
        jpeg_bytes(first, quality),
        mask,
        {"quality": quality, "first_quality": first_quality},
    )


def island_splice(
    img: np.ndarray, donor: np.ndarray, rng: np.random.Generator, first_quality: int, quality: int
) -> Synthetic:
    """A singly compressed island in a double-compressed picture (the classic A-DJPG case).

    The host is saved at ``first_quality`` and decoded; a region of ``donor``, resized by a
    factor 0.6-0.9 and then fitted to the frame (so any JPEG history it had is destroyed), is
    blended in; the result is saved at ``quality`` (> ``first_quality``) on the same grid. The
    host carries two quantisations, the pasted region only the last one."""
    h, w = img.shape[:2]
    first = decode(jpeg_bytes(img, first_quality))
    factor = float(rng.uniform(0.6, 0.9))
    dh, dw = donor.shape[:2]
    small = cv2.resize(
        donor,
        (max(8, round(dw * factor)), max(8, round(dh * factor))),
        interpolation=cv2.INTER_AREA,
    )
    fitted = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    mask = region_mask(h, w, rng, rng.uniform(0.03, 0.12))
    out = _blend(first, fitted, mask, feather=float(rng.uniform(0, 1.5)))
    return Synthetic(
        "splice",
        jpeg_bytes(out, quality),
        mask,
        {"quality": quality, "first_quality": first_quality, "resize": round(factor, 3),
         "island": True, "area": round(float(mask.mean()), 4)},
    )  # fmt: skip


def island_pairs(photos: list[np.ndarray], n: int, seed: int = 0):
    """``n`` (double-compressed control, singly compressed island) pairs; each pair shares a
    host, a first quality in 55..80 and a final quality in 85..95."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        host = photos[(i * 5 + 2) % len(photos)]
        donor = photos[(i * 11 + 7) % len(photos)]
        if donor is host:
            donor = photos[(i + 1) % len(photos)]
        first_quality = int(rng.integers(55, 81))
        quality = int(rng.integers(85, 96))
        yield (
            double_resave(host, first_quality, quality),
            island_splice(host, donor, rng, first_quality, quality),
        )
