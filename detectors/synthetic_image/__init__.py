from detectors.synthetic_image.detector import SyntheticImage

__all__ = ["SyntheticImage"]
