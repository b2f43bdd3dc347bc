from detectors.jpeg_structure.detector import JpegStructure

__all__ = ["JpegStructure"]
