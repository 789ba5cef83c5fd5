"""The ``modelzoo`` command: argument parsing and printing over :mod:`modelzoo.app`."""

from modelzoo.cli.main import main

__all__ = ["main"]
