"""Input checks, the shared luma plane and block statistics for the pixel-forensics detectors.

Every detector here works on the luma (Y) plane: JPEG stores it at full resolution and
quantises it most finely, so compression, noise and cloning traces are clearest there, and one
plane costs a third of three. The plane is computed once per :class:`~verifier.media.Media` and
shared (a weak-keyed cache, so it dies with the media).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import cv2
import numpy as np

from detectors.jpeg_structure.detector import _DCT as JPEG_DCT
from verifier.media import Media

#: Below this many pixels on the shorter side there are too few blocks for statistics.
MIN_SIDE = 64
#: A luma plane with a standard deviation below this (grey levels) has no content to analyse.
FLAT_STD = 1.0

cv2.setNumThreads(1)  # one core per analysis; the service runs several analyses side by side

T = TypeVar("T")


@dataclass(frozen=True)
class InputInfo:
    """What the original file held before :attr:`Media.pixels` made it 8-bit RGB."""

    mode: str  # PIL mode of the original image: RGB, L, P, 1, I;16, CMYK, RGBA...
    bits: int  # bits per sample
    has_alpha: bool
    palette: bool

    def as_evidence(self) -> dict[str, object]:
        return {"original_mode": self.mode, "bits_per_sample": self.bits}


def input_info(media: Media) -> InputInfo:
    """The file's own pixel format (before the RGB conversion), read once per input."""
    return cached(media, "input_info", lambda: _input_info(media))


def _input_info(media: Media) -> InputInfo:
    img = media.open_image()
    mode = img.mode
    bits = 1 if mode == "1" else 16 if mode.startswith("I;16") or mode == "I" else 8
    if mode == "F" or mode == "I":
        bits = 32
    return InputInfo(
        mode=mode,
        bits=bits,
        has_alpha=mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info,
        palette=mode in ("P", "PA"),
    )


def unsuitable(
    media: Media, flat: str, *, allow_palette: bool = False, work_side: int | None = None
) -> str | None:
    """Why the pixel statistics would be meaningless for this input, or None when they apply.

    ``flat`` ends the reason given for a flat image (what the detector would look for), judged
    on the full-resolution luma, or on the ``work_side`` copy when the detector works on one.

    1-bit, 16/32-bit and palette images are refused because ``media.pixels`` is an 8-bit RGB
    conversion of them: error levels and noise would describe the conversion, not the file.
    CMYK and alpha images are handled (the RGB conversion keeps their content; alpha is dropped
    and said so in the evidence). Tiny and flat images have no statistics to compare.
    """
    assert media.width is not None and media.height is not None
    if min(media.width, media.height) < MIN_SIDE:
        return (
            f"The image is {media.width}x{media.height}; pixel forensics needs at least "
            f"{MIN_SIDE} pixels on each side to compare regions."
        )
    info = input_info(media)
    if info.bits == 1:
        return "1-bit (black and white) image: no grey levels to analyse."
    if info.bits > 8:
        return (
            f"{info.bits}-bit image (mode {info.mode}): the detectors analyse 8-bit pixels and "
            "would measure the conversion, not the file."
        )
    if info.palette and not allow_palette:
        return (
            "Palette (indexed-colour) image: colour quantisation replaces the compression and "
            "noise traces these statistics rely on."
        )
    if is_flat(luma(media) if work_side is None else reduced_luma(media, work_side)):
        return f"The image is flat (one colour): {flat}."
    return None


def cached(media: Media, key: str, compute: Callable[[], T]) -> T:
    """``compute()`` once per media and key, shared by the detectors (``Media.memo``: a second
    caller waits for the first one's result instead of computing it again)."""
    return media.memo(("forensics", key), compute)


def luma(media: Media) -> np.ndarray:
    """Full-resolution luma as uint8 (H, W), computed once per media and shared."""
    return cached(media, "luma", lambda: cv2.cvtColor(np.asarray(media.pixels), cv2.COLOR_RGB2GRAY))


