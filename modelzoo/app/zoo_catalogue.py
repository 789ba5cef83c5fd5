"""The zoo's catalogue: :func:`zoo_import`, :func:`zoo_lint`, :func:`zoo_writeback`, :func:`catalogue`,
:func:`list_all`. The reading and writing is :mod:`modelzoo.catalogue`'s; this module finds the
files (the catalogue beside zoo.yaml, a release's records) and decides what is written."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from modelzoo.app.session import Session, session_or_default
from modelzoo.catalogue import importer, lint, snapshot, writeback
from modelzoo.catalogue.importer import Catalogue
from modelzoo.contract.api import UserError


def catalogue(session: Optional[Session] = None) -> Catalogue:
    """The imported catalogue beside the session's zoo file (empty when none was imported)."""
    session = session_or_default(session)
    return importer.load(importer.catalogue_path(session.zoo().path))


def zoo_import(root: str | Path, *, output: Optional[str | Path] = None,
               session: Optional[Session] = None) -> tuple[Path, dict]:
    """Read the zoo checkout at ``root`` and write its catalogue (default: beside zoo.yaml), atomically:
    ``(path written, coverage)``."""
    session = session_or_default(session)
    document = importer.build(Path(root))
    path = Path(output) if output else importer.catalogue_path(session.zoo().path)
    if path.is_dir():
        raise UserError(f"{path} is a folder; pass a file path to --output")
    importer.write(document, path)
    return path, importer.coverage(document)


def zoo_lint(root: str | Path) -> list[lint.Finding]:
    """The zoo checkout's own inconsistencies (see :mod:`modelzoo.catalogue.lint`)."""
    return lint.lint(Path(root))


@dataclass
class WriteBack:
    changes: list[writeback.Change]
    digest: str                                    # of the files as read; --expect compares it
    applied: bool = False
    measured: list[writeback.Measured] = field(default_factory=list)

    @property
    def diff(self) -> str:
        return writeback.unified(self.changes)


def zoo_writeback(root: str | Path, model: str, release: Optional[str] = None, *, sdk: Optional[str] = None,
                  apply: bool = False, expect: Optional[str] = None,
                  session: Optional[Session] = None) -> WriteBack:
    """The README and model_info.json of zoo.yaml's ``model`` (linked to its catalogue entry by
    ``catalogue:``) updated from ``release``'s successful records; written (atomically, each file)
    only with ``apply``, and then only when the files still hash to ``expect`` (when given)."""
    from modelzoo.catalogue.link import entry_of
    from modelzoo.zoo.release import release_of

    session = session_or_default(session)
    root = snapshot.check_root(Path(root))
    zoo = session.zoo()
    if model not in zoo.models:
        raise UserError(f"model '{model}' is not in {zoo.path or 'zoo.yaml'}; add it with catalogue: KEY")
    entry = entry_of(zoo, model, catalogue(session))
    declared = release_of(zoo, release)
    measured, found_sdk = _measured(zoo, model, declared, session)
    if not measured:
        raise UserError(f"release '{declared.id}' has no successful run of '{model}' fit to publish (warned above "
                        f"when one was left out); run 'modelzoo zoo run --release {declared.id}' on real data first")
    sdk = sdk or found_sdk
    found = next((e for e in snapshot.load_entries(root) if e.key == entry["key"]), None)
    if found is None or found.readme is None:
        raise UserError(f"{root}: no README for catalogue entry '{entry['key']}'; re-import the catalogue")
    readme_path, info_path = root / found.readme, root / snapshot.INFO_FILE
    readme = snapshot.read_readme(root, found.readme)
    before_readme, before_info = readme.text, info_path.read_bytes().decode("utf-8")
    gpus = list(dict.fromkeys(e.gpu for e in readme.environments()))
    readme_gpu = gpus[0] if len(gpus) == 1 else str(found.info.get("release_gpgpu") or "")
    columns = writeback.config_columns(before_readme)
    if columns is None:
        raise UserError(f"{readme_path} has no results table to write into; add one in the zoo's layout "
                        "(docs/MODEL_TEMPLATE.md: '## Model Results') first")
    unplaced = sorted({m.profile for m in measured if len(columns) > 1 and m.config not in columns})
    if unplaced:
        raise UserError(f"{zoo.where(('models', model, 'catalogue'))}: models.{model}.catalogue.configs gives no "
                        f"README column for profile {', '.join(unplaced)}; map it to one of "
                        f"{', '.join(columns)}")
    after = writeback.update_results(before_readme, measured, readme_gpu)
    after_info = before_info
    if sdk:
        sdk_version = sdk.removeprefix("IXUCA SDK").strip()
        after = writeback.update_environment(after, measured[0].gpu, sdk_version, declared.id)
        after_info = writeback.update_model_info(before_info, found.line, measured[0].gpu, sdk_version)
    result = WriteBack([writeback.Change(str(found.readme), before_readme, after),
                        writeback.Change(str(snapshot.INFO_FILE), before_info, after_info)],
                       writeback.digest([before_readme, before_info]), measured=measured)
    if apply:
        if expect and expect != result.digest:
            raise UserError(f"{readme_path} or {info_path} changed since the diff was shown (state {result.digest}, "
                            f"the diff was made from {expect}); run the write-back again without --apply and "
                            "review the new diff")
        from modelzoo.store.records import write_atomic

        for change in result.changes:
            if change.changed:
                write_atomic(root / change.path, change.after)
        result.applied = True
    return result


