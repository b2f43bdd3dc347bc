"""Every detector, one per sub-package, listed once here.

Adding a detector: create ``detectors/<name>/`` with the class and a README (what it detects,
the method and its source, license, models it needs), then add one line to ``DETECTORS``.
Names are checked unique at start-up (``verifier.registry.validate``).
"""

from detectors.c2pa import C2pa
from detectors.copy_move import CopyMove
from detectors.ela import ErrorLevelAnalysis
from detectors.exif import Exif
from detectors.face_detection import FaceDetection
from detectors.face_swap import FaceSwap
from detectors.file_facts import FileFacts
from detectors.jpeg_ghost import JpegGhost
from detectors.jpeg_structure import JpegStructure
from detectors.noise import NoiseResiduals
from detectors.perceptual_hash import PerceptualHash
from detectors.synthetic_image import SyntheticImage
from detectors.text_chunks import TextChunks
from detectors.video_container import VideoContainer
from detectors.xmp_iptc import XmpIptc
from verifier.detector import Detector

DETECTORS: tuple[type[Detector], ...] = (
    FileFacts,
    Exif,
    XmpIptc,
    TextChunks,
    JpegStructure,
    VideoContainer,
    C2pa,
    PerceptualHash,
    FaceDetection,
    FaceSwap,
    SyntheticImage,
    ErrorLevelAnalysis,
    NoiseResiduals,
    JpegGhost,
    CopyMove,
)
