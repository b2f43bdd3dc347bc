"""verifier: tells whether an image or video has been manipulated or synthesised."""

__version__ = "0.1.0"
