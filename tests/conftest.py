from __future__ import annotations

import sys
from pathlib import Path

import pytest

from verifier.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
SHARED_DATA = ROOT.parent / "shared" / "data"

sys.path.insert(0, str(Path(__file__).parent))  # tests' helper modules (media_factory)


@pytest.fixture
def settings() -> Settings:
    """Defaults, ignoring whatever VERIFIER_* variables the developer's shell has."""
    return Settings.from_env({})


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared evaluation data not present at {SHARED_DATA}")
    return SHARED_DATA
