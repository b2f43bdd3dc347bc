from detectors.video_container.detector import VideoContainer

__all__ = ["VideoContainer"]
