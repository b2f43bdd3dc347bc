from detectors.exif_presence.detector import ExifPresence

__all__ = ["ExifPresence"]
