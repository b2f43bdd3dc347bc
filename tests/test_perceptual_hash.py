"""The perceptual_hash detector: hashes in the report, bank matches as evidence, no side effects."""

from __future__ import annotations

import pytest
from hash_factory import jpeg, near_copies, png, scene
from PIL import Image

from detectors.perceptual_hash import PerceptualHash
from verifier import hashing
from verifier.banks import BankStore
from verifier.db import dispose_all
from verifier.pipeline import Pipeline
from verifier.report import EvidenceKind, VerdictLabel
from verifier.settings import Settings


@pytest.fixture
def bank_settings(tmp_path):
    yield Settings.from_env({}, data_dir=tmp_path / "data")
    dispose_all()


def _store(settings: Settings) -> BankStore:
    store = BankStore.from_settings(settings)
    assert store is not None
    return store


def _analyze(settings: Settings, data: bytes):
    report = Pipeline(settings).analyze_bytes(data)
    return report, report.finding("perceptual_hash")


def test_without_a_database_hashes_are_reported_and_no_file_is_created(bank_settings):
    data_dir = bank_settings.data_dir
    report, f = _analyze(bank_settings, jpeg(scene(1)))
    assert not data_dir.exists()
    assert f.status.value == "ok" and f.score is None
    assert "no banks configured" in f.summary
    ev = f.evidence
    assert len(ev["pdq"]) == 64 and ev["pdq_quality"] >= 50 and "warning" not in ev
    assert list(ev["pdq_dihedral"]) == list(hashing.DIHEDRAL)
    assert {"phash", "dhash", "ahash", "whash", "colorhash"} <= set(ev)
    assert ev["banks"] == "no banks configured"
    assert report.verdict.label is VerdictLabel.INCONCLUSIVE


def test_database_without_banks(bank_settings):
    _store(bank_settings)
    _, f = _analyze(bank_settings, jpeg(scene(1)))
    assert "no banks configured" in f.summary


def test_low_quality_image_is_flagged(bank_settings):
    _, f = _analyze(bank_settings, png(Image.new("RGB", (80, 60), (30, 30, 30))))
    assert f.evidence["pdq_quality"] < 50
    assert "below 50" in f.evidence["warning"]
    assert "unreliable" in f.summary


def test_copy_of_a_known_fake_is_strong_evidence(bank_settings):
    store = _store(bank_settings)
    store.create_bank("fakes")
    store.add_image(
        "fakes",
        jpeg(scene(1)),
        bank_settings,
        note="hoax photo",
        source_url="https://example.org/fact-check",
    )
    report, f = _analyze(bank_settings, jpeg(near_copies(scene(1))["recompressed"], 70))
    assert (f.score, f.weight) == (0.99, 0.95)
    assert f.evidence_kind is EvidenceKind.MANIPULATION
    assert "known manipulated fake" in f.summary and "https://example.org/fact-check" in f.summary
    assert f.evidence["matches"][0]["label"] == "known_fake"
    assert report.verdict.label is VerdictLabel.LIKELY_MANIPULATED
    _, other = _analyze(bank_settings, jpeg(scene(2)))
    assert other.score is None and "No match in 1 bank" in other.summary


def test_mirrored_copy_of_a_generated_fake_gives_likely_synthetic(bank_settings):
    store = _store(bank_settings)
    store.create_bank("ai")
    store.add_image("ai", jpeg(scene(4)), bank_settings, evidence_kind="synthesis")
    mirrored = scene(4).transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    report, f = _analyze(bank_settings, jpeg(mirrored))
    assert f.evidence_kind is EvidenceKind.SYNTHESIS and f.score == 0.99
    assert "mirrored left to right" in f.summary
    assert f.evidence["matches"][0]["transform"] == "flip_left_right"
    assert report.verdict.label is VerdictLabel.LIKELY_SYNTHETIC


def test_copy_of_a_known_original_points_at_it(bank_settings):
    store = _store(bank_settings)
    store.create_bank("originals")
    store.add_image(
        "originals",
        jpeg(scene(5)),
        bank_settings,
        label="known_original",
        note="agency photo, 2019",
        source_url="https://example.org/original",
    )
    report, f = _analyze(bank_settings, jpeg(scene(5), 75))
    assert (f.score, f.weight) == (0.3, 0.3)
    assert "known original" in f.summary and "https://example.org/original" in f.summary
    assert report.verdict.label is VerdictLabel.INCONCLUSIVE


def test_equally_near_fake_and_original_is_not_called_a_fake(bank_settings):
    store = _store(bank_settings)
    store.create_bank("fakes")
    store.create_bank("originals")
    store.add_image("fakes", jpeg(scene(6)), bank_settings)
    store.add_image("originals", jpeg(scene(6)), bank_settings, label="known_original")
    report, f = _analyze(bank_settings, jpeg(scene(6)))
    assert f.score is None and "compare the images by eye" in f.summary
    assert report.verdict.label is VerdictLabel.INCONCLUSIVE


def test_low_quality_collision_is_never_a_known_fake(bank_settings):
    store = _store(bank_settings)
    store.create_bank("fakes")
    flat = Image.new("RGB", (90, 90), (20, 20, 20))
    entry = store.add_image("fakes", png(flat), bank_settings)
    assert entry.warnings
    store.add_hash("fakes", "0" * 64)  # a raw flat-image hash, no quality given
    report, f = _analyze(bank_settings, png(Image.new("RGB", (120, 60), (20, 20, 20))))
    assert f.evidence["match_count"] >= 1
    assert not any(m["reliable"] for m in f.evidence["matches"])
    assert f.score is None and "not counted" in f.summary
    assert report.verdict.label is VerdictLabel.INCONCLUSIVE


def test_unreachable_database_keeps_the_hashes(tmp_path):
    settings = Settings.from_env(
        {}, database_url="postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2"
    )
    finding = Pipeline(settings, [PerceptualHash(settings)]).analyze_bytes(jpeg(scene(1)))
    f = finding.finding("perceptual_hash")
    assert f.status.value == "ok" and "matching against banks failed" in f.summary
    assert len(f.evidence["pdq"]) == 64
    dispose_all()
