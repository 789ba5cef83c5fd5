"""How much of the DeepSpark zoo's published results `modelzoo zoo import` understands.

    python bench/catalogue_coverage.py [DSH_ROOT] [--repeat 5] [--json FILE]

DSH_ROOT defaults to $MODELZOO_TEST_THIRDPARTY/deepsparkhub, else ../shared/thirdparty/deepsparkhub. Prints: entries in
model_info.json and READMEs found; READMEs with a results table; result tables and their
column layouts (distinct header rows), how many of those layouts gave at least one row;
result rows, and how many were parsed into at least one number with a known meaning (a
throughput or a named metric); rows with a cell not understood; every table or row not
understood with its reason; reference rows (with a throughput, with a rate a release gate can
use); the time of one import (median of ``--repeat``, in this process); and the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

from benchpath import REPO
from machine import machine_facts

from modelzoo.catalogue import importer
from modelzoo.catalogue.results import read_table
from modelzoo.catalogue.snapshot import load_entries, read_readme


def layouts(root: Path) -> tuple[int, int]:
    """(distinct results-table layouts, layouts with at least one parsed row), over the catalogue's READMEs."""
    seen: dict[tuple, bool] = {}
    for entry in load_entries(root):
        if entry.readme is None:
            continue
        for table in read_readme(root, entry.readme).result_tables():
            header = tuple(" ".join(t.lower().split()) for t in table.titles)
            seen[header] = seen.get(header, False) or read_table(table).parsed_rows > 0
    return len(seen), sum(seen.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    thirdparty = os.environ.get("MODELZOO_TEST_THIRDPARTY") or REPO.parent / "shared" / "thirdparty"
    parser.add_argument("root", nargs="?", default=str(Path(thirdparty) / "deepsparkhub"))
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", help="write the figures to this file too")
    args = parser.parse_args()
    root = Path(args.root)
    load_before = os.getloadavg()
    times = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        document = importer.build(root)
        times.append(time.perf_counter() - started)
    numbers = importer.coverage(document)
    numbers["layouts"], numbers["layouts_parsed"] = layouts(root)
    rows_with_cell_problems = {n["source"] for e in document["entries"] for n in e["not_understood"]
                               if ":" in n["source"] and not n["reason"].startswith(("table not understood",
                                                                                   "empty row", "README "))}
    references = [r for e in document["entries"] for r in e["references"]]
    numbers.update(
        rows_with_a_cell_not_understood=len(rows_with_cell_problems),
        references_with_throughput=sum(1 for r in references if "fps" in r),
        references_gate_usable=sum(len(importer.gate_references(e)) for e in document["entries"]),
        import_s_median=statistics.median(times), import_s_best=min(times),
    )
    facts = machine_facts()
    print(f"machine: {facts.get('cpu')} ({facts.get('cpu_capability')}), {facts.get('cpu_count')} cores, "
          f"python {facts.get('python')}, load {load_before[0]:.2f} before / {os.getloadavg()[0]:.2f} after")
    share = numbers["parsed_rows"] / numbers["result_rows"] * 100 if numbers["result_rows"] else 0.0
    print(f"entries {numbers['entries']}, READMEs found {numbers['readmes_found']}, with a results table "
          f"{numbers['readmes_with_results']}")
    print(f"result tables {numbers['result_tables']} in {numbers['layouts']} layouts ({numbers['layouts_parsed']} "
          f"understood); tables not understood {numbers['tables_not_understood']}")
    print(f"result rows {numbers['result_rows']}, parsed {numbers['parsed_rows']} ({share:.1f}%), with a cell not "
          f"understood {numbers['rows_with_a_cell_not_understood']}")
    print(f"reference rows {numbers['reference_rows']}: with a throughput {numbers['references_with_throughput']}, "
          f"usable by a release gate {numbers['references_gate_usable']}")
    print(f"import: {numbers['import_s_median'] * 1000:.0f} ms median of {args.repeat}, "
          f"best {numbers['import_s_best'] * 1000:.0f} ms")
    print("not understood:")
    for entry in document["entries"]:
        for item in entry["not_understood"]:
            print(f"  {item['source']}: {item['reason']}")
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": facts, "coverage": numbers}, indent=2, default=str))


if __name__ == "__main__":
    main()
