"""The ``modelzoo`` command: parses the arguments, calls :mod:`modelzoo.app`, prints.

Verbs: list, run, eval, prepare, export, report, compare, zoo. This module imports no torch
at module level (``modelzoo list`` and ``modelzoo report`` stay instant); verbs that
train or evaluate import the trainer when they run.

Errors meant for the user are :class:`UserError`: one line on stderr, exit code 2, and a
traceback only with ``--debug``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Optional

from modelzoo import __version__, app
from modelzoo.app.session import DATA_ROOT_ENV, RUNS_ENV
from modelzoo.cli.zoo import add_list_all_options, add_zoo_parser, list_all_command, zoo_cell_field, zoo_command
from modelzoo.contract.api import MetricColumn, UserError, int_at_least
from modelzoo.contract.plugins import PluginError
from modelzoo.toolkit import stopping
from modelzoo.toolkit.runtime import DEVICES
from modelzoo.toolkit.text import terminal_text

EXIT_USAGE = 2
EXIT_REGRESSION = 1  # compare: a regression was found (an error there is EXIT_USAGE)
EXIT_BY_STATUS = {"success": 0, "failed": 1, "diverged": 3, "interrupted": 130}  # a stop: 128 + its signal


# --- Options shared by the verbs ------------------------------------------------------

def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--zoo", help="zoo file (default: $MODELZOO_ZOO, ./zoo.yaml, the checkout's zoo.yaml)")
    parser.add_argument("--runs-dir", default=os.environ.get(RUNS_ENV, "runs"),
                        help="where run records live (default: $MODELZOO_RUNS or ./runs)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    parser.add_argument("--zoo-root", help="the zoo checkout that recipe models run from (default: "
                        "$MODELZOO_ZOO_ROOT)")


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="modelzoo", description="Train, evaluate, time and report zoo models on GPU cards.")
    parser.add_argument("--version", action="version", version=f"modelzoo {__version__}")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)

    p = verbs.add_parser("list", help="list the models and their profiles")
    _common(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    add_list_all_options(p)

    p = verbs.add_parser("run", help="train and evaluate a model; record FPS and accuracy")
    _common(p)
    _model_options(p)
    p.add_argument("--cards", type=_positive_int, default=1, help="cards (one worker process each; default 1)")
    p.add_argument("--oversubscribe", action="store_true", help="on the CPU, allow more workers than cores "
                   "(one compute thread each; e.g. --cards 8 on 2 cores to exercise 8 ranks)")
    p.add_argument("--max-steps", type=_positive_int, help="stop after this many steps (quick checks; "
                   "with --resume, the new cap)")
    p.add_argument("--repeat", type=_positive_int, help="cut the timed steps into N equal windows and record "
                   "FPS mean, std, min, max and CV (train.repeat)")
    p.add_argument("--resume", metavar="RUN_ID", help="continue an interrupted run from its last checkpoint")
    p.add_argument("--dry-run", action="store_true", help="resolve the config and check the data, then stop")
    p.add_argument("--sweep", metavar="KEY=A..B", help="one run per value (KEY=1..10 or KEY=a,b), then a "
                   "summary record with each metric's mean+-std over the runs")
    p.add_argument("--zoo-cell", type=zoo_cell_field, help=argparse.SUPPRESS)  # zoo run --launcher slurm

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
    p.add_argument("--force", action="store_true", help="replace an existing file at --output")

    # prepare's options come from the model's plugin: main() hands its arguments to cmd_prepare
    verbs.add_parser("prepare", help="build a model's data sets (options come from its plugin: "
                     "'modelzoo prepare MODEL --help')", add_help=False)

    p = verbs.add_parser("report", help="render result tables (Markdown, HTML, JSON, CSV) from run records")
    _common(p)
    p.add_argument("--format", default="md,html,json,csv", help="comma-separated: md, html, json, csv")
    p.add_argument("--output", default="reports", help="output directory (default: ./reports)")
    p.add_argument("--force", action="store_true",
                   help="replace files in --output that an earlier report did not write")
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
    add_zoo_parser(verbs, _common)  # zoo run / status / cancel / check
    return parser


# --- Verbs ----------------------------------------------------------------------------

def session_of(args) -> app.Session:
    """The folders and zoo file the options name (each default is the app's)."""
    data_root = getattr(args, "data_root", None)
    return app.Session(zoo_file=getattr(args, "zoo", None), runs_dir=Path(args.runs_dir),
                       data_root=Path(data_root) if data_root else None, debug=args.debug,
                       zoo_root=getattr(args, "zoo_root", None))


def cmd_list(args, session: app.Session) -> int:
    if args.all:
        return list_all_command(args, session)
    catalog = app.list_models(session)
    if args.json:
        print(json.dumps({"models": catalog.models, "missing": catalog.missing, "warnings": catalog.warnings},
                         indent=2))
        return 0
    if not catalog.models:
        print("no models: install a model plugin, e.g. 'pip install -e plugins/facenet'")
    for row in catalog.models:
        print(f"{row['model']:<12} {row['description']}")
        kind = "zoo recipe (its own script); " if row.get("recipe") else ""
        print(f"{'':<12} {kind}plugin {row['plugin']['name']} {row['plugin']['version']}; profiles: "
              + ", ".join(p + (" (default)" if p == row["default_profile"] else "") for p in row["profiles"]))
    zoo = session.zoo()
    for name in catalog.missing:
        plugin = zoo.models[name].plugin or "its plugin"
        print(f"{name:<12} (in zoo.yaml, but {plugin} is not installed)")
    return 0


def _run_request(args) -> app.RunRequest:
    return app.RunRequest(args.model, profile=args.profile, cards=args.cards, device=args.device,
                          overrides=list(args.sets), seed=args.seed, max_steps=args.max_steps, repeat=args.repeat,
                          resume=args.resume, zoo_cell=args.zoo_cell, oversubscribe=args.oversubscribe)


def _print_plan(planned: app.RunPlan) -> None:
    import yaml

    request = planned.request
    if planned.recipe is not None:
        _print_recipe_plan(planned)
        return
    print(f"# modelzoo run {request.model}: profile {planned.profile}, {request.cards} card(s) on {planned.device}")
    print(yaml.safe_dump(planned.config, sort_keys=False), end="")
    print("# data found; nothing was run (--dry-run)")


def _print_recipe_plan(planned: app.RunPlan) -> None:
    import shlex

    recipe, request = planned.recipe, planned.request
    print(f"# modelzoo run {request.model}: zoo recipe, profile {planned.profile}, {request.cards} card(s) on "
          f"{planned.device}; run {planned.run_id}")
    if recipe.setup_argv:
        print(f"# setup (once, in {recipe.workdir}): {shlex.join(recipe.setup_argv)}")
    print(f"cd {shlex.quote(str(recipe.cwd))}")
    from modelzoo.recipe.runner import command_env

    env = command_env(recipe, planned.device, [])
    shown = {k: env[k] for k in ("PYTHONUNBUFFERED", "CUDA_VISIBLE_DEVICES", *recipe.env)}
    if planned.device == "cuda":
        from modelzoo.measure.power_readers import visible_cards

        shown["CUDA_VISIBLE_DEVICES"] = ",".join(str(c) for c in visible_cards(request.cards))
    print(" ".join(f"{k}={shlex.quote(v)}" for k, v in shown.items()) + " " + recipe.text)
    timeout = f"timeout {recipe.timeout:g} s" if recipe.timeout else "no timeout"
    print(f"# {timeout}, SIGKILL {recipe.grace:g} s after SIGTERM; {recipe.samples_per_iteration:g} samples per "
          f"iteration; {len(recipe.rules)} parse rule(s){' + key=value lines' if recipe.keyvalue else ''}")
    print("# nothing was run (--dry-run)")


def cmd_run(args, session: app.Session) -> int:
    request = _run_request(args)
    if args.sweep:
        return _sweep(args, request, session)
    if args.dry_run:
        _print_plan(app.plan_request(request, session))
        return 0
    try:
        record = app.run_request(request, session)
    except app.RunStopped as stop:  # the run's own line ("run X interrupted: ... --resume"), not a bare one
        _finish_message(stop.record)
        return stopping.exit_status(stop)
    return 0 if record is None else _finish_message(record)


def _sweep(args, request: app.RunRequest, session: app.Session) -> int:
    from modelzoo.app.running import sweep_members

    if args.dry_run:
        for member in sweep_members(request, args.sweep, session)[2]:
            _print_plan(app.plan_request(member, session))
        return 0
    fields = {name: getattr(request, name) for name in request.__dataclass_fields__ if name != "model"}
    fields.pop("sweep_id")
    result = app.sweep(request.model, args.sweep, session=session, on_member=_finish_message, **fields)
    if result.stopped is not None:
        return stopping.exit_status(signum=result.stopped_by)
    if result.summary is None:
        return 0
    print(f"sweep {result.sweep_id} over {result.key} = {', '.join(result.values)}:", file=sys.stderr)
    return _finish_message(result.summary)


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
        print(terminal_text(f"run {record['run_id']} succeeded{synthetic}: " + ", ".join(shown)))
        for warning in record.get("warnings") or []:
            print(terminal_text(f"run {record['run_id']}: warning: {warning}"), file=sys.stderr)
    else:
        print(terminal_text(f"run {record['run_id']} {status}: {record.get('error')}"), file=sys.stderr)
    return EXIT_BY_STATUS.get(status, 1)


def cmd_eval(args, session: app.Session) -> int:
    record = app.evaluate(args.model, args.weights, session=session, profile=args.profile,
                          overrides=list(args.sets), seed=args.seed, device=args.device)
    return _finish_message(record)


def cmd_export(args, session: app.Session) -> int:
    print(app.export(args.model, args.weights, fmt=args.fmt, output=args.output, session=session,
                     profile=args.profile, overrides=list(args.sets), seed=args.seed, device=args.device,
                     force=args.force))
    return 0


def cmd_prepare(argv: list[str]) -> int:
    """``modelzoo prepare MODEL [the plugin's options]``; its parser comes from the plugin."""
    model = next((a for a in argv if not a.startswith("-")), None)
    session = app.Session(debug="--debug" in argv)
    registry = session.registry()
    if model is None:
        print("usage: modelzoo prepare MODEL [options]\n\n'modelzoo prepare MODEL --help' lists the "
              "model's options. Models: " + (", ".join(sorted(registry.models)) or "none installed"))
        return 0 if any(a in ("-h", "--help") for a in argv) else EXIT_USAGE
    registry.model(model)
    parser = argparse.ArgumentParser(prog=f"modelzoo prepare {model}",
                                     description=f"Build the data sets of {model}.")
    parser.add_argument("--data-root", default=os.environ.get(DATA_ROOT_ENV, "data"),
                        help="where the prepared sets go (default: $MODELZOO_DATA_ROOT or ./data)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    if not app.add_prepare_options(model, parser, session):
        if any(a in ("-h", "--help") for a in argv):  # asked for help: answer it, like every verb
            parser.description = f"Model '{model}' has no data preparation step: there is nothing to run."
            parser.print_help()
            return 0
        raise UserError(f"model '{model}' has no data preparation step")
    rest = list(argv)
    rest.remove(model)
    options = vars(parser.parse_args(rest))
    data_root = options.pop("data_root")
    options.pop("debug")
    print(app.prepare(model, options, data_root=data_root, session=session).summary())
    return 0


def cmd_report(args, session: app.Session) -> int:
    result = app.report(session, formats=args.format.split(","), output=args.output, runs=args.runs,
                        releases=args.releases, force=args.force)
    if not result.runs:
        print(f"no run records in {session.runs_dir}; run a model first, e.g. "
              "'modelzoo run facenet --cards 1 --profile demo'")
    for path in result.paths:
        print(path)
    return 0


def cmd_compare(args, session: app.Session) -> int:
    from modelzoo.zoo.compare import format_comparison

    result = app.compare(args.base, args.new, session=session, max_fps_drop=args.max_fps_drop,
                         max_metric_drop=args.max_metric_drop)
    print(terminal_text(format_comparison(result)))
    return EXIT_REGRESSION if result.regressions else 0


VERBS = {"list": cmd_list, "run": cmd_run, "eval": cmd_eval, "export": cmd_export,
         "report": cmd_report, "compare": cmd_compare, "zoo": zoo_command}


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        with stopping.stop_signals_raise():  # every verb: SIGTERM stops it as Ctrl-C does
            if argv and argv[0] == "prepare":
                return cmd_prepare(argv[1:])
            args = build_parser().parse_args(argv)
            return VERBS[args.verb](args, session_of(args))
    except UserError as exc:
        if debug:
            raise
        print(terminal_text(f"modelzoo: error: {exc}"), file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt as exc:
        if debug:
            raise
        print(f"modelzoo: interrupted{' by ' + signal.Signals(exc.signum).name if hasattr(exc, 'signum') else ''}",
              file=sys.stderr)
        return stopping.exit_status(exc)
    except Exception as exc:  # no traceback for users unless asked
        if debug:
            raise
        print(terminal_text(f"modelzoo: error: {type(exc).__name__ + ': ' if not isinstance(exc, PluginError) else ''}"
                            f"{exc} (run again with --debug for the traceback)"), file=sys.stderr)
        # compare's exit 1 means "regression found": its crashes must not read as one
        return EXIT_USAGE if argv and argv[0] == "compare" else 1
