"""Images made in code for perceptual-hash tests: smooth scenes with structure PDQ can see."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter


def scene(seed: int, width: int = 640, height: int = 480) -> Image.Image:
    """A smooth random scene (low-frequency waves plus a few rectangles), distinct per seed."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    arr = np.zeros((height, width, 3), np.float32)
    for _ in range(6):
        fx, fy = rng.uniform(0.5, 4, 2) * 2 * np.pi
        phase = rng.uniform(0, 2 * np.pi)
        wave = np.sin(fx * x / width + fy * y / height + phase)
        arr += wave[..., None] * rng.uniform(10, 40, 3)
    for _ in range(5):
        x0, y0 = int(rng.integers(0, width - 60)), int(rng.integers(0, height - 60))
        w, h = int(rng.integers(40, width // 3)), int(rng.integers(40, height // 3))
        arr[y0 : y0 + h, x0 : x0 + w] += rng.uniform(-60, 60, 3)
    return Image.fromarray(np.clip(arr + 128, 0, 255).astype(np.uint8))


def jpeg(img: Image.Image, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def near_copies(img: Image.Image) -> dict[str, Image.Image]:
    """Edits that keep an image "the same picture" for PDQ (all should match within 31)."""
    w, h = img.size
    return {
        "recompressed": Image.open(io.BytesIO(jpeg(img, 60))).convert("RGB"),
        "half-size": img.resize((w // 2, h // 2), Image.Resampling.BILINEAR),
        "brighter": ImageEnhance.Brightness(img).enhance(1.1),
        "blurred": img.filter(ImageFilter.GaussianBlur(2)),
        "saturated": ImageEnhance.Color(img).enhance(1.5),
        "cropped-edges": img.crop((w // 100, h // 100, w - w // 100, h - h // 100)),
    }
