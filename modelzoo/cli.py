"""The ``modelzoo`` command.

Verbs: list, run, eval, prepare, export, report, compare. This module imports no torch
at module level (``modelzoo list`` and ``modelzoo report`` stay instant); verbs that
train or evaluate import the trainer when they run.

Errors meant for the user are :class:`UserError`: one line on stderr, exit code 2, and a
traceback only with ``--debug``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Optional, Sequence

from modelzoo import __version__, records
from modelzoo.api import RunContext, UserError, int_at_least
from modelzoo.plugins import Registry, load_registry
from modelzoo.zoo import Zoo, apply_sets, find_zoo_file, load_zoo, profile_names, resolve_profile

EXIT_USAGE = 2
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
    parser.add_argument("--device", choices=("auto", "cuda", "cpu"), default="auto",
                        help="cuda when a card is visible, else cpu (default: auto)")
    parser.add_argument("--data-root", help="root of the data sets (default: $MODELZOO_DATA_ROOT or "
                        "./data; with --resume, the interrupted run's)")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                        help="override a profile value, e.g. --set train.batch_size=64 (repeatable)")
    parser.add_argument("--seed", type=int, help="random seed (default: the profile's train.seed)")


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
    p.add_argument("--max-steps", type=_positive_int, help="stop after this many steps (quick checks)")
    p.add_argument("--resume", metavar="RUN_ID", help="continue an interrupted run from its last checkpoint")
    p.add_argument("--dry-run", action="store_true", help="resolve the config and check the data, then stop")
    p.add_argument("--sweep", metavar="KEY=A..B", help="one run per value (KEY=1..10 or KEY=a,b), then a "
                   "summary record with each metric's mean+-std over the runs")

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

    p = verbs.add_parser("prepare", help="build a model's data sets (options come from its plugin)",
                         add_help=False)
    p.add_argument("model", nargs="?", help="model name")
    p.add_argument("options", nargs=argparse.REMAINDER, help="the plugin's options; see 'prepare MODEL --help'")

    p = verbs.add_parser("report", help="render result tables (Markdown, HTML, JSON, CSV) from run records")
    _common(p)
    p.add_argument("--format", default="md,html,json,csv", help="comma-separated: md, html, json, csv")
    p.add_argument("--output", default="reports", help="output directory (default: ./reports)")
    p.add_argument("--runs", nargs="+", metavar="RUN_ID", help="only these runs (default: all)")

    p = verbs.add_parser("compare", help="compare two runs; exit 1 on a regression")
    _common(p)
    p.add_argument("base", help="run id of the baseline")
    p.add_argument("new", help="run id of the candidate")
    p.add_argument("--max-fps-drop", type=float, default=5.0, metavar="PCT",
                   help="largest accepted FPS drop in percent (default 5)")
    p.add_argument("--max-metric-drop", type=float, default=0.005, metavar="X",
                   help="largest accepted drop of each metric, absolute (default 0.005)")
    return parser


# --- Shared lookups -------------------------------------------------------------------

def _registry() -> Registry:
    registry = load_registry()
    for warning in registry.warnings:
        print(f"modelzoo: warning: {warning}", file=sys.stderr)
    return registry


def _zoo(args) -> Zoo:
    return load_zoo(find_zoo_file(args.zoo))


def _device(requested: str) -> str:
    import torch

    if requested == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda but no CUDA card is visible; use --device cpu or check the driver")
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return requested


def _cache_dir() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "modelzoo"


def _writable_dir(path: Path, what: str, option: str) -> Path:
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-test-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise UserError(f"cannot write to the {what} {path}: {exc.strerror}; pass {option} DIR") from None
    return path


def _resolve(args, registry: Registry, zoo: Zoo) -> tuple[str, dict, dict]:
    spec = registry.model(args.model)
    profile, config = resolve_profile(spec, zoo, args.profile)
    overrides = apply_sets(config, args.sets)
    if args.seed is not None:
        config["train"]["seed"] = args.seed
    if getattr(args, "max_steps", None):
        config["train"]["max_steps"] = args.max_steps
    return profile, config, overrides


def _plugin_info(registry: Registry, model: str) -> dict:
    owner = registry.owners[model]
    return {"name": owner.name, "version": owner.version}


def _columns(spec) -> list[dict]:
    return [dict(key=c.key, title=c.title, format=c.format, std_key=c.std_key,
                 higher_is_better=c.higher_is_better) for c in spec.metric_columns]


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
                      cache_dir=_cache_dir(), run_dir=run_dir, device=device,
                      seed=config["train"].get("seed", 0))


def _check_data(registry: Registry, context: RunContext) -> None:
    problems = registry.hook.modelzoo_check_data(context=context)
    if problems:
        raise UserError(problems[0])


def cmd_run(args) -> int:
    if args.sweep:
        return _run_sweep(args)
    record = _run(args)
    return 0 if record is None else _finish_message(record)


def _run_sweep(args) -> int:
    import copy

    from modelzoo import sweep

    key, values = sweep.parse_sweep(args.sweep)
    if args.resume:
        raise UserError("--sweep and --resume do not combine; resume the interrupted member run by its id")
    if os.environ.get("WORLD_SIZE"):
        raise UserError("--sweep is not available under an outer launcher; start one job per value")
    from modelzoo.zoo import default_profile

    profile = args.profile or default_profile(_registry().model(args.model), _zoo(args))
    sweep_id = records.new_run_id(args.model, profile, args.cards) + "-sweep"
    members = []
    for value in values:
        member_args = copy.copy(args)
        member_args.sets = list(args.sets) + [f"{key}={value}"]
        record = _run(member_args, sweep_id=None if args.dry_run else sweep_id)
        if record is None:  # --dry-run
            continue
        _finish_message(record)
        members.append(record)
    if not members:
        return 0
    summary = sweep.summarize(sweep_id, key, values, members)
    records.save(summary, Path(args.runs_dir))
    print(f"sweep {sweep_id} over {key} = {', '.join(values)}:", file=sys.stderr)
    return _finish_message(summary)


def _run(args, sweep_id: Optional[str] = None) -> Optional[dict]:
    """One run; returns rank 0's final record, or None (--dry-run, or not rank 0)."""
    registry = _registry()
    zoo = _zoo(args)
    runs_dir = Path(args.runs_dir)
    resumed = None
    if args.resume:
        resumed = records.find(runs_dir, args.resume)
        if resumed["status"] in ("success", "diverged"):
            raise UserError(f"run {resumed['run_id']} already finished ({resumed['status']}); "
                            "start a new run instead of --resume")
        if args.sets or args.profile:
            raise UserError("--resume continues a run with its recorded config; drop --set/--profile")
        if args.cards != resumed["cards"]:
            raise UserError(f"run {resumed['run_id']} ran on {resumed['cards']} card(s); resume it with "
                            f"--cards {resumed['cards']}")
        profile, config, overrides = resumed["profile"], resumed["config"], resumed["overrides"]
        registry.model(args.model)
        if args.data_root is None:  # records older than data_root fall back to the default
            args.data_root = resumed.get("data_root") or _default_data_root()
    else:
        profile, config, overrides = _resolve(args, registry, zoo)
    spec = registry.model(args.model)
    device = _device(resumed["device"] if resumed else args.device)

    from modelzoo import launch  # imports torch

    outer = launch.outer_world_size()
    if not outer:
        launch.check_cards(args.cards, device)
    _writable_dir(runs_dir, "runs directory", "--runs-dir")
    context = _context(args, registry, profile, config, device, runs_dir)
    _check_data(registry, context)
    if args.dry_run:
        import yaml
        print(f"# modelzoo run {args.model}: profile {profile}, {args.cards} card(s) on {device}")
        print(yaml.safe_dump(config, sort_keys=False), end="")
        print("# data found; nothing was run (--dry-run)")
        return None

    cards = outer or args.cards
    rank = 0
    if resumed:
        run_id = resumed["run_id"]
    else:
        run_id = records.new_run_id(args.model, profile, cards)
    if outer:
        rank, _ = launch.init_outer_worker(device)
        run_id = launch.share_run_id(run_id)
    if rank == 0:
        if resumed:
            record = resumed
            record.update(status="running", error=None, resumed_from=resumed.get("resumed_from") or [])
            record["resumed_from"].append(records.utc_now())
        else:
            record = records.new_record(
                run_id=run_id, kind="train", model=args.model, model_title=spec.title,
                plugin=_plugin_info(registry, args.model), profile=profile, config=config,
                overrides=overrides, cards=cards, world_size=cards, device=device,
                seed=config["train"].get("seed", 0), metric_columns=_columns(spec),
                log=str(runs_dir / run_id / "train.log"), data_root=str(Path(args.data_root).resolve()))
            record["sweep_id"] = sweep_id
        records.save(record, runs_dir)
        print(f"run {run_id}: {args.model} ({profile}) on {cards} {'card' if device == 'cuda' else 'CPU worker'}"
              f"{'s' if cards > 1 else ''}; record in {runs_dir / run_id}", file=sys.stderr)
    job = launch.Job(run_id=run_id, model=args.model, profile=profile, config=config,
                     data_root=str(args.data_root), cache_dir=str(_cache_dir()), runs_dir=str(runs_dir),
                     device=device, seed=config["train"].get("seed", 0), resume=bool(resumed))
    record = launch.launch(job, cards)
    return record if rank == 0 else None


