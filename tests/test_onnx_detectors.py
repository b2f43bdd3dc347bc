"""The trained detectors on real data they were not trained on (skips without shared data).

Direction checks only, on a handful of files: the accuracy figures live in the model cards.
"""

from __future__ import annotations

import hashlib

from detectors.face_swap import FaceSwap
from detectors.synthetic_image import SyntheticImage
from verifier.media import load_media
from verifier.report import Status


def _test_split(key: str, salt: str) -> bool:
    """Mirrors training.common.split_of: the buckets the training scripts held back."""
    return int(hashlib.sha256(f"{salt}:{key}".encode()).hexdigest(), 16) % 10 in {2, 3}


def test_synthetic_image_ranks_held_back_ai_above_real(settings, shared_data):
    import csv

    root = shared_data / "train" / "ai-vs-real"
    with open(root / "labels.csv", newline="") as f:
        rows = [
            r
            for r in csv.DictReader(f)
            if _test_split(f"{r['source_repo']}/{r['source_path']}", "verifier")
        ]
    ai = [r for r in rows if r["label"] == "ai"][:4]
    real = [r for r in rows if r["label"] == "real"][:4]
    detector = SyntheticImage(settings)

    def score(row):
        finding = detector.analyze(load_media((root / row["file"]).read_bytes(), settings))
        assert finding.status is Status.OK
        assert finding.models[0].name == "synthetic_image"
        return finding.score

    assert sum(map(score, ai)) / len(ai) > sum(map(score, real)) / len(real)


def test_face_swap_scores_a_real_face(settings, shared_data):
    faces = sorted((shared_data / "train" / "faces-lfw" / "images").glob("*.jpg"))
    held_back = [
        p
        for p in faces
        if int(hashlib.sha256(f"faceswap:lfw/{p.name}".encode()).hexdigest(), 16) % 10 == 1
    ]
    assert held_back
    finding = FaceSwap(settings).analyze(load_media(held_back[0].read_bytes(), settings))
    assert finding.status is Status.OK
    assert finding.evidence["faces_scored"] == 1
    assert 0.0 <= finding.score <= 1.0
    assert 0.0 < finding.weight < 0.5  # the card's weight: this model is never strong alone
    assert [m.name for m in finding.models] == ["centerface", "face_swap_sbi"]
