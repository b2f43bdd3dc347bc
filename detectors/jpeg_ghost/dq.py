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
from detectors.jpeg_structure.detector import _DCT, STD_LUMA, ijg_table

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


def block_coefficients(plane: np.ndarray, q: np.ndarray) -> np.ndarray:
    """|round(DCT / q)| of the :data:`FREQS` coefficients per 8x8 block: (rows, cols, freqs)."""
    by, bx = plane.shape[0] // 8, plane.shape[1] // 8
    blocks = plane[: by * 8, : bx * 8].astype(np.float32) - 128
    blocks = blocks.reshape(by, 8, bx, 8).transpose(0, 2, 1, 3)
    dct = _DCT.astype(np.float32)
    coef = dct @ blocks @ dct.T
    us, vs = zip(*FREQS, strict=True)
    sel = coef[:, :, list(us), list(vs)] / q[list(us), list(vs)].astype(np.float32)
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


@lru_cache(maxsize=8192)
def _llr_row(q1: int, q2: int, log_scale: float) -> np.ndarray:
    """LLR per bin for steps q1 then q2, coefficients Laplacian with scale exp(log_scale)
    (in units of q2), conditioned on a non-zero bin."""
    ratio = lattice_ratio(q1, q2)
    row = np.zeros(BINS + 2, np.float32)
    if not (ratio[1:11] == 0).any():
        # No empty bin among the first ten: the pattern is a mild ripple (a first step finer
        # than, or within a step of, the last one) that ordinary histograms mimic.
        row.flags.writeable = False
        return row
    beta = float(np.exp(log_scale))
    a = np.arange(1, BINS + 1)
    single = np.exp(-(a - 0.5) / beta) - np.exp(-(a + 0.5) / beta)
    k1 = np.arange(1, (BINS + 2) * q2 // q1 + 2)
    x = k1 * q1 / q2
    mass = np.exp(-(x - 0.5 * q1 / q2) / beta) - np.exp(-(x + 0.5 * q1 / q2) / beta)
    keep = x < BINS + 1
    x, mass = x[keep], mass[keep]
    lo = np.floor(x).astype(np.int64)
    tie = np.isclose(x - lo, 0.5)
    double = np.zeros(BINS + 3)
    np.add.at(double, np.rint(x[~tie]).astype(np.int64), mass[~tie])
    np.add.at(double, lo[tie], 0.5 * mass[tie])
    np.add.at(double, lo[tie] + 1, 0.5 * mass[tie])
    double = double[1 : BINS + 1]
    single = single / max(single.sum(), 1e-300)
    double = double / max(double.sum(), 1e-300)
    mixed = (1 - OFF_LATTICE) * double + OFF_LATTICE * single
    with np.errstate(divide="ignore", invalid="ignore"):
        llr = np.log(mixed / single)
    row[1 : BINS + 1] = np.clip(np.nan_to_num(llr, nan=0.0), np.log(OFF_LATTICE), 3.0)
    row.flags.writeable = False
    return row


def coefficient_scales(k: np.ndarray) -> np.ndarray:
    """Per frequency, the log of the Laplacian scale (mean |coefficient|, in steps), rounded to
    0.1 so the tables can be cached."""
    mean = k.reshape(-1, len(FREQS)).astype(np.float32).mean(axis=0)
    return np.round(np.log(np.maximum(mean, 0.05)), 1)


def llr_tables(q1_table: np.ndarray, q2_table: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """Per frequency, the log-likelihood ratio of each bin (0 for bin 0 and overflow)."""
    return np.stack(
        [
            _llr_row(int(q1_table[u, v]), int(q2_table[u, v]), float(s))
            for (u, v), s in zip(FREQS, scales, strict=True)
        ]
    )


def first_table(quality: int) -> np.ndarray:
    """libjpeg's luma table at ``quality`` as an 8x8 array."""
    return np.asarray(ijg_table(STD_LUMA, quality)).reshape(8, 8)


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
    scales = coefficient_scales(k)
    candidates, rows = [], []
    for q in FIRST_QUALITIES:
        table = llr_tables(first_table(q), q2_table, scales)
        if q < last_quality and (table != 0).any(axis=1).sum() >= MIN_FREQS:
            candidates.append(q)
            rows.append(table)
    if not candidates:
        return None, 0.0, 0.0
    tables = np.stack(rows)  # (candidates, frequencies, bins)
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
    k = block_coefficients(plane, q2_table)
    q1, share, gain = fit_first_quality(k, q2_table, last_quality)
    shape = (k.shape[0] // g, k.shape[1] // g)
    ev: dict[str, object] = {
        "dq_first_quality": q1,
        "dq_share": round(share, 3),
        "dq_gain_per_block": round(gain, 4),
    }
    if q1 is None or min(shape) == 0:
        return np.zeros(shape, np.float32), ev
    llr, count = block_llr(k, llr_tables(first_table(q1), q2_table, coefficient_scales(k)))
    total = common.smooth(common.block_mean(np.clip(llr, -LLR_CLIP, LLR_CLIP), g))
    n = common.smooth(common.block_mean(count, g))
    # mean LLR per coefficient; cells resting on fewer than MIN_COEFS coefficients shrink to 0
    per_coef = total / np.maximum(n, MIN_COEFS / (g * g))
    valid = n * g * g >= 1
    z = common.robust_z(per_coef, valid, min_scale=Z_MIN_SCALE)
    return np.where(valid, z, 0.0).astype(np.float32), ev
