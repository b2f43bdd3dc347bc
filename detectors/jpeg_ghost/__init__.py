from detectors.jpeg_ghost.detector import JpegGhost

__all__ = ["JpegGhost"]
