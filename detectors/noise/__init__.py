from detectors.noise.detector import NoiseResiduals

__all__ = ["NoiseResiduals"]