def reduced_luma(media: Media, max_side: int) -> np.ndarray:
    """Luma of ``media.reduced(max_side)`` as uint8, cached like :func:`luma`."""
    return cached(
        media,
        f"luma-{max_side}",
        lambda: cv2.cvtColor(np.asarray(media.reduced(max_side)), cv2.COLOR_RGB2GRAY),
    )


def display_luma(media: Media) -> np.ndarray:
    """The reduced luma every heatmap is drawn over (one shared copy, 640 px longest side)."""
    return reduced_luma(media, 640)


def is_flat(y: np.ndarray) -> bool:
    """True when the plane has (almost) no variation, judged on a cheap subsample."""
    step = max(1, int(np.sqrt(y.size / 250_000)))
    return float(y[::step, ::step].std()) < FLAT_STD


def block_size(shape: tuple[int, ...], per_side: int = 64, minimum: int = 16) -> int:
    """A block size (multiple of 8, so blocks align with the JPEG grid) giving about
    ``per_side`` blocks along the longer side: statistics and heatmaps then mean the same thing
    for a 0.3 MP and a 12 MP image."""
    side = max(shape[0], shape[1]) / per_side
    return max(minimum, round(side / 8) * 8)


def block_mean(plane: np.ndarray, bs: int) -> np.ndarray:
    """Mean of ``plane`` over non-overlapping ``bs`` x ``bs`` blocks (edges cropped)."""
    h, w = plane.shape[0] // bs, plane.shape[1] // bs
    p = plane[: h * bs, : w * bs]
    if p.dtype != np.float32:
        p = p.astype(np.float32)
    return cv2.resize(p, (w, h), interpolation=cv2.INTER_AREA)


def block_std(plane: np.ndarray, bs: int) -> np.ndarray:
    """Standard deviation of ``plane`` over ``bs`` x ``bs`` blocks: the block's texture."""
    p = plane.astype(np.float32)
    m = block_mean(p, bs)
    m2 = block_mean(p * p, bs)
    return np.sqrt(np.maximum(m2 - m * m, 0.0))


def texture_residual(
    values: np.ndarray, texture: np.ndarray, valid: np.ndarray | None = None, eps: float = 0.5
) -> np.ndarray:
    """log(values) minus what the block's texture predicts, fitted robustly across the image.

    Error levels and noise residuals both grow with local texture, so raw maps mostly show
    where the picture is busy. Fitting log(value) ~ a + b*log(texture) over the image's own
    blocks and keeping the residual leaves what texture does not explain: the inconsistency
    between regions. The fit uses medians in texture bins, so a tampered minority cannot bend
    it.
    """
    lv = np.log(values + eps)
    lt = np.log(texture + eps)
    ok = np.isfinite(lv) & np.isfinite(lt) if valid is None else valid
    if ok.sum() < 8:
        return np.zeros_like(lv)
    edges = np.quantile(lt[ok], np.linspace(0, 1, 9))
    xs, ys = [], []
    for lo, hi in itertools.pairwise(edges):
        sel = ok & (lt >= lo) & (lt <= hi)
        if sel.sum() >= 3:
            xs.append(float(np.median(lt[sel])))
            ys.append(float(np.median(lv[sel])))
    if len(xs) < 2:
        return lv - float(np.median(lv[ok]))
    pred = np.interp(lt, xs, ys)  # piecewise-linear: no assumption that the relation is a line
    return lv - pred


def robust_z(
    values: np.ndarray, valid: np.ndarray | None = None, min_scale: float = 1e-3
) -> np.ndarray:
    """(x - median) / (1.4826 * MAD) over the valid entries; invalid entries become 0.

    ``min_scale`` floors the spread so a map that is almost constant does not turn tiny
    differences into large z-scores."""
    ok = np.ones(values.shape, bool) if valid is None else valid
    if ok.sum() < 3:
        return np.zeros_like(values, dtype=np.float32)
    med = float(np.median(values[ok]))
    mad = float(np.median(np.abs(values[ok] - med))) * 1.4826
    z = (values - med) / max(mad, min_scale)
    return np.where(ok, z, 0.0).astype(np.float32)