def _finish_message(record: dict) -> int:
    status = record.get("status", "failed")
    metrics = record.get("metrics") or {}
    if status == "success":
        shown = [f"FPS {metrics['fps']:.2f}" if metrics.get("fps") else "FPS n/a"]
        for column in record.get("metric_columns", []):
            if metrics.get(column["key"]) is not None:
                text = column["format"].format(metrics[column["key"]])
                if column.get("std_key") and metrics.get(column["std_key"]) is not None:
                    text += "+-" + column["format"].format(metrics[column["std_key"]])
                shown.append(f"{column['title']} {text}")
        synthetic = " [synthetic data]" if (record.get("data") or {}).get("kind") == "synthetic" else ""
        print(f"run {record['run_id']} succeeded{synthetic}: " + ", ".join(shown))
    else:
        print(f"run {record['run_id']} {status}: {record.get('error')}", file=sys.stderr)
    return EXIT_BY_STATUS.get(status, 1)


def _load_network(args, registry, profile, config, device, run_dir):
    weights = Path(args.weights)
    if not weights.is_file():
        raise UserError(f"weights file {weights} not found; pass a checkpoint (runs/<id>/checkpoint.pt) "
                        "or a state dict")
    context = _context(args, registry, profile, config, device, run_dir)
    network = registry.hook.modelzoo_load_weights(context=context, path=weights)
    if network is None:
        raise UserError(f"the plugin of '{args.model}' cannot load weights files")
    return context, network.to(device).eval()


