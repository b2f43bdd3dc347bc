"""The committed samples get the verdicts samples/expected.json records."""

from __future__ import annotations

import json

import pytest
from conftest import ROOT, SAMPLES

from verifier.pipeline import Pipeline

EXPECTED = json.loads((SAMPLES / "expected.json").read_text())


@pytest.fixture(scope="module")
def pipeline():
    from verifier.settings import Settings

    return Pipeline(Settings.from_env({}))


def test_samples_are_small_and_all_listed():
    files = {p.name for p in SAMPLES.iterdir() if p.name != "expected.json"}
    assert files == set(EXPECTED)
    assert sum((SAMPLES / name).stat().st_size for name in files) < 2 * 1024**2


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_verdicts(name, pipeline):
    expected = EXPECTED[name]
    report = pipeline.analyze_path(SAMPLES / name)
    assert report.verdict.label.value == expected["verdict"]
    for detector in expected.get("reason_from", []):
        assert any(detector in r.findings for r in report.verdict.reasons), detector
    if "orientation_applied" in expected:
        assert report.media.orientation_applied is expected["orientation_applied"]
    if "size" in expected:
        assert [report.media.width, report.media.height] == expected["size"]


def test_the_script_reproduces_the_samples(tmp_path):
    import runpy

    runpy.run_path(str(ROOT / "scripts" / "make_samples.py"), run_name="not_main")["main"](tmp_path)
    for name in EXPECTED:
        assert (tmp_path / name).read_bytes() == (SAMPLES / name).read_bytes(), name
