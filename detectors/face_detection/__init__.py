from detectors.face_detection.detector import FaceDetection

__all__ = ["FaceDetection"]
