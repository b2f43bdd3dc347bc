"""Aligned double quantisation (A-DJPG), block by block.

A JPEG saved at quality q1 and saved again on the same 8x8 grid at q2 carries, in every DCT
coefficient, the trace of both steps: the first quantisation leaves values on multiples of q1,
the second maps them onto multiples of q2, and when q1 > q2 some of those bins can never be
reached. Recomputed from the decoded luma on the file's grid and divided by the file's steps,
each coefficient therefore says how likely its block is to have been quantised twice (Lin et
al., "Fast, automatic and fine-grained tampered JPEG image detection via DCT coefficient
analysis", Pattern Recognition 2009; Bianchi and Piva, "Image forgery localization via
block-grained analysis of JPEG artifacts", IEEE TIFS 2012). A spliced region differs from the
rest: the pasted part is usually the one compressed once (its history was lost when it was
pasted), or, when the donor was a low-quality JPEG pasted on its grid, the one compressed twice.

The first quality is estimated for the whole table at once (libjpeg's scaled standard table,
as the ghost analysis assumes), from the pooled histograms of the low-frequency coefficients:
the quality whose double-quantisation pattern, mixed with single compression, best explains
them. Within one period of that pattern the coefficient density is taken as flat, so a
coefficient in bin ``a`` has likelihood ratio ``n(a) * q1 / q2`` (``n(a)``: how many first-step
values land in bin ``a``) against single compression, without modelling the density itself.
Zero coefficients are not counted: how many there are says more about texture than history.
Only frequencies where the first step leaves empty bins are used: the milder ripples of a
first step finer than (or within one of) the last are mimicked by ordinary histograms.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from detectors._forensics import common
from detectors.jpeg_structure.detector import STD_LUMA, ijg_table

#: Low-frequency AC coefficients used (row = vertical frequency), zig-zag order: the first 20.
FREQS = (
    (0, 1), (1, 0), (2, 0), (1, 1), (0, 2), (0, 3), (1, 2), (2, 1), (3, 0), (4, 0),
    (3, 1), (2, 2), (1, 3), (0, 4), (0, 5), (1, 4), (2, 3), (3, 2), (4, 1), (5, 0),
)  # fmt: skip
#: Histogram bins of |quantised coefficient| considered (larger values carry no LLR).
BINS = 40
#: Share of twice-quantised coefficients that land off the first step's lattice anyway (pixel
#: rounding and colour conversion between the saves): floors the likelihood of an empty bin.
OFF_LATTICE = 0.1
#: Candidate first qualities (libjpeg scale); only those coarser than the last save leave empty
#: bins a single block can show.
FIRST_QUALITIES = range(40, 99)
#: A candidate first quality must leave empty bins in at least this many frequencies.
MIN_FREQS = 3
#: Mixture shares tried when fitting the first quality.
_SHARES = np.geomspace(0.01, 0.99, 16).astype(np.float32)
#: A cell's mean LLR per coefficient is shrunk towards 0 below this many coefficients (3x3
#: cells counted), and its robust z-score's spread floored at Z_MIN_SCALE nats per coefficient:
#: with 0.05 a flat sky made a textured subject stand out at z 10 on an authentic photo; 0.3
#: keeps the authentic maximum at 4.3 at a small cost in pixel F1 (calibration run).
MIN_COEFS = 8.0
Z_MIN_SCALE = 0.3
#: Blocks used to fit the first quality (evenly spread).
FIT_BLOCKS = 1200
#: Per-block log-likelihood ratios are clipped to this (a few bad coefficients must not veto).
LLR_CLIP = 20.0
#: Singly compressed islands (:func:`dq_maps`) are looked for only when the picture as a whole
#: is clearly double-quantised: fitted share of twice-compressed blocks and mean gain per block
#: at least these. The 238 authentic originals fit a share of at most 0.02 (gain < 0.01);
#: double-compressed controls (first save at 55..80, last at 85..95) 0.5..0.99 (gain >= 3.3).
ISLAND_SHARE = 0.5
ISLAND_GAIN = 2.0
#: Island map: cells (3x3 smoothed) whose pixels are more than ISLAND_CLIP clipped to black or
#: white are left out (clipping between the saves breaks the first lattice: without this rule a
#: double-compressed control's highlights looked singly compressed, at -z up to 3.4 vs 1.5);
#: the mean LLR per coefficient is shrunk towards the image's median with the weight of
#: ISLAND_PRIOR coefficients, and the robust z-score's spread floored at ISLAND_MIN_SCALE nats
#: per coefficient (calibrated on 80 island pairs: 24 and 0.5 gave the best AUC, 0.98).
ISLAND_CLIP = 0.01
ISLAND_PRIOR = 24.0
ISLAND_MIN_SCALE = 0.5


def block_coefficients(plane: np.ndarray, q: np.ndarray) -> np.ndarray:
    """|round(DCT / q)| of the :data:`FREQS` coefficients per 8x8 block: (rows, cols, freqs)."""
    coef = common.block_dct(plane.astype(np.float32) - 128)
    index = [8 * u + v for u, v in FREQS]
    us, vs = zip(*FREQS, strict=True)
    sel = coef[:, :, index] / q[list(us), list(vs)].astype(np.float32)
    return np.minimum(np.abs(np.rint(sel)), BINS + 1).astype(np.int64)


def lattice_ratio(q1: int, q2: int) -> np.ndarray:
    """``n(a) * q1 / q2`` for bins a = 0..BINS+1: the double/single likelihood ratio per bin."""
    k1 = np.arange(0, (BINS + 2) * q2 // q1 + 2)
    x = k1 * q1 / q2
    x = x[x < BINS + 2]
    lo = np.floor(x).astype(np.int64)
    tie = np.isclose(x - lo, 0.5)
    n = np.zeros(BINS + 2 + 2)
    idx = np.rint(x).astype(np.int64)
    np.add.at(n, idx[~tie], 1.0)
    np.add.at(n, lo[tie], 0.5)
    np.add.at(n, lo[tie] + 1, 0.5)
    return n[: BINS + 2] * q1 / q2


def llr_tables(q1: np.ndarray, q2: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """Log-likelihood ratio (twice vs once quantised) of each bin a = 0..BINS+1, per candidate
    and frequency: ``q1`` (candidates, F) first steps, ``q2`` (F,) last steps, ``scales`` (F,)
    log Laplacian scale of the coefficients in units of q2. Conditioned on a non-zero bin, so 0
    for bin 0 and for the overflow bin; all 0 for a frequency whose pattern has no empty bin
    among the first ten (a mild ripple that ordinary histograms mimic)."""
    q1 = np.asarray(q1, np.float64)
    c, f = q1.shape
    ratio = q1 / np.asarray(q2, np.float64)[None]  # >= 1: first steps are the coarser
    beta = np.exp(np.asarray(scales, np.float64))[None, :, None]
    a = np.arange(1, BINS + 1, dtype=np.float64)[None, None]
    single = np.exp(-(a - 0.5) / beta) - np.exp(-(a + 0.5) / beta)  # (1, F, BINS)
    k1 = np.arange(1, BINS + 3, dtype=np.float64)[None, None]
    x = k1 * ratio[..., None]  # (C, F, K1): where first-step values land, in last-step bins
    half = 0.5 * ratio[..., None]
    mass = np.exp(-(x - half) / beta) - np.exp(-(x + half) / beta)
    lo = np.floor(x)
    tie = np.isclose(x - lo, 0.5)
    target = np.where(tie, lo, np.rint(x))
    share = np.where(tie, 0.5, 1.0)
    base = (np.arange(c * f) * (BINS + 4)).reshape(c, f, 1)
    size = c * f * (BINS + 4)
    double, hits = np.zeros(size), np.zeros(size)
    for idx, w in ((target, share), (lo + 1, np.where(tie, 0.5, 0.0))):
        flat = (base + np.minimum(idx, BINS + 3).astype(np.int64)).ravel()
        double += np.bincount(flat, (mass * w).ravel(), minlength=size)
        hits += np.bincount(flat, w.ravel(), minlength=size)
    double = double.reshape(c, f, BINS + 4)[..., 1 : BINS + 1]
    hits = hits.reshape(c, f, BINS + 4)[..., 1:11]
    single = single / np.maximum(single.sum(axis=-1, keepdims=True), 1e-300)
    double = double / np.maximum(double.sum(axis=-1, keepdims=True), 1e-300)
    mixed = (1 - OFF_LATTICE) * double + OFF_LATTICE * single
    with np.errstate(divide="ignore", invalid="ignore", under="ignore"):
        llr = np.nan_to_num(np.log(mixed / single), nan=0.0, posinf=3.0, neginf=0.0)
    out = np.zeros((c, f, BINS + 2), np.float32)
    out[..., 1 : BINS + 1] = np.clip(llr, np.log(OFF_LATTICE), 3.0)
    out[~(hits == 0).any(axis=-1)] = 0.0
    return out


def coefficient_scales(k: np.ndarray) -> np.ndarray:
    """Per frequency, the log of the Laplacian scale (mean |coefficient|, in steps)."""
    mean = k.reshape(-1, len(FREQS)).astype(np.float32).mean(axis=0)
    return np.log(np.maximum(mean, 0.05))


def steps(table: np.ndarray) -> np.ndarray:
    """The :data:`FREQS` entries of an 8x8 quantisation table."""
    us, vs = zip(*FREQS, strict=True)
    return np.asarray(table)[list(us), list(vs)]


@lru_cache(maxsize=128)
def _first_steps(qualities: tuple[int, ...]) -> np.ndarray:
    return np.stack([steps(np.reshape(ijg_table(STD_LUMA, q), (8, 8))) for q in qualities])


def first_steps(qualities: list[int]) -> np.ndarray:
    """libjpeg's luma steps at :data:`FREQS` for each quality: (len(qualities), F)."""
    return _first_steps(tuple(qualities))


