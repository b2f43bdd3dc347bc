from detectors.exif.detector import Exif

__all__ = ["Exif"]
