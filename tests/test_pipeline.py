from __future__ import annotations

import time

import pytest
from media_factory import encode, pattern

from verifier.detector import Detector
from verifier.errors import ConfigError, DetectorRegistryError
from verifier.media import MediaKind
from verifier.pipeline import Pipeline
from verifier.registry import select, validate
from verifier.report import SCHEMA_VERSION, Report, Status, VerdictLabel


class Boom(Detector):
    name = "boom"
    version = "0.0.1"
    description = "always raises"

    def analyze(self, media):
        raise RuntimeError("kaboom")


class Sleepy(Detector):
    name = "sleepy"
    version = "0.0.1"
    description = "overruns its time limit"

    def analyze(self, media):
        time.sleep(5)
        return self.informational(summary="woke up")


class Strong(Detector):
    name = "strong"
    version = "2.0"
    description = "always finds strong evidence"

    def analyze(self, media):
        return self.ok(score=0.95, weight=0.9, summary="Clearly spliced.", evidence={"x": 1})


class VideoOnly(Detector):
    name = "video_only"
    version = "1"
    description = "videos only"
    media_kinds = frozenset({MediaKind.VIDEO})

    def analyze(self, media):  # pragma: no cover - never called for images
        raise AssertionError


class WrongReturn(Detector):
    name = "wrong_return"
    version = "1"
    description = "returns a string"

    def analyze(self, media):
        return "oops"


@pytest.fixture
def jpeg():
    return encode(pattern(), "jpeg")


def test_a_failing_detector_is_isolated(settings, jpeg, caplog):
    pipeline = Pipeline(settings, [Boom(settings), Strong(settings)])
    report = pipeline.analyze_bytes(jpeg)
    boom = report.finding("boom")
    assert boom.status is Status.ERROR and "kaboom" in boom.error
    assert report.finding("strong").status is Status.OK
    assert report.verdict.label is VerdictLabel.LIKELY_MANIPULATED
    assert any("boom" in r.text for r in report.verdict.reasons)
    assert any(r.exc_info for r in caplog.records)  # logged with its traceback


def test_a_slow_detector_times_out(settings, jpeg):
    fast = settings.with_overrides(detector_timeout=0.2)
    pipeline = Pipeline(fast, [Sleepy(fast), Strong(fast)])
    start = time.perf_counter()
    report = pipeline.analyze_bytes(jpeg)
    assert time.perf_counter() - start < 3
    assert report.finding("sleepy").status is Status.ERROR
    assert "Timed out" in report.finding("sleepy").error
    assert report.finding("strong").status is Status.OK


def test_wrong_return_type_is_an_error(settings, jpeg):
    report = Pipeline(settings, [WrongReturn(settings)]).analyze_bytes(jpeg)
    assert report.findings[0].status is Status.ERROR


def test_inapplicable_media_kind_is_skipped(settings, jpeg):
    report = Pipeline(settings, [VideoOnly(settings)]).analyze_bytes(jpeg)
    assert report.findings[0].status is Status.SKIPPED
    assert "videos only" in report.findings[0].reason


def test_report_records_versions_and_input(settings, jpeg):
    report = Pipeline(settings, [Strong(settings)]).analyze_bytes(jpeg, name="x.jpg")
    assert report.schema_version == SCHEMA_VERSION
    assert report.tool.detectors == {"strong": "2.0"}
    assert "pillow" in report.tool.packages and "numpy" in report.tool.packages
    assert report.media.format == "jpeg" and report.media.size_bytes == len(jpeg)
    assert len(report.media.sha256) == 64
    assert report.findings[0].duration_ms >= 0
    again = Report.model_validate_json(report.model_dump_json())
    assert again.model_dump() == report.model_dump()


def test_progress_callback(settings, jpeg):
    seen = []
    one_at_a_time = settings.with_overrides(detector_threads=1)
    Pipeline(one_at_a_time, [Strong(settings), Boom(settings)]).analyze_bytes(
        jpeg, progress=lambda done, total, name: seen.append((done, total, name))
    )
    assert seen == [(0, 2, "strong"), (1, 2, "boom"), (2, 2, None)]


class Nap(Detector):
    name = "nap"
    version = "1"
    description = "sleeps 0.4 s"

    def analyze(self, media):
        time.sleep(0.4)
        return self.informational(summary="Napped.")


class Nap2(Nap):
    name = "nap2"


def test_detectors_run_in_parallel_and_keep_registry_order(settings, jpeg):
    seen = []
    two = settings.with_overrides(detector_threads=2)
    pipeline = Pipeline(two, [Nap(two), Nap2(two), Strong(two)])
    start = time.perf_counter()
    report = pipeline.analyze_bytes(jpeg, progress=lambda *a: seen.append(a))
    assert time.perf_counter() - start < 0.75  # two 0.4 s naps side by side, not 0.8 s
    assert [f.detector for f in report.findings] == ["nap", "nap2", "strong"]
    assert seen[-1] == (3, 3, None)
    assert [done for done, _, _ in seen] == sorted(done for done, _, _ in seen)


def test_registry_rejects_duplicates_and_bad_metadata():
    class Dup(Strong):
        pass

    with pytest.raises(DetectorRegistryError, match="registered 2 times"):
        validate([Strong, Dup])

    class Nameless(Detector):
        version = "1"
        description = "x"

        def analyze(self, media):  # pragma: no cover
            pass

    with pytest.raises(DetectorRegistryError, match="name"):
        validate([Nameless])


def test_settings_select_detectors(settings):
    classes = [Strong, Boom, Sleepy]
    assert select(settings, classes) == classes
    assert select(settings.with_overrides(detectors=("boom",)), classes) == [Boom]
    assert select(settings.with_overrides(disabled_detectors=("boom",)), classes) == [
        Strong,
        Sleepy,
    ]
    with pytest.raises(ConfigError, match="unknown detector"):
        select(settings.with_overrides(detectors=("nope",)), classes)