def fit_first_quality(
    k: np.ndarray, q2_table: np.ndarray, last_quality: int
) -> tuple[int | None, float, float]:
    """The first quality whose pattern best explains the blocks: (quality, share, gain).

    Each block is either quantised twice or once as a whole, so the fit is a mixture over
    blocks: gain = the best mixture's mean log-likelihood gain per block over "all blocks
    compressed once"; share = the fitted share of twice-compressed blocks. The fit uses at most
    :data:`FIT_BLOCKS` blocks spread over the image."""
    flat = k.reshape(-1, len(FREQS))
    # blocks without a non-zero coefficient have a likelihood ratio of 1 under every model
    flat = flat[((flat > 0) & (flat <= BINS)).any(axis=1)]
    if flat.shape[0] > FIT_BLOCKS:
        flat = flat[:: int(np.ceil(flat.shape[0] / FIT_BLOCKS))]
    if ((flat > 0) & (flat <= BINS)).sum() < 200:
        return None, 0.0, 0.0
    candidates = [q for q in FIRST_QUALITIES if q < last_quality]
    if not candidates:
        return None, 0.0, 0.0
    tables = llr_tables(first_steps(candidates), steps(q2_table), coefficient_scales(k))
    usable = (tables != 0).any(axis=-1).sum(axis=-1) >= MIN_FREQS
    if not usable.any():
        return None, 0.0, 0.0
    candidates = [q for q, ok in zip(candidates, usable, strict=True) if ok]
    tables = tables[usable]  # (candidates, frequencies, bins)
    llr = tables[:, np.arange(len(FREQS)), flat].sum(axis=-1, dtype=np.float32)  # (C, blocks)
    llr = np.clip(llr, -LLR_CLIP, LLR_CLIP)
    # mean log-likelihood gain of the mixture, for every candidate and share at once
    gains = np.logaddexp(
        np.log1p(-_SHARES)[:, None, None], np.log(_SHARES)[:, None, None] + llr[None]
    ).mean(axis=-1)  # (shares, C)
    j, c = np.unravel_index(int(gains.argmax()), gains.shape)
    if gains[j, c] <= 0:
        return None, 0.0, 0.0
    return candidates[c], float(_SHARES[j]), float(gains[j, c])


