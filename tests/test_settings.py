from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from verifier.errors import ConfigError
from verifier.settings import Settings, env_name, parse_size

README = Path(__file__).resolve().parents[1] / "README.md"


def test_defaults_are_valid():
    s = Settings.from_env({})
    assert s.max_bytes > 0 and s.detectors == ()


def test_parsing():
    s = Settings.from_env(
        {
            "VERIFIER_MAX_BYTES": "64M",
            "VERIFIER_MAX_PIXELS": "1_000_000",
            "VERIFIER_DETECTORS": "file_facts, exif",
            "VERIFIER_DETECTOR_TIMEOUT": "2.5",
            "VERIFIER_LOG_LEVEL": "debug",
        }
    )
    assert s.max_bytes == 64 * 1024**2
    assert s.max_pixels == 1_000_000
    assert s.detectors == ("file_facts", "exif")
    assert s.detector_timeout == 2.5
    assert s.log_level == "DEBUG"


@pytest.mark.parametrize(("text", "value"), [("100", 100), ("2k", 2048), ("1GiB", 1024**3)])
def test_parse_size(text, value):
    assert parse_size(text) == value


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"VERIFIER_MAX_BYTES": "lots"}, "VERIFIER_MAX_BYTES"),
        ({"VERIFIER_MAX_PIXELS": "-5"}, "must be positive"),
        ({"VERIFIER_LOG_LEVEL": "LOUD"}, "logging level"),
        ({"VERIFIER_MAX_BYTE": "1"}, "did you mean VERIFIER_MAX_BYTES"),
    ],
)
def test_bad_settings_fail_clearly(env, words):
    with pytest.raises(ConfigError, match=words):
        Settings.from_env(env)


def test_settings_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Settings.from_env({}).max_bytes = 1  # type: ignore[misc]


def test_readme_documents_every_setting():
    text = README.read_text()
    missing = [
        env_name(f.name) for f in dataclasses.fields(Settings) if env_name(f.name) not in text
    ]
    assert not missing, f"README settings table lacks {missing}; run `verifier settings --markdown`"


def test_ci_runs_exactly_the_readme_test_command():
    root = README.parent
    ci = (root / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert f"\n{ci}\n" in README.read_text(), "README's test command and .ci/run differ"
