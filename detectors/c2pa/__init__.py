from detectors.c2pa.detector import C2pa

__all__ = ["C2pa"]
