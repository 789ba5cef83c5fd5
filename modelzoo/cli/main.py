"""The ``modelzoo`` command.

Verbs: list, run, eval, prepare, export, report, compare, zoo. This module imports no torch
at module level (``modelzoo list`` and ``modelzoo report`` stay instant); verbs that
train or evaluate import the trainer when they run.

Errors meant for the user are :class:`UserError`: one line on stderr, exit code 2, and a
traceback only with ``--debug``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Optional

from modelzoo import __version__
from modelzoo.contract.api import MetricColumn, RunContext, UserError, int_at_least
from modelzoo.contract.plugins import PluginError, Registry, load_registry
from modelzoo.contract.settings import CoreSettings
from modelzoo.store import records
from modelzoo.toolkit.runtime import DEVICES, choose_device, writable_dir
from modelzoo.zoo import release
from modelzoo.zoo.zoofile import Zoo, apply_sets, find_zoo_file, load_zoo, profile_names, resolve_profile

EXIT_USAGE = 2
EXIT_REGRESSION = 1  # compare: a regression was found (an error there is EXIT_USAGE)
EXIT_BY_STATUS = {"success": 0, "failed": 1, "diverged": 3, "interrupted": 130}
DATA_ROOT_ENV = "MODELZOO_DATA_ROOT"
RUNS_ENV = "MODELZOO_RUNS"
CACHE_ENV = "MODELZOO_CACHE"


# --- Options shared by the verbs ------------------------------------------------------

def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--zoo", help="zoo file (default: $MODELZOO_ZOO, ./zoo.yaml, the checkout's zoo.yaml)")
    parser.add_argument("--runs-dir", default=os.environ.get(RUNS_ENV, "runs"),
                        help="where run records live (default: $MODELZOO_RUNS or ./runs)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")


def _model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="model name (see 'modelzoo list')")
    parser.add_argument("--profile", help="profile from zoo.yaml or the plugin (default: the model's default)")
    parser.add_argument("--device", choices=DEVICES,
                        help="cuda when a card is visible, else cpu (default: auto; with --resume, the run's)")
    parser.add_argument("--data-root", help="root of the data sets (default: $MODELZOO_DATA_ROOT or "
                        "./data; with --resume, the interrupted run's)")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                        help="override a profile value, e.g. --set train.batch_size=64 (repeatable)")
    parser.add_argument("--seed", type=int, help="random seed, 0..2**32-1 (default: the profile's train.seed)")


_positive_int = int_at_least(1)


def _default_data_root() -> str:
    return os.environ.get(DATA_ROOT_ENV, "data")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="modelzoo", description="Train, evaluate, time and report zoo models on GPU cards.")
    parser.add_argument("--version", action="version", version=f"modelzoo {__version__}")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)

    p = verbs.add_parser("list", help="list the models and their profiles")
    _common(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = verbs.add_parser("run", help="train and evaluate a model; record FPS and accuracy")
    _common(p)
    _model_options(p)
    p.add_argument("--cards", type=_positive_int, default=1, help="cards (one worker process each; default 1)")
    p.add_argument("--max-steps", type=_positive_int, help="stop after this many steps (quick checks; "
                   "with --resume, the new cap)")
    p.add_argument("--repeat", type=_positive_int, help="cut the timed steps into N equal windows and record "
                   "FPS mean, std, min, max and CV (train.repeat)")
    p.add_argument("--resume", metavar="RUN_ID", help="continue an interrupted run from its last checkpoint")
    p.add_argument("--dry-run", action="store_true", help="resolve the config and check the data, then stop")
    p.add_argument("--sweep", metavar="KEY=A..B", help="one run per value (KEY=1..10 or KEY=a,b), then a "
                   "summary record with each metric's mean+-std over the runs")
    p.add_argument("--zoo-cell", type=release.zoo_cell_field, help=argparse.SUPPRESS)  # zoo run --launcher slurm

    p = verbs.add_parser("eval", help="evaluate a weights file on the model's benchmark")
    _common(p)
    _model_options(p)
    p.add_argument("--weights", required=True, help="checkpoint or state dict to score")

    p = verbs.add_parser("export", help="export weights to ONNX or TorchScript (with an output check)")
    _common(p)
    _model_options(p)
    p.add_argument("--weights", required=True, help="checkpoint or state dict to export")
    p.add_argument("--format", dest="fmt", choices=("onnx", "torchscript"), default="onnx")
    p.add_argument("--output", help="output file (default: next to the weights)")

    # prepare's options come from the model's plugin: main() hands its arguments to cmd_prepare
    verbs.add_parser("prepare", help="build a model's data sets (options come from its plugin: "
                     "'modelzoo prepare MODEL --help')", add_help=False)

    p = verbs.add_parser("report", help="render result tables (Markdown, HTML, JSON, CSV) from run records")
    _common(p)
    p.add_argument("--format", default="md,html,json,csv", help="comma-separated: md, html, json, csv")
    p.add_argument("--output", default="reports", help="output directory (default: ./reports)")
    p.add_argument("--runs", nargs="+", metavar="RUN_ID", help="only these runs (default: all)")
    p.add_argument("--release", dest="releases", action="append", metavar="ID",
                   help="twice (--release A --release B): the two releases side by side with deltas")

    p = verbs.add_parser("compare", help="compare two runs; exit 1 on a regression")
    _common(p)
    p.add_argument("base", help="run id of the baseline")
    p.add_argument("new", help="run id of the candidate")
    p.add_argument("--max-fps-drop", type=float, metavar="PCT",
                   help="largest accepted FPS drop in percent (default 5; widened to 3 standard errors "
                   "when both runs were timed with --repeat)")
    p.add_argument("--max-metric-drop", action="append", default=[], metavar="[KEY=]X[%]",
                   help="largest accepted worsening of a metric, absolute (0.005) or relative (2%%); "
                   "repeatable, per metric key (default: the model's own limits, else 0.5%% relative)")
    release.add_zoo_parser(verbs, _common)  # zoo run / zoo check
    return parser


# --- Shared lookups -------------------------------------------------------------------

def _registry() -> Registry:
    registry = load_registry()
    for warning in registry.warnings:
        print(f"modelzoo: warning: {warning}", file=sys.stderr)
    return registry


def _zoo(args) -> Zoo:
    return load_zoo(find_zoo_file(args.zoo))


def _cache_dir() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "modelzoo"


def _resolve(args, registry: Registry, zoo: Zoo) -> tuple[str, dict, dict]:
    spec = registry.model(args.model)
    profile, config = resolve_profile(spec, zoo, args.profile)
    overrides = apply_sets(config, args.sets)
    if args.seed is not None:
        config["train"]["seed"] = args.seed
    if getattr(args, "max_steps", None):
        config["train"]["max_steps"] = args.max_steps
    if getattr(args, "repeat", None):
        config["train"]["repeat"] = args.repeat
    CoreSettings.from_config(config)  # a bad value fails here, before any run folder exists
    return profile, config, overrides


def _plugin_info(registry: Registry, model: str) -> dict:
    return registry.owners[model].as_dict()


def _new_record(args, registry: Registry, spec, *, run_id: str, kind: str, profile: str, config: dict,
                overrides: dict, cards: int, device: str, log: Optional[str], **extra) -> dict:
    """A run's record as it starts: what ran, with what, and how to read its numbers."""
    record = records.new_record(
        run_id=run_id, kind=kind, model=args.model, model_title=spec.title,
        plugin=_plugin_info(registry, args.model), profile=profile, config=config, overrides=overrides,
        cards=cards, world_size=cards, device=device, seed=config["train"]["seed"],
        metric_columns=[c.as_dict() for c in spec.metric_columns], log=log,
        throughput_unit=spec.throughput_unit, curve_specs=[c.as_dict() for c in spec.curves], **extra)
    record["result_table"] = spec.table.as_dict()
    record["release"] = getattr(args, "release", None) or os.environ.get("MODELZOO_RELEASE")
    if getattr(args, "zoo_cell", None):  # a cell of `modelzoo zoo run`: how it finds the run again
        record["zoo_cell"] = args.zoo_cell
    return record


