"""The contract every registered detector passes."""

from __future__ import annotations

import pytest
from media_factory import VIDEO_HEADERS, encode, pattern

from verifier.detector import Detector
from verifier.media import MediaKind, load_media
from verifier.pipeline import Pipeline
from verifier.registry import registered
from verifier.report import Finding, Status

DETECTORS = registered()
IDS = [cls.name for cls in DETECTORS]


def _inputs():
    return {
        "jpeg": encode(pattern(200, 150), "jpeg"),
        "png": encode(pattern(200, 150), "png"),
        "webp": encode(pattern(200, 150), "webp"),
        "mp4": VIDEO_HEADERS["mp4"],
    }


@pytest.fixture(scope="module")
def inputs():
    return _inputs()


def test_names_are_unique_and_metadata_valid():
    assert len(IDS) == len(set(IDS))
    for cls in DETECTORS:
        assert cls.check_metadata() == []


@pytest.mark.parametrize("cls", DETECTORS, ids=IDS)
def test_findings_are_well_formed_and_deterministic(cls: type[Detector], settings, inputs):
    pipeline = Pipeline(settings, [cls(settings)])
    for label, data in inputs.items():
        media = load_media(data, settings)
        first = pipeline.run_detector(pipeline.detectors[0], media)
        second = pipeline.run_detector(pipeline.detectors[0], load_media(data, settings))
        assert isinstance(first, Finding)
        assert first.detector == cls.name and first.detector_version == cls.version
        assert first.status in (Status.OK, Status.SKIPPED), (label, first.error)
        if first.score is not None:
            assert 0.0 <= first.score <= 1.0
            assert 0.0 <= first.weight <= 1.0
        strip = {"duration_ms"}
        assert first.model_dump(exclude=strip) == second.model_dump(exclude=strip), label
        first.model_dump_json()  # serialisable


@pytest.mark.parametrize("cls", DETECTORS, ids=IDS)
def test_unsupported_media_kinds_are_skipped(cls: type[Detector], settings, inputs):
    pipeline = Pipeline(settings, [cls(settings)])
    for kind, data in ((MediaKind.IMAGE, inputs["jpeg"]), (MediaKind.VIDEO, inputs["mp4"])):
        if kind in cls.media_kinds:
            continue
        finding = pipeline.run_detector(pipeline.detectors[0], load_media(data, settings))
        assert finding.status is Status.SKIPPED
        assert finding.reason


@pytest.mark.parametrize("cls", DETECTORS, ids=IDS)
def test_examples(cls: type[Detector], settings):
    examples = cls.get_examples()
    assert examples, f"{cls.name} ships no get_examples()"
    pipeline = Pipeline(settings, [cls(settings)])
    for ex in examples:
        finding = pipeline.run_detector(pipeline.detectors[0], load_media(ex.data, settings))
        assert finding.status is ex.status, (ex.label, finding)
        if ex.min_score is not None:
            assert finding.score is not None and finding.score >= ex.min_score, ex.label
        if ex.max_score is not None:
            assert finding.score is not None and finding.score <= ex.max_score, ex.label
