"""``modelzoo zoo lint``: the zoo's own consistency, one finding a line with file:line.

Checked, for every model_info.json entry:

- its ``readme_file`` exists as written on a case-sensitive file system (``readme.md`` is
  not ``README.md``; ``hpc/...`` is not ``deepsparkhub/models/hpc/...``), and it has a README;
  its ``model_path`` is a folder as written;
- no other entry has the same model/framework pair;
- its release fields against the README's environment table: the release row
  (``release_gpgpu``, ``release_sdk``, ``release_version``) is one of its rows, and
  ``latest_gpgpu``/``latest_sdk`` are its newest row, SDKs compared as versions (4.10 after
  4.3), as is ``release_sdk`` <= ``latest_sdk``;
- every results row and cell parses (:mod:`results`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from modelzoo.catalogue import versions
from modelzoo.catalogue.results import read_table
from modelzoo.catalogue.snapshot import INFO_FILE, Entry, load_entries, read_readme


@dataclass(frozen=True)
class Finding:
    where: str      # file:line, relative to the zoo root
    kind: str       # a short category: readme-path, no-readme, duplicate, environment, results
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.kind}: {self.message}"


def lint(root: Path) -> list[Finding]:
    root = Path(root)
    entries = load_entries(root)
    findings: list[Finding] = []
    seen: dict[tuple[str, str], Entry] = {}
    for entry in entries:
        here = f"{INFO_FILE}:{entry.line}"
        pair = (entry.name, entry.framework)
        if pair in seen:
            findings.append(Finding(here, "duplicate", f"{entry.name}/{entry.framework} is also the entry at "
                                    f"line {seen[pair].line}"))
        seen.setdefault(pair, entry)
        findings.extend(_readme_path(entry, here))
        model_path = entry.info["model_path"].removeprefix("deepsparkhub/")
        if entry.readme is not None and not (root / model_path).is_dir():   # (no README: said once, below)
            findings.append(Finding(here, "model-path", f"model_path {entry.info['model_path']!r} is not a folder "
                                    "of the checkout as written"))
        if entry.readme is None:
            continue
        readme = read_readme(root, entry.readme)
        findings.extend(_environment(entry, readme, here))
        for table in readme.result_tables():
            for skipped in read_table(table).skipped:
                if skipped.reason != "empty row":
                    findings.append(Finding(f"{readme.path}:{skipped.line}", "results", skipped.reason))
    return findings


def _readme_path(entry: Entry, here: str) -> list[Finding]:
    if entry.readme is None:
        return [Finding(here, "no-readme", f"{entry.name}/{entry.framework}: no README at "
                        f"{entry.readme_written}")]
    if entry.how_found not in ("as written", "implied"):
        return [Finding(here, "readme-path", f"readme_file {entry.info['readme_file']!r} does not exist as "
                        f"written; the file is {entry.readme}")]
    return []


def _environment(entry: Entry, readme, here: str) -> list[Finding]:
    info, found = entry.info, []
    tables = readme.environment_tables()
    if not tables:
        return [Finding(f"{readme.path}:1", "environment", "no '| GPU | IXUCA SDK | Release |' table")]
    where = f"{readme.path}:{tables[0].header.line}"
    rows = readme.environments()
    release = (info.get("release_gpgpu", ""), info.get("release_sdk", ""), info.get("release_version", ""))
    if all(release) and not any(r.gpu == release[0] and versions.same(r.sdk, release[1])
                                and r.release == release[2] for r in rows):
        found.append(Finding(where, "environment", f"model_info.json's release {' / '.join(release)} "
                             f"({here}) is not a row of the README's environment table"))
    newest = max(rows, key=lambda r: (versions.key(r.sdk), versions.key(r.release)), default=None)
    latest_gpu, latest_sdk = info.get("latest_gpgpu", ""), info.get("latest_sdk", "")
    if newest and latest_sdk and not (versions.same(latest_sdk, newest.sdk) and latest_gpu == newest.gpu):
        found.append(Finding(f"{readme.path}:{newest.line}", "environment",
                             f"newest environment {newest.gpu} SDK {newest.sdk}, but model_info.json ({here}) "
                             f"says latest {latest_gpu or '-'} SDK {latest_sdk}"))
    if newest and not latest_sdk and release[1] and versions.key(newest.sdk) > versions.key(release[1]):
        found.append(Finding(f"{readme.path}:{newest.line}", "environment",
                             f"README lists {newest.gpu} SDK {newest.sdk}, newer than the release SDK "
                             f"{release[1]}, but model_info.json ({here}) has no latest_sdk"))
    if release[1] and latest_sdk and versions.key(latest_sdk) < versions.key(release[1]):
        found.append(Finding(here, "environment", f"latest_sdk {latest_sdk} is older than release_sdk "
                             f"{release[1]} (compared as versions)"))
    return found


def summary(findings: list[Finding]) -> str:
    from collections import Counter

    counts = Counter(f.kind for f in findings)
    parts = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items()))
    return f"{len(findings)} findings" + (f" ({parts})" if parts else "")