# --- Verbs ----------------------------------------------------------------------------

def cmd_list(args) -> int:
    registry = _registry()
    zoo = _zoo(args)
    rows = []
    for name, spec in sorted(registry.models.items()):
        zoo_model = zoo.models.get(name)
        rows.append({
            "model": name, "description": spec.description,
            "plugin": _plugin_info(registry, name),
            "profiles": profile_names(spec, zoo),
            "default_profile": (zoo_model.default_profile if zoo_model and zoo_model.default_profile
                                else spec.default_profile),
            "metrics": [c.title for c in spec.metric_columns],
            "references": zoo_model.references if zoo_model else [],
        })
    missing = sorted(set(zoo.models) - set(registry.models))
    if args.json:
        print(json.dumps({"models": rows, "missing": missing, "warnings": registry.warnings}, indent=2))
        return 0
    if not rows:
        print("no models: install a model plugin, e.g. 'pip install -e plugins/facenet'")
    for row in rows:
        print(f"{row['model']:<12} {row['description']}")
        print(f"{'':<12} plugin {row['plugin']['name']} {row['plugin']['version']}; profiles: "
              + ", ".join(p + (" (default)" if p == row["default_profile"] else "") for p in row["profiles"]))
    for name in missing:
        plugin = zoo.models[name].plugin or "its plugin"
        print(f"{name:<12} (in zoo.yaml, but {plugin} is not installed)")
    return 0


