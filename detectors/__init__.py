"""Every detector, one per sub-package, listed once here.

Adding a detector: create ``detectors/<name>/`` with the class and a README (what it detects,
the method and its source, license, models it needs), then add one line to ``DETECTORS``.
Names are checked unique at start-up (``verifier.registry.validate``).
"""

from detectors.copy_move import CopyMove
from detectors.ela import ErrorLevelAnalysis
from detectors.exif_presence import ExifPresence
from detectors.file_facts import FileFacts
from detectors.jpeg_ghost import JpegGhost
from detectors.noise import NoiseResiduals
from verifier.detector import Detector

DETECTORS: tuple[type[Detector], ...] = (
    FileFacts,
    ExifPresence,
    ErrorLevelAnalysis,
    NoiseResiduals,
    JpegGhost,
    CopyMove,
)
