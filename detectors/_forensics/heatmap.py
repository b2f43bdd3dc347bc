"""Heatmap PNGs shared by the pixel-forensics detectors.

All heatmaps use one colour scale (OpenCV's *inferno*: black = 0, yellow-white = 1) over a
faded grey copy of the picture, on a fixed range each detector documents, so that the same
colour means the same thing on every image. Mask overlays (copy-move) paint the source in cyan
and the copy in red.
"""

from __future__ import annotations

import cv2
import numpy as np

from verifier.report import Artifact

#: Longest side of a rendered heatmap; enough to see regions, small enough to encode fast.
#: Equal to copy_move's working size, so one reduced copy serves both.
DISPLAY_SIDE = 640


def _base(gray: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    h, w = gray.shape[:2]
    scale = min(1.0, DISPLAY_SIDE / max(h, w))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = cv2.resize(gray, size, interpolation=cv2.INTER_AREA) if scale < 1 else gray
    # Faded, slightly smoothed and posterised: the picture is only a backdrop, and its pixel
    # noise would otherwise make the PNG several times larger.
    smooth = cv2.GaussianBlur(small, (0, 0), 0.8)
    faded = ((smooth.astype(np.float32) * 0.6 + 50).astype(np.uint8) // 4) * 4
    return cv2.cvtColor(faded, cv2.COLOR_GRAY2BGR), size


def _png(bgr: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:  # pragma: no cover - encoding a valid uint8 array does not fail
        raise RuntimeError("PNG encoding failed")
    return buf.tobytes()


def render(gray: np.ndarray, heat: np.ndarray, alpha: float = 0.6) -> bytes:
    """PNG of ``heat`` (values in [0, 1], any grid size) over the grey picture ``gray``.

    Pass a reduced picture (``common.display_luma``): shrinking a 12 MP plane here would cost
    more than the analysis."""
    base, size = _base(gray)
    h01 = np.clip(np.nan_to_num(heat.astype(np.float32)), 0.0, 1.0)
    up = cv2.resize(h01, size, interpolation=cv2.INTER_NEAREST)
    colour = cv2.applyColorMap((up * 255).astype(np.uint8), cv2.COLORMAP_INFERNO)
    a = (alpha * np.clip(up * 1.5, 0.25, 1.0))[..., None]  # cold areas let the picture show
    out = base.astype(np.float32) * (1 - a) + colour.astype(np.float32) * a
    return _png(out.astype(np.uint8))


def render_masks(gray: np.ndarray, source: np.ndarray, target: np.ndarray) -> bytes:
    """PNG with the copy-move source region in cyan and the copied region in red."""
    base, size = _base(gray)
    out = base.astype(np.float32)
    for mask, colour in ((source, (255, 255, 0)), (target, (0, 0, 255))):
        m = cv2.resize(mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
        out[m] = out[m] * 0.4 + np.array(colour, np.float32) * 0.6
    return _png(out.astype(np.uint8))


def artifact(name: str, description: str, png: bytes) -> Artifact:
    return Artifact.from_bytes(name, "image/png", description, png)