def _context(args, registry, profile: str, config: dict, device: str, run_dir: Path) -> RunContext:
    return RunContext(model=args.model, profile=profile, config=config, data_root=Path(args.data_root),
                      cache_dir=_cache_dir(), run_dir=run_dir, device=device, seed=config["train"]["seed"])


def _check_data(registry: Registry, context: RunContext) -> None:
    problems = registry.hooks_for(context.model).modelzoo_check_data(context=context)
    if problems:
        raise UserError(problems[0])


def cmd_run(args) -> int:
    if args.sweep:
        return _run_sweep(args)
    try:
        record = _run(args)
    except _Stopped as stop:  # the run's own line ("run X interrupted: ... --resume"), not a bare one
        record = stop.record
    return 0 if record is None else _finish_message(record)


def _run_sweep(args) -> int:
    import copy

    from modelzoo.zoo import sweep

    key, values = sweep.parse_sweep(args.sweep)
    if args.resume:
        raise UserError("--sweep and --resume do not combine; resume the interrupted member run by its id")
    from modelzoo.train.distributed import under_outer_launcher

    if under_outer_launcher():
        raise UserError("--sweep is not available under an outer launcher; start one job per value")
    from modelzoo.zoo.zoofile import default_profile

    profile = args.profile or default_profile(_registry().model(args.model), _zoo(args))
    sweep_id = records.new_run_id(args.model, profile, args.cards) + "-sweep"
    members = []
    for value in values:
        member_args = copy.copy(args)
        member_args.sets = list(args.sets) + [f"{key}={value}"]
        try:
            record = _run(member_args, sweep_id=None if args.dry_run else sweep_id)
        except _Stopped as stop:
            record = stop.record
        if record is None:  # --dry-run
            continue
        code = _finish_message(record)
        if record.get("status") == "interrupted":  # a signal stops the sweep, not only this member
            return code
        members.append(record)
    if not members:
        return 0
    summary = sweep.summarize(sweep_id, key, values, members)
    records.save(summary, Path(args.runs_dir))
    print(f"sweep {sweep_id} over {key} = {', '.join(values)}:", file=sys.stderr)
    return _finish_message(summary)


def _resumed_run(args, registry: Registry, runs_dir: Path) -> tuple[dict, str, dict, dict]:
    """The interrupted run ``--resume`` continues, checked; its (record, profile, config, overrides)."""
    resumed = records.find(runs_dir, args.resume)
    if resumed.get("model") != args.model:
        raise UserError(f"run {resumed['run_id']} is a run of '{resumed.get('model')}', not '{args.model}'; "
                        f"resume it with 'modelzoo run {resumed.get('model')} --resume {resumed['run_id']}'")
    records.check_resumable(resumed)
    if args.sets or args.profile or args.seed is not None or getattr(args, "repeat", None):
        raise UserError("--resume continues a run with its recorded config and seed; drop "
                        "--set/--profile/--seed/--repeat (only --max-steps may change)")
    if args.device not in (None, "auto", resumed["device"]):
        raise UserError(f"run {resumed['run_id']} ran on {resumed['device']}; resume it there (drop --device)")
    if args.cards != resumed["cards"]:
        raise UserError(f"run {resumed['run_id']} ran on {resumed['cards']} card(s); resume it with "
                        f"--cards {resumed['cards']}")
    registry.model(args.model)
    config, overrides = resumed["config"], dict(resumed.get("overrides") or {})
    if args.max_steps:  # safe to change: the data order and every step before the cap stay the same
        config["train"]["max_steps"] = args.max_steps
        overrides["train.max_steps"] = args.max_steps
        resumed.update(config=config, overrides=overrides)
    if args.data_root is None:  # records older than data_root fall back to the default
        args.data_root = resumed.get("data_root") or _default_data_root()
    return resumed, resumed["profile"], config, overrides


