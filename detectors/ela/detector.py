"""Error level analysis: recompress once at a known quality and compare regions' error levels.

A region pasted from another picture, or edited and saved a different number of times, reacts
to one more JPEG compression differently from the rest. Raw error levels mostly follow texture
(busy areas change more), so each 8x8 block's error level is compared with what its texture
predicts in this image, and the score comes from the region (the size of a pasted object)
whose pooled deviation is largest, in either direction: how inconsistent error levels are
across regions, never their mean.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from detectors._forensics import common, heatmap
from verifier.detector import Detector, Example
from verifier.media import Media
from verifier.report import Finding, Status

#: The documented recompression quality (libjpeg scale). Chosen by a sweep on the synthetic
#: set (splice AUC 0.675 / 0.682 / 0.671 / 0.639 / 0.621 / 0.635 at 60 / 70 / 75 / 80 / 90 / 95,
#: README): a region already quantised at a coarser quality changes least near it (the JPEG
#: ghost effect at one quality). The file's own estimated quality was measured worse (0.51).
QUALITY = 75
#: Side of the pooling window as a share of the longer side: about a pasted object's size
#: (the synthetic splices cover 3-12 % of the frame). Same as the noise detector's.
WINDOW = 0.12
#: Heatmap colour range: region z 0 (black) .. Z_RANGE (white), in either direction.
Z_RANGE = 20.0
#: The mask: cells deviating, in the strongest region's direction, by at least this share of it.
MASK_SHARE = 0.5
#: Calibrated on the 238 authentic originals (scripts/eval_forensics.py): the ramp starts at
#: their 95th percentile (19.9) and reaches 0.60 at their 99th (23.35); max 26.5.
STAT_LO, STAT_HI = 19.9, 26.8
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
    # per 8x8 block: log error level given log texture (binned, trimmed fit over the image)
    err = np.log1p(common.block_mean(diff, 8))
    tex = np.log1p(common.block_std(plane, 8))
    mean = common.block_mean(plane, 8)
    valid = (mean > 8) & (mean < 247)  # clipped blocks carry no signal
    # two-sided: a region saved before at lower quality changes *less* on recompression
    dev = common.region_deviation(err, tex, valid, packed, WINDOW, MASK_SHARE)
    less = dev.top.direction < 0
    evidence = {
        "recompression_quality": QUALITY,
        "mean_error_level": round(float(diff.mean()), 3),
        "direction": "less error than texture predicts" if less else "more error",
        "cells_in_mask": int(dev.top.mask.sum()),
        "grid_phase": list(packed.phase),
    }
    return dev.measurement(packed, Z_RANGE, evidence), diff


class ErrorLevelAnalysis(Detector):
    name = "ela"
    version = "1.1.0"
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
        reason = common.unsuitable(media, "there are no regions to compare")
        if reason:
            return self.skip(reason)
        m, diff = _measure(media)
        info = common.input_info(media)
        evidence = {**m.evidence, **info.as_evidence()}
        if info.has_alpha:
            evidence["note"] = "alpha channel ignored"
        score = common.ramp(m.statistic, STAT_LO, STAT_HI, 0.45, 0.75)
        jpeg = media.format.name == "jpeg"
        # Measured reliability is low (splice AUC 0.67, README; 4 % of splices beyond every
        # authentic photo): below the 0.2 a "moderate" finding needs, so ELA alone can only
        # support other evidence.
        weight = (0.15 if jpeg else 0.1) if score >= 0.6 else 0.1
        heat_png = heatmap.render(common.display_luma(media), m.heat)
        raw = np.clip(common.block_mean(diff, 8) * RAW_GAIN / 255.0, 0, 1)
        raw_png = heatmap.render(_packed_view(media), raw)
        if score >= 0.6:
            summary = (
                "Error levels are inconsistent between regions (the strongest region deviates "
                f"by a pooled z of {m.statistic:.1f} after allowing for texture, beyond 99 % of "
                "authentic photos); "
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
                    f"black = typical, white = a region z of {Z_RANGE:g} or more (pooled over an "
                    "object-sized window) above or below the image's own texture-corrected "
                    "level. Bright regions reacted differently.",
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
