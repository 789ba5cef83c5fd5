"""modelzoo's overhead on a zoo recipe: the same script run bare and under ``modelzoo run``, in one call.

Two workloads, each run bare and as a recipe, alternating (bare, modelzoo, bare, ...) so that a
change of load hits both alike:

- ``imagenet-example``: the PyTorch ImageNet example (``pytorch-examples/imagenet/main.py`` under
  ``--zoo-root``), SqueezeNet 1.1 for one epoch on a generated 2-class ImageFolder (12 training
  images, batch 4, a log line per iteration), on the CPU;
- ``chatty``: a script that prints ``step=N loss=X`` as fast as it can (``--lines`` lines) with a
  little arithmetic between lines: what streaming and parsing cost per line;
- ``minimal``: the same script printing 2 lines: modelzoo's fixed cost (its start with torch, the
  environment capture, the record) with nothing to stream.

Bare: ``python SCRIPT`` with its output read from a pipe to the end (as a terminal would);
under modelzoo: ``python -m modelzoo run MODEL --device cpu`` (its start, the record, the
environment capture, the streamed train.log, the parser, the end of the process group).
Wall time from start to exit, median and minimum of ``--repeats``; the overhead is the difference
of the medians (and of the minima, the figure least moved by other load on the machine). CPU
seconds too (user + system of the process and the descendants it waited for: modelzoo's own plus
the script's): on a shared machine, wall time swings with the neighbours' load, CPU time much less.

    python bench/recipe_overhead.py --zoo-root ../shared/thirdparty --repeats 3 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from modelzoo.recipe.sample_data import write_image_folder  # noqa: E402

CHATTY = """\
import sys
total = 0.0
for step in range(1, int(sys.argv[1]) + 1):
    for i in range(200):
        total += i * 0.5
    print(f"step={step} loss={1.0 / step:.6f}", flush=True)
print("acc1=50.0")
"""


def _zoo_file(folder: Path, script: Path, lines: int) -> Path:
    path = folder / "zoo.yaml"
    path.write_text(f"""\
schema_version: 1
models:
  imagenet-example:
    recipe:
      workdir: pytorch-examples/imagenet
      cwd: output
      command: python3 {{workdir}}/main.py {{data}}/tiny -a squeezenet1_1 -b 4 --epochs 1 -j 0 -p 1 --seed 0
      samples_per_iteration: 4
      parse: {{preset: progress-meter, warmup: 1}}
      metrics: [{{key: acc1, title: Acc@1}}]
  chatty:
    recipe:
      workdir: {json.dumps(str(folder))}
      command: python3 {script.name} {lines}
      parse: {{preset: keyvalue, warmup: 10}}
      metrics: [{{key: acc1, title: Acc@1}}]
  minimal:
    recipe:
      workdir: {json.dumps(str(folder))}
      command: python3 {script.name} 2
      parse: {{preset: keyvalue, warmup: 0}}
      metrics: [{{key: acc1, title: Acc@1}}]
