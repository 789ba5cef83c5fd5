"""modelzoo: benchmark runner for a GPU model zoo."""

__version__ = "0.1.0"
