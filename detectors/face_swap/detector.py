"""Face swap: does a face show the blending traces a face swap leaves?

The model (task ``face_swap_crop``; bundled: ``face_swap_sbi``, trained on self-blended images)
scores each face crop; the image score is the highest calibrated probability over the faces large
enough to judge, because a swap usually replaces one face among several. Which model runs is a
setting, so a newsroom can drop in its own classifier of the same task without code changes.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from verifier import faces as facelib
from verifier import models
from verifier.detector import Detector, Example
from verifier.media import Media
from verifier.report import Finding, Status

#: At most this many faces (the largest) are scored; the rest are counted.
MAX_FACES = 8


class FaceSwap(Detector):
    name = "face_swap"
    version = "1.0.0"
    description = "Face-swap classifier on each face crop (self-blended-images training)."
    models = ("centerface", "face_swap_sbi")
    needs_full_resolution = True

    def __init__(self, settings) -> None:
        super().__init__(settings)
        self.faces = facelib.FaceFinder(settings)
        self.card, self.session = models.load(settings, settings.face_swap_model, "face_swap_crop")
        self.input_name = self.session.get_inputs()[0].name

    @classmethod
    def get_examples(cls) -> list[Example]:
        buf = io.BytesIO()
        Image.linear_gradient("L").convert("RGB").resize((320, 240)).save(buf, "PNG")
        return [Example("gradient, no face", buf.getvalue(), Status.SKIPPED)]

    def analyze(self, media: Media) -> Finding:
        found = self.faces.find(media)
        if not found:
            return self.skip("No face found.")
        minimum = self.settings.min_face_size
        usable = sorted(
            (f for f in found if min(f.width, f.height) >= minimum),
            key=lambda f: f.width * f.height,
            reverse=True,
        )
        if not usable:
            largest = max(min(f.width, f.height) for f in found)
            return self.skip(
                f"{len(found)} face(s) found, all too small to judge (largest {largest:.0f} px, "
                f"need {minimum} px).",
                evidence={"faces": len(found), "min_face_size_px": minimum},
            )
        size, scale = int(self.card["input_size"]), float(self.card["crop_scale"])
        batch = np.stack(
            [
                np.asarray(
                    facelib.face_crop(media.pixels, f, scale=scale, size=size), dtype=np.float32
                ).transpose(2, 0, 1)
                / 255.0
                for f in usable[:MAX_FACES]
            ]
        )
        logits = np.asarray(self.session.run(None, {self.input_name: batch})[0]).reshape(-1)
        a, b = float(self.card["platt_a"]), float(self.card["platt_b"])
        probs = 1.0 / (1.0 + np.exp(-(a * logits + b)))
        per_face = []
        for face, p in zip(usable, probs, strict=False):
            entry = face.to_dict()
            entry["p_swap"] = round(float(p), 4)
            per_face.append(entry)
        top = float(probs.max())
        which = int(probs.argmax())
        return self.ok(
            score=top,
            weight=float(self.card["weight"]),
            summary=(
                f"Highest face-swap probability {top:.2f} over {len(per_face)} face(s) "
                f"(face {which + 1}, largest first)."
            ),
            evidence={
                "faces_scored": len(per_face),
                "faces_found": len(found),
                "faces_too_small": sum(1 for f in found if min(f.width, f.height) < minimum),
                "per_face": per_face,
                "model": self.card.name,
                "calibration": "Platt scaling on held-back real and self-blended LFW faces",
            },
            models=[self.faces.card.ref(), self.card.ref()],
        )
