"""Noise residuals: a local noise-level map, and regions whose noise differs from the rest.

A camera leaves one noise texture over the whole frame (varying smoothly with brightness); a
pasted region brings its own, and blurring or cloning tools flatten it. The residual is
Immerkær's fast noise estimator (a 3x3 Laplacian-difference kernel that cancels image
structure up to second order); its mean absolute value per region, corrected for texture, is
the noise level, and the score is how far the most deviant region sits from the rest in either
direction.
"""

from __future__ import annotations

import io

import cv2
import numpy as np
from PIL import Image

from detectors._forensics import common, heatmap
from verifier.detector import Detector, Example
from verifier.media import Media
from verifier.report import Finding, Status

#: Immerkær (1996), "Fast noise variance estimation": sigma = sqrt(pi/2) / 6 * mean|I * K|.
KERNEL = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)
SIGMA_FACTOR = float(np.sqrt(np.pi / 2) / 6)
#: Residuals are capped here (kernel units) so a few strong edges cannot dominate a cell.
CAP = 60.0
Z_RANGE = 6.0
MASK_Z = 3.0
#: Calibrated on authentic photos (scripts/eval_forensics.py).
STAT_LO, STAT_HI = 7.0, 15.0


def measure(media: Media) -> common.Measurement:
    """The calibrated statistic, heat map and mask (see :class:`common.Measurement`)."""
    return common.cached(media, "noise", lambda: _compute(media))


def _compute(media: Media) -> common.Measurement:
    packed = common.packed_for(media)
    plane = packed.plane
    res = np.abs(cv2.filter2D(plane, cv2.CV_32F, KERNEL, borderType=cv2.BORDER_REFLECT))
    np.minimum(res, CAP, out=res)
    # Packed blocks are not neighbours in the picture: ignore the rim of every 8x8 block.
    inner = np.zeros(8, np.float32)
    inner[1:7] = 1.0
    weight = (
        np.tile(inner, plane.shape[1] // 8)[None, :] * np.tile(inner, plane.shape[0] // 8)[:, None]
    )
    res *= weight
    g = common.cells_per_block(packed)
    cell = 8 * g
    sigma = common.block_mean(res, cell) / (36 / 64) * SIGMA_FACTOR
    # Texture from 4x4 block means: structure, with pixel noise averaged down fourfold, so
    # a noisier region is not explained away as a busier one.
    tex = common.block_std(common.block_mean(plane, 4), cell // 4)
    mean = common.block_mean(plane, cell)
    valid = (mean > 12) & (mean < 243)  # clipped regions have no noise to measure
    resid = common.texture_residual(sigma, tex, valid & (tex > 0.5))
    z = np.abs(common.smooth(common.robust_z(resid, valid, min_scale=0.1)))
    z = np.where(valid, z, 0.0)
    stat = common.top_mean(z)
    med_sigma = float(np.median(sigma[valid])) if valid.any() else 0.0
    return common.Measurement(
        statistic=stat,
        heat=np.clip(z / Z_RANGE, 0, 1),
        mask=z > MASK_Z,
        cell_px=cell * packed.stride,
        origin=packed.phase,
        evidence={
            "median_noise_sigma": round(med_sigma, 3),
            "cells": list(z.shape),
            "cell_px": cell * packed.stride,
            "valid_cells": int(valid.sum()),
            "deviation_top2pct_z": round(stat, 3),
            "cells_above_z3": int((z > MASK_Z).sum()),
            "block_stride": packed.stride,
        },
    )


class NoiseResiduals(Detector):
    name = "noise"
    version = "1.0.0"
    description = "Local noise level map; regions whose noise differs from the rest of the image."
    needs_full_resolution = True

    @classmethod
    def get_examples(cls) -> list[Example]:
        rng = np.random.default_rng(5)
        base = np.clip(rng.normal(120, 15, (256, 256)), 0, 255).astype(np.uint8)
        flat = Image.new("RGB", (300, 200), (40, 90, 200))
        return [
            Example("uniform noise", _png(Image.fromarray(base)), Status.OK, None, 0.6),
            Example("flat image", _png(flat), Status.SKIPPED),
            Example("palette image", _png(Image.fromarray(base).convert("P")), Status.SKIPPED),
        ]

    def analyze(self, media: Media) -> Finding:
        reason = common.unsuitable(media)
        if reason:
            return self.skip(reason)
        y = common.luma(media)
        if common.is_flat(y):
            return self.skip("The image is flat (one colour): there is no noise to compare.")
        m = measure(media)
        info = common.input_info(media)
        evidence = {**m.evidence, **info.as_evidence()}
        score = common.ramp(m.statistic, STAT_LO, STAT_HI, 0.45, 0.75)
        # Measured reliability is near chance on synthetic splices (AUC 0.52, README): the
        # map is for a person to look at; the finding barely counts.
        weight = 0.05
        if score >= 0.6:
            summary = (
                f"One region's noise level differs from the rest ({m.statistic:.1f} robust "
                "standard deviations after allowing for texture): consistent with a paste or a "
                "local blur, but also with depth of field or denoising, so weak evidence alone."
            )
        else:
            summary = "The noise level is consistent across the image."
        return self.ok(
            score=score,
            weight=weight,
            summary=summary,
            evidence=evidence,
            artifacts=[
                heatmap.artifact(
                    "noise-deviation.png",
                    "Noise-level deviation: black = typical for this image, white = "
                    f"{Z_RANGE:g} robust standard deviations off (noisier or smoother) after "
                    "allowing for texture.",
                    heatmap.render(common.display_luma(media), m.heat),
                )
            ],
        )


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()