def block_llr(k: np.ndarray, table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per block: the summed log-likelihood ratio (double vs single) and how many non-zero
    coefficients it rests on."""
    idx = np.arange(len(FREQS))
    llr = table[idx, k].sum(axis=-1)
    count = ((k > 0) & (k <= BINS)).sum(axis=-1)
    return llr.astype(np.float32), count.astype(np.float32)


def dq_map(
    plane: np.ndarray, q2_table: np.ndarray, last_quality: int, g: int
) -> tuple[np.ndarray, dict[str, object]]:
    """Per cell of ``g`` x ``g`` blocks of ``plane`` (grid-aligned luma): the robust z-score of
    the mean log-likelihood ratio (double vs single quantisation) per non-zero coefficient,
    smoothed over 3x3 cells; positive = more double-quantised than the rest of the image. Zero
    where no first quality fits. Also the fit's numbers for the evidence."""
    z, _, ev = dq_maps(plane, q2_table, last_quality, g)
    return z, ev


def dq_maps(
    plane: np.ndarray, q2_table: np.ndarray, last_quality: int, g: int
) -> tuple[np.ndarray, np.ndarray, dict[str, object]]:
    """:func:`dq_map` and the island map: per cell, how much LESS double-quantised than the
    rest it is (a robust z-score, positive = a singly compressed island), computed only when
    the whole picture is clearly double-quantised (:data:`ISLAND_SHARE`, :data:`ISLAND_GAIN`);
    zero elsewhere."""
    k = block_coefficients(plane, q2_table)
    q1, share, gain = fit_first_quality(k, q2_table, last_quality)
    shape = (k.shape[0] // g, k.shape[1] // g)
    ev: dict[str, object] = {
        "dq_first_quality": q1,
        "dq_share": round(share, 3),
        "dq_gain_per_block": round(gain, 4),
    }
    ev["dq_whole_picture"] = bool(q1 is not None and share >= ISLAND_SHARE and gain >= ISLAND_GAIN)
    zero = np.zeros(shape, np.float32)
    if q1 is None or min(shape) == 0:
        return zero, zero, ev
    table = llr_tables(first_steps([q1]), steps(q2_table), coefficient_scales(k))[0]
    llr, count = block_llr(k, table)
    total = common.smooth(common.block_mean(np.clip(llr, -LLR_CLIP, LLR_CLIP), g))
    n = common.smooth(common.block_mean(count, g))
    # mean LLR per coefficient; cells resting on fewer than MIN_COEFS coefficients shrink to 0
    per_coef = total / np.maximum(n, MIN_COEFS / (g * g))
    valid = n * g * g >= 1
    z = common.robust_z(per_coef, valid, min_scale=Z_MIN_SCALE)
    z = np.where(valid, z, 0.0).astype(np.float32)
    if not ev["dq_whole_picture"]:
        return z, zero, ev
    pix = plane[: k.shape[0] * 8, : k.shape[1] * 8]
    clipped = common.smooth(
        common.block_mean(((pix <= 3) | (pix >= 252)).astype(np.float32), 8 * g)
    )
    ok = (n * g * g * 9 >= MIN_COEFS) & (clipped <= ISLAND_CLIP)
    if ok.sum() < 3:
        return z, zero, ev
    med = float(np.median(total[ok] / n[ok]))
    prior = ISLAND_PRIOR / (g * g)
    shrunk = (total + prior * med) / (n + prior)
    island = -common.robust_z(shrunk, ok, min_scale=ISLAND_MIN_SCALE)
    return z, np.where(ok, island, 0.0).astype(np.float32), ev