def _measured(zoo, model: str, declared, session: Session) -> tuple[list[writeback.Measured], Optional[str]]:
    """One :class:`~modelzoo.catalogue.writeback.Measured` per cell of ``model`` whose deciding run succeeded."""
    from modelzoo.report.runs import card_name
    from modelzoo.store import records
    from modelzoo.zoo.compare import finite_number
    from modelzoo.zoo.release import deciding_run, plan_cells, runs_of_cells

    cells = [c for c in plan_cells(declared) if c.model == model]
    try:  # the metric ranges of the installed declaration; a model not installed is judged on its timing alone
        columns = session.registry().model(model).metric_columns
    except UserError:
        columns = []
    runs, problems = runs_of_cells(cells, session.runs_dir)
    for problem in problems:
        session.warn(f"skipped {problem}")
    configs = (zoo.models[model].catalogue or {}).get("configs") or {}
    measured, sdk = [], None
    for cell in cells:
        record = deciding_run(cell, runs.get(cell, []))
        if record is None or records.effective_status(record) != "success":
            continue
        unpublishable = _unpublishable(record, columns, cell)
        if unpublishable:
            session.warn(f"run {record['run_id']} ({cell.name}) is not written into the zoo's files: {unpublishable}")
            continue
        env = record.get("env") if isinstance(record.get("env"), dict) else {}
        metrics = {k: v for k, v in (record.get("metrics") or {}).items() if finite_number(v) is not None}
        train = ((record.get("config") or {}).get("train") or {}) if isinstance(record.get("config"), dict) else {}
        batch = train.get("batch_size")
        measured.append(writeback.Measured(
            gpu=card_name(str(record.get("device") or ""), env), cards=cell.cards, fps=metrics.pop("fps", None),
            metrics=metrics, config=configs.get(cell.profile, ""), seconds=finite_number(record.get("duration_s")),
            batch_size=batch if isinstance(batch, int) and not isinstance(batch, bool) else None,
            profile=cell.profile))
        sdk = sdk or env.get("sdk")
    return measured, sdk


def _unpublishable(record: dict, columns, cell) -> Optional[str]:
    """Why a successful run's figures must not become the zoo's published ones (None: they may):
    synthetic data, a recipe cut short by --max-steps, or numbers that cannot be true."""
    from modelzoo.store.plausible import implausible

    data = record.get("data") if isinstance(record.get("data"), dict) else {}
    if data.get("kind") == "synthetic":
        return "it trained on synthetic data"
    if record.get("cut_short"):
        return "it was cut short by --max-steps (throughput only)"
    reasons = implausible(record, columns, cell.as_record_field())
    return f"it cannot be true ({'; '.join(reasons)})" if reasons else None


def list_all(session: Optional[Session] = None, *, category: Optional[str] = None,
             framework: Optional[str] = None, gpu: Optional[str] = None) -> list[dict]:
    """Every catalogue entry (filtered by category prefix, framework, card), with how it can run here:
    ``native`` (zoo.yaml links an installed plugin's model to it), ``recipe`` (a zoo.yaml recipe), or ''."""
    session = session_or_default(session)
    from modelzoo.catalogue.views import catalogue_rows

    return catalogue_rows(catalogue(session), session.zoo(), set(session.registry().models),
                          category=category, framework=framework, gpu=gpu)
