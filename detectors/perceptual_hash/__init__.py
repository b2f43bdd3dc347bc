from detectors.perceptual_hash.detector import PerceptualHash

__all__ = ["PerceptualHash"]