def cmd_eval(args) -> int:
    import time

    registry = _registry()
    zoo = _zoo(args)
    spec = registry.model(args.model)
    profile, config, overrides = _resolve(args, registry, zoo)
    device = _device(args.device)
    runs_dir = _writable_dir(Path(args.runs_dir), "runs directory", "--runs-dir")
    run_id = records.new_run_id(args.model, profile, 1, kind="eval")
    run_dir = runs_dir / run_id
    record = records.new_record(
        run_id=run_id, kind="eval", model=args.model, model_title=spec.title,
        plugin=_plugin_info(registry, args.model), profile=profile, config=config, overrides=overrides,
        cards=1, world_size=1, device=device, seed=config["train"].get("seed", 0),
        metric_columns=_columns(spec), log=None)
    record["weights"] = str(Path(args.weights).resolve())
    started = time.time()
    try:
        from modelzoo import env as envinfo
        import torch

        context, network = _load_network(args, registry, profile, config, device, run_dir)
        with torch.no_grad():
            result = registry.hook.modelzoo_evaluate(context=context, network=network)
        if result is None:
            raise UserError(f"no plugin answered modelzoo_evaluate for '{args.model}'")
        record.update(status="success", metrics=result.metrics, curves=result.curves,
                      data=result.identity.as_dict() if result.identity else None,
                      env=envinfo.capture(device, extra=registry.environment_facts()))
    except BaseException as exc:
        record.update(status="failed", error=str(exc) if isinstance(exc, UserError)
                      else f"{type(exc).__name__}: {exc}")
        raise
    finally:
        record["finished"] = records.utc_now()
        record["duration_s"] = round(time.time() - started, 3)
        records.save(record, runs_dir)
    return _finish_message(record)


