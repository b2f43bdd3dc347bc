from detectors.text_chunks.detector import TextChunks

__all__ = ["TextChunks"]
