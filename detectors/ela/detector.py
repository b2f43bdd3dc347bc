"""Error level analysis: recompress once at a known quality and compare regions' error levels.

A region pasted from another picture, or edited and saved a different number of times, reacts
to one more JPEG compression differently from the rest. Raw error levels mostly follow texture
(busy areas change more), so the score comes from how inconsistent the texture-corrected
error levels are between regions, never from their mean.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from detectors._forensics import common, heatmap
from verifier.detector import Detector, Example
from verifier.media import Media
from verifier.report import Finding, Status

#: The documented recompression quality (libjpeg scale).
QUALITY = 90
#: Heatmap colour range: robust z-score 0 (black) .. Z_RANGE (white).
Z_RANGE = 6.0
#: Cells with a smoothed z above this form the predicted tampered mask.
MASK_Z = 3.0
#: Calibrated on authentic photos (scripts/eval_forensics.py): statistic -> score ramp ends.
STAT_LO, STAT_HI = 3.9, 5.5
#: Raw error-level display gain: a mean absolute error of 255 / RAW_GAIN grey levels is white.
RAW_GAIN = 16


def measure(media: Media) -> common.Measurement:
    """The calibrated statistic, heat map and mask (see :class:`common.Measurement`)."""
    return _measure(media)[0]


def _measure(media: Media) -> tuple[common.Measurement, np.ndarray]:
    return common.cached(media, "ela", lambda: _compute(media))


def _compute(media: Media) -> tuple[common.Measurement, np.ndarray]:
    packed = common.packed_for(media)
    plane = packed.plane
    diff = np.abs(plane.astype(np.int16) - common.recompress(plane, QUALITY)).astype(np.float32)
    g = common.cells_per_block(packed)
    cell = 8 * g
    err = common.block_mean(diff, cell)
    tex = common.block_std(plane, cell)
    mean = common.block_mean(plane, cell)
    valid = (mean > 8) & (mean < 247) & (tex > 0.5)  # clipped or empty cells carry no signal
    resid = common.texture_residual(err, tex, valid)
    # two-sided: a region saved before at lower quality changes *less* on recompression
    z = np.abs(common.smooth(common.robust_z(resid, valid, min_scale=0.1)))
    z = np.where(valid, z, 0.0)
    stat = common.top_mean(z)
    return common.Measurement(
        statistic=stat,
        heat=np.clip(z / Z_RANGE, 0, 1),
        mask=z > MASK_Z,
        cell_px=cell * packed.stride,
        origin=packed.phase,
        evidence={
            "recompression_quality": QUALITY,
            "mean_error_level": round(float(diff.mean()), 3),
            "cells": list(z.shape),
            "cell_px": cell * packed.stride,
            "valid_cells": int(valid.sum()),
            "inconsistency_top2pct_z": round(stat, 3),
            "cells_above_z3": int((z > MASK_Z).sum()),
            "grid_phase": list(packed.phase),
            "block_stride": packed.stride,
        },
    ), diff


class ErrorLevelAnalysis(Detector):
    name = "ela"
    version = "1.0.0"
    description = (
        f"Error level analysis at JPEG quality {QUALITY}: regions whose recompression error is "
        "inconsistent with the rest once texture is accounted for."
    )
    needs_full_resolution = True

    @classmethod
    def get_examples(cls) -> list[Example]:
        rng = np.random.default_rng(3)
        base = rng.normal(128, 20, (256, 256)).astype(np.float32)
        base = np.clip(base, 0, 255).astype(np.uint8)
        img = Image.fromarray(base).convert("RGB")
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=92)
        tiny = io.BytesIO()
        img.resize((40, 40)).save(tiny, "JPEG")
        one_bit = io.BytesIO()
        img.convert("1").save(one_bit, "PNG")
        return [
            Example("uniform noise photo", buf.getvalue(), Status.OK, None, 0.6),
            Example("tiny image", tiny.getvalue(), Status.SKIPPED),
            Example("1-bit image", one_bit.getvalue(), Status.SKIPPED),
        ]

    def analyze(self, media: Media) -> Finding:
        reason = common.unsuitable(media)
        if reason:
            return self.skip(reason)
        y = common.luma(media)
        if common.is_flat(y):
            return self.skip("The image is flat (one colour): there are no regions to compare.")
        m, diff = _measure(media)
        info = common.input_info(media)
        evidence = {**m.evidence, **info.as_evidence()}
        if info.has_alpha:
            evidence["note"] = "alpha channel ignored"
        score = common.ramp(m.statistic, STAT_LO, STAT_HI, 0.45, 0.75)
        jpeg = media.format.name == "jpeg"
        # Measured reliability is low (splice AUC 0.58, README): below the 0.2 a "moderate"
        # finding needs, so ELA alone can only support other evidence.
        weight = (0.15 if jpeg else 0.1) if score >= 0.6 else 0.1
        heat_png = heatmap.render(common.display_luma(media), m.heat)
        raw = np.clip(common.block_mean(diff, 8) * RAW_GAIN / 255.0, 0, 1)
        raw_png = heatmap.render(_packed_view(media), raw)
        if score >= 0.6:
            summary = (
                "Error levels are inconsistent between regions (strongest region "
                f"{m.statistic:.1f} robust standard deviations above the rest after allowing for "
                "texture); "
                "error level analysis is often fooled by content, so this is weak evidence alone."
            )
        else:
            summary = "Error levels are consistent across the image once texture is allowed for."
        return self.ok(
            score=score,
            weight=weight,
            summary=summary,
            evidence=evidence,
            artifacts=[
                heatmap.artifact(
                    "ela-inconsistency.png",
                    f"Error level inconsistency after recompression at quality {QUALITY}: "
                    f"black = typical, white = {Z_RANGE:g} robust standard deviations above or "
                    "below the image's own texture-corrected level. Bright regions reacted "
                    "differently.",
                    heat_png,
                ),
                heatmap.artifact(
                    "ela-raw.png",
                    f"Raw error levels at quality {QUALITY}, one pixel per 8x8 block, fixed gain "
                    f"(white = mean error {255 // RAW_GAIN} grey levels); comparable between "
                    "images. Busy texture is naturally brighter.",
                    raw_png,
                ),
            ],
        )


def _packed_view(media: Media) -> np.ndarray:
    """The packed plane shrunk to one pixel per block, as the backdrop of the raw ELA map."""
    return common.block_mean(common.packed_for(media).plane, 8).astype(np.uint8)
