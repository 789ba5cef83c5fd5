"""FaceNet for modelzoo."""

__version__ = "0.1.0"