def _run(args, sweep_id: Optional[str] = None) -> Optional[dict]:
    """One run; returns rank 0's final record, or None (--dry-run, or not rank 0)."""
    from modelzoo.train import distributed

    registry = _registry()
    zoo = _zoo(args)
    runs_dir = Path(args.runs_dir)
    resumed = None
    if args.resume:
        resumed, profile, config, overrides = _resumed_run(args, registry, runs_dir)
    else:
        profile, config, overrides = _resolve(args, registry, zoo)
    spec = registry.model(args.model)
    device = choose_device(resumed["device"] if resumed else (args.device or "auto"))
    outer = distributed.under_outer_launcher()

    from modelzoo.train import launch  # imports torch

    if not outer:
        launch.check_cards(args.cards, device)
    writable_dir(runs_dir, "runs directory", "--runs-dir")
    _check_data(registry, _context(args, registry, profile, config, device, runs_dir))
    if args.dry_run:
        import yaml
        print(f"# modelzoo run {args.model}: profile {profile}, {args.cards} card(s) on {device}")
        print(yaml.safe_dump(config, sort_keys=False), end="")
        print("# data found; nothing was run (--dry-run)")
        return None

    place = distributed.topology()
    cards = place.world_size if outer else args.cards
    run_id = resumed["run_id"] if resumed else records.new_run_id(args.model, profile, cards)
    if outer:
        distributed.init_process_group(device)
        run_id = launch.share_run_id(run_id)
    job = launch.Job(run_id=run_id, model=args.model, profile=profile, config=config,
                     data_root=str(args.data_root), cache_dir=str(_cache_dir()), runs_dir=str(runs_dir),
                     device=device, seed=config["train"]["seed"], resume=bool(resumed), debug=args.debug,
                     target=zoo.models[args.model].target if args.model in zoo.models else None)
    if not place.is_main:
        launch.launch(job, cards)
        return None
    run_dir = runs_dir / run_id
    with _run_folder(run_dir, created=not resumed):
        from modelzoo.store.runlock import run_lock

        with run_lock(run_dir):
            if resumed:
                record = records.mark_running(resumed, resume=True)
            else:
                record = _new_record(args, registry, spec, run_id=run_id, kind="train", profile=profile,
                                     config=config, overrides=overrides, cards=cards, device=device,
                                     log=str(run_dir / "train.log"),
                                     data_root=str(Path(args.data_root).resolve()), sweep_id=sweep_id)
            records.save(record, runs_dir)
            print(f"run {run_id}: {args.model} ({profile}) on {cards} "
                  f"{'card' if device == 'cuda' else 'CPU worker'}{'s' if cards > 1 else ''}; "
                  f"record in {run_dir}", file=sys.stderr)
            try:
                return launch.launch(job, cards)
            except KeyboardInterrupt as exc:  # stopped outside the loop: the worker recorded it
                stopped = _interrupted_record(run_dir)
                if stopped is None:
                    raise
                raise _Stopped(stopped) from exc


class _Stopped(KeyboardInterrupt):
    """A run stopped by a signal outside its training loop, with the record its worker wrote."""

    def __init__(self, record: dict):
        super().__init__(record.get("error"))
        self.record = record


def _interrupted_record(run_dir: Path) -> Optional[dict]:
    try:
        record = records.load(run_dir)
    except UserError:
        return None
    return record if record.get("status") == "interrupted" else None


@contextlib.contextmanager
def _run_folder(run_dir: Path, created: bool):
    """A new run's folder; removed again if the run could not even write its first record
    (a full disk at start must not leave an empty folder behind)."""
    if created:
        run_dir.mkdir(parents=True, exist_ok=False)
    try:
        yield
    except records.WriteFailed:
        if created and not (run_dir / records.RECORD_FILE).exists():
            shutil.rmtree(run_dir, ignore_errors=True)
        raise