def smooth(grid: np.ndarray, k: int = 3) -> np.ndarray:
    """Box-average a block grid so only regions, not single blocks, stand out."""
    return cv2.blur(grid.astype(np.float32), (k, k), borderType=cv2.BORDER_REFLECT)


def top_mean(grid: np.ndarray, fraction: float = 0.02, minimum: int = 4) -> float:
    """Mean of the highest ``fraction`` of a map's values: the strength of its hottest region."""
    flat = np.sort(grid.ravel())
    if flat.size == 0:
        return 0.0
    k = min(flat.size, max(minimum, round(flat.size * fraction)))
    return float(flat[-k:].mean())


def ramp(value: float, lo: float, hi: float, s_lo: float = 0.45, s_hi: float = 0.85) -> float:
    """Map a statistic to a score: ``s_lo`` at or below ``lo``, ``s_hi`` at or above ``hi``.

    ``lo`` and ``hi`` are calibrated on authentic photos (see ``scripts/eval_forensics.py``):
    ``lo`` about their 95th percentile and ``hi`` well beyond their maximum, so innocent
    pictures stay near ``s_lo`` and only clear outliers approach ``s_hi``.
    """
    t = min(1.0, max(0.0, (value - lo) / (hi - lo)))
    return s_lo + t * (s_hi - s_lo)


# -- the JPEG grid and packed block planes ----------------------------------------------------


