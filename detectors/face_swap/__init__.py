from detectors.face_swap.detector import FaceSwap

__all__ = ["FaceSwap"]
