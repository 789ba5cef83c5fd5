"""A zoo checkout (DSH_ROOT): its model_info.json entries and each entry's README.

``tests/model_info.json`` is ``{"models": [{model_name, framework, category, release_*,
latest_*, model_path, readme_file, ...}]}``; paths start with ``deepsparkhub/``. An empty
``readme_file`` means the ``README.md`` (any case) in ``model_path``. A path written with
the wrong case is still found (and :mod:`lint` reports it): the catalogue should not lose a
model over a typo the zoo's case-insensitive checkouts never noticed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from modelzoo.catalogue.markdown import Table, is_environment, tables
from modelzoo.contract.api import UserError

INFO_FILE = Path("tests") / "model_info.json"
RELEASE_FIELDS = ("release_version", "release_sdk", "release_gpgpu", "latest_sdk", "latest_gpgpu")
_REQUIRED = ("model_name", "framework", "category", "model_path", "readme_file")
_PREFIX = "deepsparkhub/"


@dataclass
class Entry:
    index: int                      # position in model_info.json's models
    line: int                       # its line in model_info.json
    info: dict
    readme: Optional[Path] = None   # relative to the root, as found on disk
    readme_written: str = ""        # the path model_info.json gives (or the implied README.md)
    how_found: str = ""             # 'as written', 'case differs', 'implied', '' (not found)

    @property
    def name(self) -> str:
        return str(self.info["model_name"])

    @property
    def framework(self) -> str:
        return str(self.info["framework"])

    @property
    def key(self) -> str:
        """Unique across the zoo: the model's folder under models/ (two entries may share a name)."""
        return _relative(str(self.info["model_path"])).removeprefix("models/").strip("/") or self.name


@dataclass
class Environment:
    gpu: str
    sdk: str
    release: str
    line: int


@dataclass
class Readme:
    path: Path
    text: str
    tables: list[Table] = field(default_factory=list)

    def environments(self) -> list[Environment]:
        return [Environment(r.cells[0], r.cells[1], r.cells[2], r.line)
                for t in self.tables if is_environment(t) for r in t.rows if len(r.cells) >= 3]

    def environment_tables(self) -> list[Table]:
        return [t for t in self.tables if is_environment(t)]

    def result_tables(self) -> list[Table]:
        """Tables under a results heading; elsewhere, extended tables and tables with a card column
        (``| Model | GPU | FP32 |`` under 'Model Training')."""
        from modelzoo.catalogue.results import has_card_column, is_extended

        return [t for t in self.tables if not is_environment(t)
                and (t.in_results or is_extended(t) or has_card_column(t))]


def _relative(path: str) -> str:
    return path[len(_PREFIX):] if path.startswith(_PREFIX) else path


def check_root(root: Path) -> Path:
    root = Path(root)
    if not (root / INFO_FILE).is_file() or not (root / "models").is_dir():
        raise UserError(f"{root} is not a DeepSparkHub checkout (no {INFO_FILE} and models/); "
                        "pass the folder that holds tests/model_info.json")
    return root


def load_entries(root: Path) -> list[Entry]:
    """model_info.json's entries with their READMEs found; UserError when the file is not the zoo's JSON."""
    root = Path(root)
    path = check_root(root) / INFO_FILE
    try:
        text = path.read_bytes().decode("utf-8")
        data = json.loads(text)
    except UnicodeDecodeError as exc:
        raise UserError(f"{path} is not UTF-8 (byte {exc.start}); save it as UTF-8") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}:{exc.lineno}: not JSON ({exc.msg}); fix the file") from None
    models = data.get("models") if isinstance(data, dict) else None
    if not isinstance(models, list):
        raise UserError(f"{path}: expected {{\"models\": [...]}}, the zoo's catalogue format; fix the file")
    lines = _entry_lines(text)
    entries = []
    for index, info in enumerate(models):
        if not isinstance(info, dict) or any(not isinstance(info.get(k), str) for k in _REQUIRED):
            raise UserError(f"{path}:{lines[index] if index < len(lines) else 1}: models[{index}] needs the "
                            f"string fields {', '.join(_REQUIRED)}; fix the entry")
        entry = Entry(index, lines[index] if index < len(lines) else 1, info)
        _find_readme(root, entry)
        entries.append(entry)
    return entries


def _entry_lines(text: str) -> list[int]:
    """The line of each entry's ``"model_name"`` key (the file is one entry per block)."""
    return [number for number, line in enumerate(text.splitlines(), 1) if '"model_name"' in line]


def _find_readme(root: Path, entry: Entry) -> None:
    written = _relative(entry.info["readme_file"]).replace("//", "/")
    implied = not written
    if implied:
        written = _relative(entry.info["model_path"]).rstrip("/") + "/README.md"
    entry.readme_written = written
    exact = root / written
    if exact.is_file() and not implied:
        entry.readme, entry.how_found = Path(written), "as written"
        return
    found = find_case_insensitive(root, written)
    if found is None and not written.startswith("models/"):
        found = find_case_insensitive(root, "models/" + written)   # 'hpc/...' without its models/
    if found is not None:
        entry.readme = found
        entry.how_found = "implied" if implied else ("as written" if str(found) == written else "case differs")


def find_case_insensitive(root: Path, relative: str) -> Optional[Path]:
    current = root
    parts = [p for p in relative.split("/") if p]
    for part in parts:
        if (current / part).exists():
            current = current / part
            continue
        if not current.is_dir():
            return None
        match = next((c for c in sorted(current.iterdir()) if c.name.lower() == part.lower()), None)
        if match is None:
            return None
        current = match
    return current.relative_to(root) if current.is_file() else None


def read_readme(root: Path, relative: Path) -> Readme:
    path = root / relative
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not UTF-8 (byte {exc.start}); save the README as UTF-8") from None
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}") from None
    return Readme(relative, text, tables(text))
