"""bench/cpu_step.py: the profile's training step, timed on random input."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO / "bench"), str(REPO / "plugins" / "facenet"), str(REPO)]

import cpu_step  # noqa: E402


def test_one_row_per_width_and_size(capsys):
    threads = torch.get_num_threads()
    try:
        cpu_step.main(["--sizes", "32,40", "--widths", "0.25", "--steps", "1", "--warmup", "1",
                       "--classes", "8", "--threads", "1", "--set", "train.batch_size=4"])
    finally:
        torch.set_num_threads(threads)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("profile lfw-unrestricted, mobilenet_v1, batch 4, 1 threads")
    rows = [line for line in lines if line.startswith("width")]
    assert [r.split(":")[0] for r in rows] == ["width 0.25 at 32 px", "width 0.25 at 40 px"]
    assert all(float(r.split()[-2]) > 0 for r in rows)