def _finish_message(record: dict) -> int:
    status = record.get("status", "failed")
    metrics = record.get("metrics") or {}
    if status == "success":
        unit = record.get("throughput_unit") or "images/s"
        label = "FPS" if unit == "images/s" else unit
        shown = [f"{label} {metrics['fps']:.2f}" if metrics.get("fps") else f"{label} n/a"]
        for entry in record.get("metric_columns", []):
            column = MetricColumn.from_dict(entry)
            if metrics.get(column.key) is not None:
                shown.append(f"{column.title} {column.render(metrics)}")
        synthetic = " [synthetic data]" if (record.get("data") or {}).get("kind") == "synthetic" else ""
        print(f"run {record['run_id']} succeeded{synthetic}: " + ", ".join(shown))
        for warning in record.get("warnings") or []:
            print(f"run {record['run_id']}: warning: {warning}", file=sys.stderr)
    else:
        print(f"run {record['run_id']} {status}: {record.get('error')}", file=sys.stderr)
    return EXIT_BY_STATUS.get(status, 1)


def _load_network(args, registry, profile, config, device, run_dir):
    from modelzoo.train.checkpoint import read_state

    weights = Path(args.weights)
    state = read_state(weights)
    context = _context(args, registry, profile, config, device, run_dir)
    hooks = registry.hooks_for(args.model)
    if not hooks.implements("modelzoo_load_weights"):
        raise UserError(f"the plugin of '{args.model}' cannot load weights files")
    network = hooks.modelzoo_load_weights(context=context, state=state, path=weights)
    return context, network.to(device).eval()


def cmd_eval(args) -> int:
    registry = _registry()
    zoo = _zoo(args)
    spec = registry.model(args.model)
    profile, config, overrides = _resolve(args, registry, zoo)
    device = choose_device(args.device or "auto")
    runs_dir = writable_dir(Path(args.runs_dir), "runs directory", "--runs-dir")
    run_id = records.new_run_id(args.model, profile, 1, kind="eval")
    record = _new_record(args, registry, spec, run_id=run_id, kind="eval", profile=profile, config=config,
                         overrides=overrides, cards=1, device=device, log=None,
                         weights=str(Path(args.weights).resolve()))
    try:
        import torch

        from modelzoo.measure import env as envinfo

        context, network = _load_network(args, registry, profile, config, device, runs_dir / run_id)
        with torch.no_grad():
            result = registry.hooks_for(args.model).modelzoo_evaluate(context=context, network=network)
        if result is None:
            raise UserError(f"the plugin of '{args.model}' does not evaluate models")
        known = len(registry.warnings)
        facts = registry.environment_facts(args.model)
        record["warnings"] += registry.warnings[known:]  # a failing environment hook: said, not swallowed
        record.update(metrics=result.metrics, curves=result.curves,
                      data=result.identity.as_dict() if result.identity else None,
                      env=envinfo.capture(device, extra=facts))
        record["warnings"] += [f"evaluation did not return metric '{c.key}'" for c in spec.metric_columns
                               if not isinstance(result.metrics.get(c.key), (int, float))]
        records.mark_finished(record, "success")
    except BaseException as exc:
        records.mark_failed(record, exc)
        raise
    finally:
        records.save(record, runs_dir)
    return _finish_message(record)


def cmd_export(args) -> int:
    registry = _registry()
    zoo = _zoo(args)
    profile, config, _ = _resolve(args, registry, zoo)
    device = choose_device(args.device or "auto")
    context, network = _load_network(args, registry, profile, config, device, Path(args.runs_dir))
    suffix = {"onnx": ".onnx", "torchscript": ".torchscript.pt"}[args.fmt]
    output = Path(args.output) if args.output else Path(args.weights).with_suffix(suffix)
    writable_dir(output.parent, "output directory", "--output")
    summary = registry.hooks_for(args.model).modelzoo_export(context=context, network=network, fmt=args.fmt,
                                                             output=output)
    if summary is None:
        raise UserError(f"the plugin of '{args.model}' does not export models")
    print(summary)
    return 0