""")
    return path


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed(argv: list[str], cwd: Path, env: dict) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the process and every descendant it waited for)."""
    started, cpu = time.perf_counter(), _cpu()
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    for _ in iter(lambda: proc.stdout.read(65536), b""):
        pass
    if proc.wait() != 0:
        raise SystemExit(f"{' '.join(argv)} failed with exit {proc.returncode}")
    return time.perf_counter() - started, _cpu() - cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zoo-root", required=True, help="folder holding pytorch-examples/imagenet/main.py")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--lines", type=int, default=20000, help="lines the chatty script prints")
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()
    zoo_root = Path(args.zoo_root).resolve()
    work = Path(tempfile.mkdtemp(prefix="recipe-overhead-"))
    script = work / "chatty.py"
    script.write_text(CHATTY)
    write_image_folder(work / "data" / "tiny", classes=2, train_per_class=6, val_per_class=2)
    zoo = _zoo_file(work, script, args.lines)
    env = dict(os.environ, MODELZOO_DISABLE_PLUGIN_AUTOLOAD="1", CUDA_VISIBLE_DEVICES="", PYTHONUNBUFFERED="1",
               PYTHONDONTWRITEBYTECODE="1")
    main_py = zoo_root / "pytorch-examples" / "imagenet" / "main.py"
    bare = {"imagenet-example": ([sys.executable, str(main_py), str(work / "data" / "tiny"), "-a", "squeezenet1_1",
                                  "-b", "4", "--epochs", "1", "-j", "0", "-p", "1", "--seed", "0"], work / "bare-out"),
            "chatty": ([sys.executable, str(script), str(args.lines)], work),
            "minimal": ([sys.executable, str(script), "2"], work)}
    (work / "bare-out").mkdir()
    results = {}
    for name, (bare_argv, bare_cwd) in bare.items():
        under = [sys.executable, "-m", "modelzoo", "run", name, "--zoo", str(zoo), "--zoo-root", str(zoo_root),
                 "--device", "cpu", "--data-root", str(work / "data"), "--runs-dir", str(work / "runs" / name)]
        times = {"bare": [], "modelzoo": []}
        cpu = {"bare": [], "modelzoo": []}
        for _ in range(args.repeats):
            for kind, argv, cwd in (("bare", bare_argv, bare_cwd), ("modelzoo", under, work)):
                wall, seconds = _timed(argv, cwd, env)
                times[kind].append(wall)
                cpu[kind].append(seconds)
        runs = [json.loads(p.read_text()) for p in sorted((work / "runs" / name).glob("*/record.json"))]
        medians = {k: statistics.median(v) for k, v in times.items()}
        minima = {k: min(v) for k, v in times.items()}
        results[name] = {
            "bare_s": times["bare"], "modelzoo_s": times["modelzoo"],
            "bare_median_s": medians["bare"], "modelzoo_median_s": medians["modelzoo"],
            "overhead_s": medians["modelzoo"] - medians["bare"],
            "overhead_pct": (medians["modelzoo"] / medians["bare"] - 1) * 100,
            "bare_min_s": minima["bare"], "modelzoo_min_s": minima["modelzoo"],
            "overhead_min_s": minima["modelzoo"] - minima["bare"],
            "cpu_bare_s": cpu["bare"], "cpu_modelzoo_s": cpu["modelzoo"],
            "cpu_overhead_s": statistics.median(cpu["modelzoo"]) - statistics.median(cpu["bare"]),
            "statuses": [r["status"] for r in runs],
            "fps_modelzoo": [r["metrics"].get("fps") for r in runs],
            "fps_script": [r["metrics"].get("recipe_fps") for r in runs],
            # the script's own CPU seconds under modelzoo (its record), and so modelzoo's own
            "cpu_script_under_modelzoo_s": [r["metrics"].get("cpu_seconds") for r in runs],
        }
        own = [total - (r["metrics"].get("cpu_seconds") or 0.0) for total, r in zip(cpu["modelzoo"], runs)]
        results[name]["cpu_modelzoo_own_s"] = own
        results[name]["cpu_modelzoo_own_median_s"] = statistics.median(own)
        print(f"{name}: bare {medians['bare']:.2f} s, under modelzoo {medians['modelzoo']:.2f} s (median of "
              f"{args.repeats}): overhead {results[name]['overhead_s']:+.2f} s ({results[name]['overhead_pct']:+.1f} %); "
              f"minima {minima['bare']:.2f} / {minima['modelzoo']:.2f} s: {results[name]['overhead_min_s']:+.2f} s; "
              f"CPU {statistics.median(cpu['bare']):.2f} / {statistics.median(cpu['modelzoo']):.2f} s: "
              f"{results[name]['cpu_overhead_s']:+.2f} s, of which modelzoo's own process "
              f"{results[name]['cpu_modelzoo_own_median_s']:.2f} s; "
              f"records {', '.join(results[name]['statuses'])}")
    if "chatty" in results and "minimal" in results:
        per_line = (results["chatty"]["cpu_modelzoo_own_median_s"]
                    - results["minimal"]["cpu_modelzoo_own_median_s"]) / (args.lines - 2)
        results["per_line_cpu_us"] = per_line * 1e6
        print(f"streaming + parsing: {per_line * 1e6:.1f} us of modelzoo's CPU per line (chatty's minus "
              "minimal's, medians)")
    load = os.getloadavg()
    out = {"results": results, "load_avg": load, "lines": args.lines, "repeats": args.repeats}
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
