"""Face detection: where the faces are, so a person (and the face-swap detector) can look at them.

Reports facts, not a score: a face in a picture is no evidence of manipulation. Faces too small to
judge are flagged, because every face-level method (ours and a human's) fails on a few dozen
pixels.
"""

from __future__ import annotations

import io

from PIL import Image, ImageDraw

from verifier import faces as facelib
from verifier.detector import Detector, Example
from verifier.media import Media
from verifier.report import Artifact, Finding, Status

#: At most this many faces go into the report (largest first); the count is always complete.
MAX_REPORTED = 50


class FaceDetection(Detector):
    name = "face_detection"
    version = "1.0.0"
    description = "Finds faces (box, five landmarks, score) with CenterFace; flags faces too small."
    models = ("centerface",)
    needs_full_resolution = True

    def __init__(self, settings) -> None:
        super().__init__(settings)
        self.faces = facelib.FaceFinder(settings)

    @classmethod
    def get_examples(cls) -> list[Example]:
        buf = io.BytesIO()
        Image.linear_gradient("L").convert("RGB").resize((320, 240)).save(buf, "PNG")
        return [Example("gradient, no face", buf.getvalue(), Status.SKIPPED)]

    def analyze(self, media: Media) -> Finding:
        found = self.faces.find(media)
        if not found:
            return self.skip("No face found.", evidence={"faces": 0})
        found.sort(key=lambda f: f.width * f.height, reverse=True)
        minimum = self.settings.min_face_size
        listed = []
        for face in found[:MAX_REPORTED]:
            entry = face.to_dict()
            entry["too_small"] = min(face.width, face.height) < minimum
            listed.append(entry)
        small = sum(1 for f in found if min(f.width, f.height) < minimum)
        summary = f"{len(found)} face(s) found"
        if small:
            summary += f", {small} too small to judge (under {minimum} px)"
        return self.informational(
            summary=summary + ".",
            evidence={
                "faces": len(found),
                "too_small": small,
                "min_face_size_px": minimum,
                "detections": listed,
                "model": self.faces.card.name,
            },
            artifacts=[self._overlay(media, found[:MAX_REPORTED], minimum)],
        )

    @staticmethod
    def _overlay(media: Media, found: list[facelib.Face], minimum: int) -> Artifact:
        """The image (at most 1024 px) with boxes: green judgeable, orange too small."""
        image = media.reduced(1024).copy()
        scale = image.width / media.width
        draw = ImageDraw.Draw(image)
        for face in found:
            colour = (255, 140, 0) if min(face.width, face.height) < minimum else (0, 200, 0)
            box = [v * scale for v in (face.x1, face.y1, face.x2, face.y2)]
            draw.rectangle(box, outline=colour, width=2)
            for x, y in face.landmarks:
                draw.ellipse([x * scale - 2, y * scale - 2, x * scale + 2, y * scale + 2], colour)
        buf = io.BytesIO()
        image.save(buf, "PNG")
        return Artifact.from_bytes(
            "faces.png",
            "image/png",
            "Detected faces: green boxes can be judged, orange ones are too small.",
            buf.getvalue(),
        )
