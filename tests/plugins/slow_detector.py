"""A test-only detector that takes a while, so tests can act on a job while it runs.

Registered in worker processes through VERIFIER_EXTRA_DETECTORS=plugins.slow_detector:Slow
(with tests/ on PYTHONPATH). Its duration comes from SLOW_DETECTOR_SECONDS.
"""

from __future__ import annotations

import os
import time

from verifier.detector import Detector, Example
from verifier.media import MediaKind


class Slow(Detector):
    name = "slow_test"
    version = "1"
    description = "sleeps for SLOW_DETECTOR_SECONDS (tests only)"
    media_kinds = frozenset({MediaKind.IMAGE, MediaKind.VIDEO})

    def analyze(self, media):
        time.sleep(float(os.environ.get("SLOW_DETECTOR_SECONDS", "3")))
        return self.informational(summary="Slept.", evidence={"pid": os.getpid()})

    @classmethod
    def get_examples(cls) -> list[Example]:
        return []


class Crash(Detector):
    """Kills its own process, as a segfaulting native library or the OOM killer would."""

    name = "crash_test"
    version = "1"
    description = "exits the process (tests only)"
    media_kinds = frozenset({MediaKind.IMAGE, MediaKind.VIDEO})

    def analyze(self, media):
        os._exit(3)
