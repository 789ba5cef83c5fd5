"""Where `modelzoo report`'s time goes over a runs folder, phase by phase, in one process.

    python bench/report_bench.py --history 20x300x3 --keep /tmp/rb    # builds /tmp/rb/runs once
    python bench/report_phases.py --runs /tmp/rb/runs [--repeat 3]

With the run index warm (a report is run first if it is missing) and the cycle collector
paused, as `modelzoo report` runs, it times (best of ``--repeat``):

- parsing the index file with the json module and with orjson, and the whole index read
  (``load_all_indexed``: parse, depth count, stat and check of every record);
- building the report, its release history, and each writer (Markdown, HTML, JSON, CSV);
- the cycle collector's pass over what a whole ``app.report`` leaves alive once it returned
  (``gc.collect(0)``: a reference cycle that held the report made this 0.30 s on 0e7182f);
- ``render_reports`` writing all four files with the forked child and without it
  (``FORK_FROM_RUNS`` raised past the run count), alternating.

Prints the machine (CPU model, vector ISA, cores, load average before and after). These are
the per-phase figures of docs/BENCHMARKS.md's third pass; end-to-end figures are
report_bench.py's.
"""

from __future__ import annotations

import argparse
import gc
import json
import tempfile
import time
from pathlib import Path

import benchpath  # noqa: F401  (the checkout on sys.path)
import orjson
from report_bench import machine  # its facts need no torch: importing torch could start threads, and no fork then

from modelzoo.app.results import report as report_app
from modelzoo.app.session import Session
from modelzoo.app.zoo_catalogue import catalogue, list_all
from modelzoo.catalogue.link import with_catalogue_references
from modelzoo.report import html, render, writers
from modelzoo.report.history import release_history
from modelzoo.report.model import build_report
from modelzoo.store.index import INDEX_FILE, load_all_indexed
from modelzoo.toolkit import forked


def best(repeat: int, step) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=Path, required=True, help="a runs folder (report_bench.py --keep DIR: DIR/runs)")
    parser.add_argument("--repeat", type=int, default=3, help="times each phase is run; the best is shown")
    args = parser.parse_args()
    before = machine()
    session = Session(runs_dir=args.runs)
    gc.disable()  # as `modelzoo report` runs (toolkit.runtime.cycle_collection_paused)
    found, _ = load_all_indexed(args.runs)  # warms (or writes) the index
    raw = (args.runs / INDEX_FILE).read_bytes()
    models = {r.get("model") for r in found}
    references = with_catalogue_references(session.zoo(), catalogue(session), models=models).references()
    declarations, rows = session.registry().models, list_all(session)
    figures = {
        "runs": len(found),
        "index size": f"{len(raw) / 1e6:.1f} MB",
        "index parse, json module": best(args.repeat, lambda: json.loads(raw)),
        "index parse, orjson": best(args.repeat, lambda: orjson.loads(raw)),
        "index read (load_all_indexed)": best(args.repeat, lambda: load_all_indexed(args.runs)),
        "build the report": best(args.repeat, lambda: build_report(found, references, declarations=declarations)),
        "release history": best(args.repeat, lambda: release_history(found, declarations)),
    }
    report = build_report(found, references, declarations=declarations)
    _ = report.history
    for name, writer in (("md", writers.render_markdown), ("html", html.render_html), ("json", writers.render_json),
                         ("csv", writers.render_csv)):
        figures[f"render {name}"] = best(args.repeat, lambda writer=writer, report=report: writer(report))
    del report
    with tempfile.TemporaryDirectory(prefix="report-phases-") as out:
        gc.collect()
        report_app(session, output=out)  # loads, renders, writes and frees its records, as the CLI does
        figures["collector pass after a whole report"] = best(1, lambda: gc.collect(0))
    with tempfile.TemporaryDirectory(prefix="report-phases-") as out:
        def render_all(fork_from: int) -> None:
            render.FORK_FROM_RUNS = fork_from
            render.render_reports(found, references, out, declarations=declarations, catalogue=rows)

        with_child, inline = [], []
        for _ in range(args.repeat):
            with_child.append(best(1, lambda: render_all(0)))
            inline.append(best(1, lambda: render_all(10**9)))
    figures["render_reports, with the child" if forked.can_fork() else "render_reports (no child here)"] = \
        min(with_child)
    figures["render_reports, inline"] = min(inline)
    print(f"machine: {before['cpu']} ({before['isa']}, {before['cores']} cores), python {before['python']}, "
          f"load {before['load_average']} before, {machine()['load_average']} after")
    for name, value in figures.items():
        print(f"{name:40s} {value:8.3f} s" if isinstance(value, float) else f"{name:40s} {value}")


if __name__ == "__main__":
    main()
