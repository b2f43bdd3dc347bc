from detectors.file_facts.detector import FileFacts

__all__ = ["FileFacts"]
