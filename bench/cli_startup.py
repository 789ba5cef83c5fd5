"""How long `modelzoo list` and `modelzoo report` take to start (they must not import torch).

    python bench/cli_startup.py [--repeat 10]

Runs each command as a fresh process, prints the median and best wall time, and checks
that the CLI module does not pull torch in.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed(argv: list[str], cwd: Path, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(argv, cwd=cwd, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return times


def write_records(runs: Path, count: int) -> None:
    """``count`` plausible successful facenet records, for a report with content."""
    from modelzoo import records

    for i in range(count):
        record = records.new_record(
            run_id=f"20260101T0000{i:02d}Z-facenet-casia-c1-bench", kind="train", model="facenet",
            model_title="Facenet", plugin={"name": "modelzoo-facenet", "version": "0.1.0"}, profile="casia",
            config={}, overrides={}, cards=1, world_size=1, device="cuda", seed=i,
            metric_columns=[{"key": "lfw_accuracy", "title": "LFW_Accuracy", "format": "{:.5f}",
                             "std_key": "lfw_accuracy_std", "higher_is_better": True}], log="")
        record.update(status="success", env={"gpu": "BI-V100", "gpu_count": 1, "sdk": "IXUCA SDK 3.1.0"},
                      data={"name": "CASIA-WebFace", "kind": "real", "path": "", "images": 1, "identities": 1},
                      metrics={"fps": 200.0 + i, "lfw_accuracy": 0.989, "lfw_accuracy_std": 0.006},
                      curves={"throughput": {"step": list(range(0, 1000, 10)), "fps": [200.0] * 100}})
        records.save(record, runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    cli = [sys.executable, "-m", "modelzoo"]
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        write_records(cwd / "runs", 10)
        cases = {
            "python -c pass (interpreter alone)": [sys.executable, "-c", "pass"],
            "modelzoo list": cli + ["list"],
            "modelzoo report (no runs)": cli + ["report", "--runs-dir", str(cwd / "none")],
            "modelzoo report (10 runs, 4 formats)": cli + ["report", "--runs-dir", str(cwd / "runs"),
                                                           "--output", str(cwd / "reports")],
        }
        for name, argv in cases.items():
            times = timed(argv, cwd, args.repeat)
            print(f"{name:<38} median {statistics.median(times) * 1000:7.1f} ms   best {min(times) * 1000:7.1f} ms")
    check = subprocess.run([sys.executable, "-c", "import sys, modelzoo.cli; print('torch' in sys.modules)"],
                           capture_output=True, text=True, check=True)
    print(f"torch imported by 'import modelzoo.cli': {check.stdout.strip()}")


if __name__ == "__main__":
    main()