def cmd_prepare(argv: list[str]) -> int:
    """``modelzoo prepare MODEL [the plugin's options]``; its parser comes from the plugin."""
    model = next((a for a in argv if not a.startswith("-")), None)
    registry = _registry()
    if model is None:
        print("usage: modelzoo prepare MODEL [options]\n\n'modelzoo prepare MODEL --help' lists the "
              "model's options. Models: " + (", ".join(sorted(registry.models)) or "none installed"))
        return 0 if any(a in ("-h", "--help") for a in argv) else EXIT_USAGE
    registry.model(model)
    hooks = registry.hooks_for(model)
    parser = argparse.ArgumentParser(prog=f"modelzoo prepare {model}",
                                     description=f"Build the data sets of {model}.")
    parser.add_argument("--data-root", default=_default_data_root(),
                        help="where the prepared sets go (default: $MODELZOO_DATA_ROOT or ./data)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    if not hooks.implements("modelzoo_prepare_arguments") or \
            not hooks.modelzoo_prepare_arguments(model=model, parser=parser):
        if any(a in ("-h", "--help") for a in argv):  # asked for help: answer it, like every verb
            parser.description = f"Model '{model}' has no data preparation step: there is nothing to run."
            parser.print_help()
            return 0
        raise UserError(f"model '{model}' has no data preparation step")
    rest = list(argv)
    rest.remove(model)
    options = vars(parser.parse_args(rest))
    data_root = writable_dir(Path(options.pop("data_root")), "data root", "--data-root")
    options.pop("debug")
    result = hooks.modelzoo_prepare(model=model, options=options, data_root=data_root)
    print(result.summary())
    return 0


def cmd_report(args) -> int:
    runs_dir = Path(args.runs_dir)
    formats = [f.strip() for f in args.format.split(",") if f.strip()]
    if not formats:
        raise UserError(f"--format {args.format!r} names no format; choose from md, html, json, csv")
    unknown = sorted(set(formats) - {"md", "html", "json", "csv"})
    if unknown:
        raise UserError(f"--format {','.join(unknown)} is not known; choose from md, html, json, csv")
    if args.runs:
        found, problems = records.load_all(runs_dir, args.runs), []
    else:
        from modelzoo.store.index import load_all_indexed

        found, problems = load_all_indexed(runs_dir)  # records without their curves, from runs/.report-index.json
    for problem in problems:
        print(f"modelzoo: warning: skipped {problem}", file=sys.stderr)  # also listed in the report
    if not found:
        print(f"no run records in {runs_dir}; run a model first, e.g. "
              "'modelzoo run facenet --cards 1 --profile demo'")
        return 0
    zoo = _zoo(args)
    from modelzoo.report.render import render_reports

    output = writable_dir(Path(args.output), "report directory", "--output")
    # the installed plugins' declarations give each model's table layout (not its newest record)
    for path in render_reports(found, zoo.references(), output, formats=formats, releases=args.releases,
                               skipped=problems, warn=lambda m: print(f"modelzoo: warning: {m}", file=sys.stderr),
                               declarations=_registry().models):
        print(path)
    return 0


def cmd_compare(args) -> int:
    from modelzoo.zoo.compare import compare_records, format_comparison, parse_thresholds

    runs_dir = Path(args.runs_dir)
    base, new = records.find(runs_dir, args.base), records.find(runs_dir, args.new)
    zoo_model = _zoo(args).models.get(base.get("model"))
    tolerances = zoo_model.tolerances if zoo_model else {}  # zoo.yaml's, unless the options say otherwise
    fps_limit = args.max_fps_drop if args.max_fps_drop is not None else tolerances.get("fps_pct")
    result = compare_records(base, new, max_fps_drop_pct=fps_limit,
                             thresholds={**tolerances.get("metrics", {}), **parse_thresholds(args.max_metric_drop)})
    print(format_comparison(result))
    return EXIT_REGRESSION if result.regressions else 0


VERBS = {"list": cmd_list, "run": cmd_run, "eval": cmd_eval, "export": cmd_export,
         "report": cmd_report, "compare": cmd_compare, "zoo": release.cmd_zoo}


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        if argv and argv[0] == "prepare":
            return cmd_prepare(argv[1:])
        args = build_parser().parse_args(argv)
        if hasattr(args, "data_root") and args.data_root is None and not getattr(args, "resume", None):
            args.data_root = _default_data_root()  # a resumed run keeps its own (see _run)
        return VERBS[args.verb](args)
    except UserError as exc:
        if debug:
            raise
        print(f"modelzoo: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        if debug:
            raise
        print("modelzoo: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # no traceback for users unless asked
        if debug:
            raise
        print(f"modelzoo: error: {type(exc).__name__ + ': ' if not isinstance(exc, PluginError) else ''}"
              f"{exc} (run again with --debug for the traceback)", file=sys.stderr)
        # compare's exit 1 means "regression found": its crashes must not read as one
        return EXIT_USAGE if argv and argv[0] == "compare" else 1
