"""Synthetic image: do the pixels carry the fine statistics of an image generator?

The model (task ``synthetic_image_patch``; bundled: ``synthetic_image``) looks at patches at
native resolution: resizing would erase exactly the high-frequency traces it was trained on. The
image score is the calibrated probability of the mean patch logit over a 3 x 3 grid of patches,
the same read-out the card's numbers were measured with.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from verifier import models
from verifier.detector import Detector, Example
from verifier.media import Media
from verifier.report import EvidenceKind, Finding, Status

GRID = 3


def grid_patches(image: Image.Image, size: int, n: int = GRID) -> np.ndarray:
    """``n`` x ``n`` evenly spaced ``size`` crops, float32 NCHW in [0, 1]."""
    arr = np.asarray(image if image.mode == "RGB" else image.convert("RGB"))  # uint8, no copy
    h, w = arr.shape[:2]
    xs = np.linspace(0, w - size, n).round().astype(int)
    ys = np.linspace(0, h - size, n).round().astype(int)
    # Only the crops become floats: a full-resolution float copy would cost ~12 bytes a pixel.
    crops = np.stack([arr[y : y + size, x : x + size] for y in ys for x in xs])
    return crops.transpose(0, 3, 1, 2).astype(np.float32) / 255.0


class SyntheticImage(Detector):
    name = "synthetic_image"
    version = "1.0.0"
    description = "Classifier of AI-generated vs camera images on high-frequency residual patches."
    evidence_kind = EvidenceKind.SYNTHESIS
    models = ("synthetic_image",)
    needs_full_resolution = True

    def __init__(self, settings) -> None:
        super().__init__(settings)
        self.card, self.session = models.load(
            settings, settings.synthetic_image_model, "synthetic_image_patch"
        )
        self.input_name = self.session.get_inputs()[0].name

    @classmethod
    def get_examples(cls) -> list[Example]:
        def png(w: int, h: int) -> bytes:
            buf = io.BytesIO()
            rng = np.random.default_rng(7)
            Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(buf, "PNG")
            return buf.getvalue()

        return [
            Example("too small", png(64, 48), Status.SKIPPED),
            Example("noise", png(300, 200), Status.OK, 0.0, 1.0),
        ]

    def analyze(self, media: Media) -> Finding:
        size = int(self.card["input_size"])
        if min(media.width, media.height) < size:
            return self.skip(
                f"Image too small: {media.width}x{media.height}, the model needs at least "
                f"{size}x{size} pixels at native resolution."
            )
        patches = grid_patches(media.pixels, size)
        logits = np.asarray(self.session.run(None, {self.input_name: patches})[0]).reshape(-1)
        mean = float(logits.mean())
        a, b = float(self.card["platt_a"]), float(self.card["platt_b"])
        p = 1.0 / (1.0 + np.exp(-(a * mean + b)))
        return self.ok(
            score=p,
            weight=float(self.card["weight"]),
            summary=f"Probability the image is AI-generated: {p:.2f} (from {len(logits)} patches).",
            evidence={
                "p_synthetic": round(float(p), 4),
                "mean_logit": round(mean, 4),
                "patch_logits": [round(float(v), 3) for v in logits],
                "patch_size": size,
                "model": self.card.name,
                "calibration": "Platt scaling on a held-back split (see the model card)",
            },
            models=[self.card.ref()],
        )
