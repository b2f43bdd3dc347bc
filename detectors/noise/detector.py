"""Noise residuals: a local noise-level map, and regions whose noise differs from the rest.

A camera leaves one fine-grain texture (sensor noise and the finest detail) over the whole
frame; a region pasted from a more heavily compressed picture, blurred, or denoised has lost
it, and one with noise added has more. Per 8x8 block on the file's JPEG grid the residual is
the high-frequency DCT energy (bands u + v >= 5), compared with what the block's mid-frequency
texture (bands 2..4) predicts in this image (a binned, trimmed fit: a high-frequency DCT noise
estimate after Lyu, Pan & Zhang 2014). Regions the size of a pasted object are then scored by
how far their pooled deviation sits from zero, in either direction.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from detectors._forensics import common, heatmap
from verifier.detector import Detector, Example
from verifier.media import Media
from verifier.report import Finding, Status

#: DCT bands (u + v) of the fine-grain residual and of the texture that predicts it. Chosen by
#: splice AUC on the synthetic set among six pairs (README): >= 5 against 2..4 is best (0.64);
#: with bands 1..3 as texture, smooth shading passes for blur (0.61).
HF_BAND, TEX_BANDS = 5, (2, 4)
#: Side of the pooling window, as a share of the longer side: a pasted object's size (the
#: synthetic splices cover 3-12 % of the frame, 17-35 % of a side).
WINDOW = 0.12
#: Heatmap range and mask: region z from 0 (black) to Z_RANGE (white); the mask is the cells
#: deviating, in the strongest region's direction, by at least MASK_SHARE of its value.
Z_RANGE = 20.0
MASK_SHARE = 0.5
#: Calibrated on the 238 authentic originals (scripts/eval_forensics.py, README): the ramp
#: starts at their 95th percentile (18.7) and reaches 0.60 at their 99th (22.2); max 26.1.
STAT_LO, STAT_HI = 18.5, 26.0


def measure(media: Media) -> common.Measurement:
    """The calibrated statistic, heat map and mask (see :class:`common.Measurement`)."""
    return common.cached(media, "noise", lambda: _compute(media))


def _compute(media: Media) -> common.Measurement:
    packed = common.packed_for(media)
    coefs = common.block_dct(packed.plane)
    fine, texture = (np.log1p(b) for b in common.band_sums(coefs, (HF_BAND, 14), TEX_BANDS))
    mean = coefs[..., 0] / 8
    valid = (mean > 12) & (mean < 243)  # clipped blocks have no noise to measure
    dev = common.region_deviation(fine, texture, valid, packed, WINDOW, MASK_SHARE)
    evidence = {
        "direction": "smoother" if dev.top.direction < 0 else "noisier",
        "smoother_region_z": round(dev.top.low, 2),
        "noisier_region_z": round(dev.top.high, 2),
        "window_share": WINDOW,
    }
    return dev.measurement(packed, Z_RANGE, evidence)


class NoiseResiduals(Detector):
    name = "noise"
    version = "1.1.0"
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
        reason = common.unsuitable(media, "there is no noise to compare")
        if reason:
            return self.skip(reason)
        m = measure(media)
        info = common.input_info(media)
        evidence = {**m.evidence, **info.as_evidence()}
        score = common.ramp(m.statistic, STAT_LO, STAT_HI, 0.45, 0.75)
        # Measured reliability is weak (splice AUC 0.64; only 2 % of splices beyond every
        # authentic photo, README): below the 0.2 a "moderate" finding needs, so the finding
        # can only support other evidence; the map is for a person to look at.
        weight = 0.1
        if score >= 0.6:
            summary = (
                f"One region is {m.evidence['direction']} than the rest of the image once "
                f"texture is allowed for (pooled z {m.statistic:.1f}, beyond 99 % of authentic "
                "photos): consistent with a paste, a local blur or added noise, but also with "
                "depth of field or local denoising, so weak evidence alone."
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
                    "Noise-level (fine-grain) deviation: black = typical for this image, white = "
                    f"a region z of {Z_RANGE:g} or more (pooled over an object-sized window), "
                    "noisier or smoother than the image's texture predicts.",
                    heatmap.render(common.display_luma(media), m.heat),
                )
            ],
        )


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()
