from detectors.copy_move.detector import CopyMove

__all__ = ["CopyMove"]
