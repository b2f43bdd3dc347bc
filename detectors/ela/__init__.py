from detectors.ela.detector import ErrorLevelAnalysis

__all__ = ["ErrorLevelAnalysis"]
