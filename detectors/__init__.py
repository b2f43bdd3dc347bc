"""Every detector, one per sub-package, listed once here.

Adding a detector: create ``detectors/<name>/`` with the class and a README (what it detects,
the method and its source, license, models it needs), then add one line to ``DETECTORS``.
Names are checked unique at start-up (``verifier.registry.validate``).
"""

from detectors.exif_presence import ExifPresence
from detectors.face_detection import FaceDetection
from detectors.face_swap import FaceSwap
from detectors.file_facts import FileFacts
from detectors.synthetic_image import SyntheticImage
from verifier.detector import Detector

DETECTORS: tuple[type[Detector], ...] = (
    FileFacts,
    ExifPresence,
    FaceDetection,
    FaceSwap,
    SyntheticImage,
)