def grid_phase(y: np.ndarray) -> tuple[int, int, float]:
    """Where the image's 8x8 JPEG grid lies: (row offset, column offset, confidence).

    Blocking artifacts make the pixel step across a grid line larger than inside a block, so
    the mean absolute step, folded modulo 8, peaks at the grid. Confidence is the peak's excess
    over the median phase, relative to it (about 0 for images never JPEG-compressed or resized
    after compression). A crop that is not a multiple of 8 shifts the phase away from (0, 0).
    """
    step = max(1, y.shape[0] // 750)
    rows = y[::step].astype(np.int16)
    cols = y[:, ::step].astype(np.int16)
    dx = np.abs(np.diff(rows, axis=1)).mean(axis=0)  # step between column x and x+1
    dy = np.abs(np.diff(cols, axis=0)).mean(axis=1)

    def fold(profile: np.ndarray) -> tuple[int, float]:
        n = profile.size // 8 * 8
        if n < 16:
            return 0, 0.0
        per_phase = profile[:n].reshape(-1, 8).mean(axis=0)
        best = int(per_phase.argmax())
        # Prefer the unshifted grid unless another phase clearly beats it: content with a
        # 4-pixel period (or 2x upscaling) makes phases tie, and an uncropped file is the norm.
        if per_phase[7] >= 0.9 * per_phase[best]:
            best = 7
        med = float(np.median(per_phase))
        # the step after column x=7 (index 7) is the boundary of a grid starting at 0
        return (best + 1) % 8, float((per_phase[best] - med) / max(med, 1e-6))

    px, cx = fold(dx)
    py, cy = fold(dy)
    return py, px, min(cx, cy)


@dataclass(frozen=True)
class Packed:
    """A subset of the image's aligned 8x8 blocks, packed side by side into one plane.

    JPEG codes each 8x8 luma block independently, so recompressing a packed plane gives every
    block exactly the error it would get in the full image, as long as the blocks sit on the
    file's own grid (``phase``). Taking every ``stride``-th block row and column caps the work
    on large images while still covering the whole picture evenly.
    """

    plane: np.ndarray  # uint8 (8 * rows, 8 * cols)
    stride: int  # every stride-th block in each direction was kept
    phase: tuple[int, int]  # (row, column) offset of the grid in the full image

    @property
    def blocks(self) -> tuple[int, int]:
        return self.plane.shape[0] // 8, self.plane.shape[1] // 8

    @property
    def cell_px(self) -> int:
        """Side of the image area one packed block stands for, in full-resolution pixels."""
        return 8 * self.stride


def pack(y: np.ndarray, phase: tuple[int, int], max_pixels: int) -> Packed:
    """Pack aligned blocks of ``y`` starting at ``phase``, keeping at most ~``max_pixels``."""
    oy, ox = phase
    body = y[oy:, ox:]
    by, bx = body.shape[0] // 8, body.shape[1] // 8
    stride = max(1, int(np.ceil(np.sqrt(by * bx * 64 / max_pixels))))
    blocks = body[: by * 8, : bx * 8].reshape(by, 8, bx, 8)
    if stride > 1:
        blocks = blocks[::stride, :, ::stride, :]
    ry, rx = blocks.shape[0], blocks.shape[2]
    plane = np.ascontiguousarray(blocks).reshape(ry * 8, rx * 8)
    return Packed(plane=plane, stride=stride, phase=(oy, ox))


def recompress(plane: np.ndarray, quality: int) -> np.ndarray:
    """Encode a luma plane as baseline JPEG at ``quality`` (libjpeg scale) and decode it."""
    ok, buf = cv2.imencode(".jpg", plane, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:  # pragma: no cover
        raise RuntimeError("JPEG encoding failed")
    return cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)


def packed_for(media: Media, max_pixels: int = 3_000_000) -> Packed:
    """The shared packed plane of ``media`` (grid-aligned, ~3 MP at most), cached."""
    return cached(
        media, f"packed-{max_pixels}", lambda: pack(luma(media), grid(media)[:2], max_pixels)
    )


def grid(media: Media) -> tuple[int, int, float]:
    """:func:`grid_phase` of the media's luma, cached. Phase (0, 0) for non-JPEG input without
    a clear grid (a PNG of a decoded JPEG can still carry one)."""

    def compute() -> tuple[int, int, float]:
        gy, gx, conf = grid_phase(luma(media))
        return (0, 0, conf) if media.format.name != "jpeg" and conf < 0.2 else (gy, gx, conf)

    return cached(media, "grid", compute)


def cells_per_block(packed: Packed, per_side: int = 64) -> int:
    """How many packed blocks to merge per side so the map has about ``per_side`` cells along
    the longer side, and at least one cell along the shorter (a long thin strip)."""
    return max(1, min(round(max(packed.blocks) / per_side), min(packed.blocks)))


@dataclass
class Measurement:
    """What a detector measured, before it becomes a finding (the eval script reads this).

    ``statistic`` is the raw number the score is calibrated from (higher = more suspicious);
    ``heat`` is the map in [0, 1] that the heatmap shows; ``mask`` marks the region the
    detector would call tampered (same grid as ``heat``), used for pixel-level F1;
    ``cell_px``/``origin`` place the grids on the full-resolution image; ``arrays`` holds any
    further maps a detector draws (not evidence: evidence must serialise to JSON).
    """

    statistic: float
    heat: np.ndarray
    mask: np.ndarray
    cell_px: float
    origin: tuple[int, int]
    evidence: dict[str, object]
    arrays: dict[str, np.ndarray] = field(default_factory=dict)


def to_image_grid(m: Measurement, shape: tuple[int, int], grid_map: np.ndarray) -> np.ndarray:
    """Resample a cell grid onto a full-resolution (H, W) canvas (nearest, zero outside)."""
    h, w = shape
    out = np.zeros((h, w), np.float32)
    oy, ox = m.origin
    gh, gw = grid_map.shape
    th = min(h - oy, round(gh * m.cell_px))
    tw = min(w - ox, round(gw * m.cell_px))
    if th <= 0 or tw <= 0:
        return out
    full = cv2.resize(
        grid_map.astype(np.float32),
        (round(gw * m.cell_px), round(gh * m.cell_px)),
        interpolation=cv2.INTER_NEAREST,
    )
    out[oy : oy + th, ox : ox + tw] = full[:th, :tw]
    return out


# -- per-block DCT and region statistics --------------------------------------------------------

#: Orthonormal 8x8 DCT-II matrix (the transform JPEG codes each luma block with).
#: The orthonormal 8x8 DCT-II matrix (rows = frequencies), the one jpeg_structure uses.
DCT8 = JPEG_DCT.astype(np.float32)
#: Radial frequency index u + v of each of the 64 DCT coefficients (0 = DC, 14 = highest).
DCT_BAND = np.add.outer(np.arange(8), np.arange(8)).ravel()


def block_dct(plane: np.ndarray) -> np.ndarray:
    """DCT coefficients of every 8x8 block of ``plane`` (cropped to whole blocks), shaped
    (rows, cols, 64) in row-major (u, v) order. On a plane cut on the file's JPEG grid (a
    :class:`Packed` plane) these are, up to rounding, the coefficients the file stored."""
    by, bx = plane.shape[0] // 8, plane.shape[1] // 8
    b = plane[: by * 8, : bx * 8].astype(np.float32)
    x = b.reshape(by * 8, bx, 8) @ DCT8.T  # along each block's rows: (y, bx, v)
    x = x.reshape(by, 8, bx, 8).transpose(0, 2, 3, 1) @ DCT8.T  # then columns: (by, bx, v, u)
    return x.transpose(0, 1, 3, 2).reshape(by, bx, 64)


def band_sums(coefs: np.ndarray, *bands: tuple[int, int]) -> list[np.ndarray]:
    """Per block, the sum of |coefficient| over each range ``(lo, hi)`` of DCT bands
    ``lo <= u + v <= hi`` (one matrix product for all ranges)."""
    sel = np.stack([(DCT_BAND >= lo) & (DCT_BAND <= hi) for lo, hi in bands], 1)
    sums = np.abs(coefs).reshape(-1, 64) @ sel.astype(np.float32)
    return [sums[:, i].reshape(coefs.shape[:-1]) for i in range(len(bands))]


def conditional_z(
    values: np.ndarray,
    given: np.ndarray,
    valid: np.ndarray,
    bins: int = 12,
    trim: float = 0.1,
    clip: float = 4.0,
) -> tuple[np.ndarray, np.ndarray]:
    """How far each entry of ``values`` sits from what ``given`` predicts, in standard units.

    Entries are binned by ``given`` (quantile bins over the valid entries); each bin's mean and
    spread are taken after trimming ``trim`` of each tail, so a tampered minority barely moves
    them. Returns (z clipped to +-``clip``, informative mask): bins whose values hardly vary
    (for instance blocks whose fine detail the JPEG quantiser zeroed everywhere) carry no
    information and get z = 0 rather than a huge ratio of two tiny numbers.
    """
    z = np.zeros(values.shape, np.float32)
    if valid.sum() < 4 * bins:
        return z, np.zeros(values.shape, bool)
    edges = np.quantile(given[valid], np.linspace(0, 1, bins + 1))
    idx = np.clip(np.searchsorted(edges, given, side="right") - 1, 0, bins - 1)
    mu = np.zeros(bins, np.float32)
    sd = np.zeros(bins, np.float32)
    for b in range(bins):
        v = values[valid & (idx == b)]
        if v.size < 5:
            continue
        lo, hi = np.quantile(v, [trim, 1 - trim])
        kept = v[(v >= lo) & (v <= hi)]
        v = kept if kept.size >= 3 else v
        mu[b], sd[b] = v.mean(), v.std()
    floor = max(0.05, 0.1 * float(np.median(sd)))
    spread = sd[idx]
    info = valid & (spread > floor)
    z = np.where(info, np.clip((values - mu[idx]) / np.maximum(spread, floor), -clip, clip), 0)
    return z.astype(np.float32), info


def region_z(z: np.ndarray, info: np.ndarray, group: int, window: float) -> np.ndarray:
    """Pool per-block z-scores into regions, on cells of ``group`` x ``group`` blocks.

    A region's value is sum(z) / sqrt(n) over the informative blocks in a square window whose
    side is ``window`` of the longer side (about the size of a pasted object), divided by
    ``group`` so the same effect gives the same number at any resolution. Independent blocks
    would give a standard normal; neighbouring blocks of real photos are correlated, so the
    thresholds are calibrated on authentic photos. Windows with too few informative blocks
    (mostly flat or clipped) are 0.
    """
    h, w = z.shape[0] // group * group, z.shape[1] // group * group
    s = z[:h, :w].reshape(h // group, group, w // group, group).sum(axis=(1, 3))
    n = info[:h, :w].reshape(h // group, group, w // group, group).sum(axis=(1, 3))
    n = n.astype(np.float32)
    k = max(3, round(window * max(s.shape)))
    sk = cv2.boxFilter(s, -1, (k, k), normalize=False, borderType=cv2.BORDER_CONSTANT)
    nk = cv2.boxFilter(n, -1, (k, k), normalize=False, borderType=cv2.BORDER_CONSTANT)
    enough = nk >= max(0.1 * k * k * group * group, 0.3 * float(nk.max()), 8.0)
    return (np.where(enough, sk / np.sqrt(np.maximum(nk, 1.0)), 0.0) / group).astype(np.float32)


@dataclass(frozen=True)
class Strongest:
    """The most deviant region of a :func:`region_z` map, in either direction."""

    statistic: float  # max(low, high)
    low: float  # the strongest region below the image's own level (as a positive number)
    high: float  # the strongest region above it
    direction: float  # -1.0 when the low side wins, else 1.0
    mask: np.ndarray  # cells deviating in that direction by at least ``share`` of the statistic


def strongest_region(region: np.ndarray, share: float) -> Strongest:
    """Two-sided: a pasted region can sit above or below the rest (noisier or smoother, more or
    less recompression error), so the statistic is the larger of the two extremes."""
    low, high = float(-region.min()), float(region.max())
    stat = max(low, high)
    direction = -1.0 if low >= high else 1.0
    mask = (direction * region >= share * stat) & (stat > 0)
    return Strongest(stat, low, high, direction, mask)


@dataclass(frozen=True)
class RegionDeviation:
    """Per-block values compared with what texture predicts, pooled into object-sized regions."""

    region: np.ndarray  # region_z map on cells
    informative: np.ndarray  # per-block: counted in the fit
    top: Strongest
    cell_px: int  # side of one cell in full-resolution pixels

    def measurement(
        self, packed: Packed, z_range: float, evidence: dict[str, object]
    ) -> Measurement:
        """The :class:`Measurement` (heat = |region z| / ``z_range``), with the evidence every
        region statistic reports added to the detector's own."""
        return Measurement(
            statistic=self.top.statistic,
            heat=np.clip(np.abs(self.region) / z_range, 0, 1),
            mask=self.top.mask,
            cell_px=self.cell_px,
            origin=packed.phase,
            evidence={
                "strongest_region_z": round(self.top.statistic, 2),
                **evidence,
                "cells": list(self.region.shape),
                "cell_px": self.cell_px,
                "informative_blocks": int(self.informative.sum()),
                "block_stride": packed.stride,
            },
        )


def region_deviation(
    values: np.ndarray,
    texture: np.ndarray,
    valid: np.ndarray,
    packed: Packed,
    window: float,
    share: float,
) -> RegionDeviation:
    """:func:`conditional_z` per block, :func:`region_z` per cell, :func:`strongest_region`:
    the pipeline ela and noise share (each with its own per-block measure)."""
    z, info = conditional_z(values, texture, valid)
    group = cells_per_block(packed)
    region = region_z(z, info, group, window)
    return RegionDeviation(region, info, strongest_region(region, share), 8 * group * packed.stride)