def cmd_export(args) -> int:
    registry = _registry()
    zoo = _zoo(args)
    profile, config, _ = _resolve(args, registry, zoo)
    device = _device(args.device)
    context, network = _load_network(args, registry, profile, config, device, Path(args.runs_dir))
    suffix = {"onnx": ".onnx", "torchscript": ".torchscript.pt"}[args.fmt]
    output = Path(args.output) if args.output else Path(args.weights).with_suffix(suffix)
    _writable_dir(output.parent, "output directory", "--output")
    summary = registry.hook.modelzoo_export(context=context, network=network, fmt=args.fmt, output=output)
    if summary is None:
        raise UserError(f"the plugin of '{args.model}' does not export models")
    print(summary)
    return 0


def cmd_prepare(args, debug: bool) -> int:
    registry = _registry()
    if not args.model or args.model in ("-h", "--help"):
        print("usage: modelzoo prepare MODEL [options]; 'modelzoo prepare MODEL --help' lists the "
              "model's options. Models: " + ", ".join(sorted(registry.models)))
        return 0 if args.model else EXIT_USAGE
    registry.model(args.model)
    parser = argparse.ArgumentParser(prog=f"modelzoo prepare {args.model}",
                                     description=f"Build the data sets of {args.model}.")
    parser.add_argument("--data-root", default=_default_data_root(),
                        help="where the prepared sets go (default: $MODELZOO_DATA_ROOT or ./data)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    if not registry.hook.modelzoo_prepare_arguments(model=args.model, parser=parser):
        raise UserError(f"model '{args.model}' has no data preparation step")
    options = vars(parser.parse_args(args.options))
    data_root = _writable_dir(Path(options.pop("data_root")), "data root", "--data-root")
    options.pop("debug")
    result = registry.hook.modelzoo_prepare(model=args.model, options=options, data_root=data_root)
    print(result.summary())
    return 0


def cmd_report(args) -> int:
    runs_dir = Path(args.runs_dir)
    formats = [f.strip() for f in args.format.split(",") if f.strip()]
    unknown = sorted(set(formats) - {"md", "html", "json", "csv"})
    if unknown:
        raise UserError(f"--format {','.join(unknown)} is not known; choose from md, html, json, csv")
    found = records.load_all(runs_dir, args.runs)
    if not found:
        print(f"no run records in {runs_dir}; run a model first, e.g. "
              "'modelzoo run facenet --cards 1 --profile demo'")
        return 0
    zoo = _zoo(args)
    from modelzoo.report.render import render_reports

    output = _writable_dir(Path(args.output), "report directory", "--output")
    for path in render_reports(found, zoo.references(), output, formats=formats):
        print(path)
    return 0


def cmd_compare(args) -> int:
    from modelzoo.compare import compare_records, format_comparison

    runs_dir = Path(args.runs_dir)
    base, new = records.find(runs_dir, args.base), records.find(runs_dir, args.new)
    result = compare_records(base, new, max_fps_drop_pct=args.max_fps_drop,
                             max_metric_drop=args.max_metric_drop)
    print(format_comparison(result))
    return 1 if result.regressions else 0


VERBS = {"list": cmd_list, "run": cmd_run, "eval": cmd_eval, "export": cmd_export,
         "report": cmd_report, "compare": cmd_compare}


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if hasattr(args, "data_root") and args.data_root is None and not getattr(args, "resume", None):
        args.data_root = _default_data_root()  # a resumed run keeps its own (see _run)
    debug = getattr(args, "debug", False) or "--debug" in argv
    try:
        if args.verb == "prepare":
            return cmd_prepare(args, debug)
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
        print(f"modelzoo: error: {type(exc).__name__}: {exc} (run again with --debug for the traceback)",
              file=sys.stderr)
        return 1
