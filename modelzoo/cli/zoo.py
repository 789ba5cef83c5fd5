"""``modelzoo zoo run|status|cancel|check|import|lint|writeback`` and ``list --all``: the options and
the printing; the work is :mod:`modelzoo.app.releases` and :mod:`modelzoo.app.zoo_catalogue`."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable

from modelzoo import app
from modelzoo.contract.api import UserError, int_at_least
from modelzoo.toolkit.text import terminal_text
from modelzoo.zoo import slurm
from modelzoo.zoo.release import DEFAULT_CARDS_PER_NODE, RELEASE_ENV, Cell

EXIT_FAILED = 1
EXIT_USAGE = 2


def model_names(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"expected model names separated by commas, got {text!r}")
    return list(dict.fromkeys(names))


card_count = int_at_least(1)


def card_counts(text: str) -> list[int]:
    counts = [card_count(n.strip()) for n in text.split(",") if n.strip()]
    if not counts:
        raise argparse.ArgumentTypeError(f"expected card counts separated by commas, e.g. 1,8, got {text!r}")
    return list(dict.fromkeys(counts))


def zoo_cell_field(text: str) -> dict:
    """``modelzoo run --zoo-cell JSON`` (how a Slurm job's run gets its cell): a record's ``zoo_cell``."""
    from modelzoo.store import safe_load

    try:
        cell = Cell(**safe_load.json_text(text, allow_nan=False))
        if not (isinstance(cell.cards, int) and isinstance(cell.release, str) and isinstance(cell.model, str)):
            raise TypeError("wrong types")
    except (ValueError, TypeError) as exc:
        raise argparse.ArgumentTypeError(f"not a zoo cell ({exc}): {text!r}") from None
    return cell.as_record_field()


def add_zoo_parser(verbs, common: Callable[[argparse.ArgumentParser], None]) -> None:
    """``modelzoo zoo run|status|cancel|check`` on the CLI's subparsers; ``common`` adds --zoo, --runs-dir, --debug."""
    parser = verbs.add_parser("zoo", help="run a release's matrix from zoo.yaml (here or on Slurm) and gate it "
                              "against the published numbers (zoo run, zoo status, zoo cancel, zoo check); read, "
                              "check and write the DeepSpark zoo's own files (zoo import, zoo lint, zoo writeback)")
    actions = parser.add_subparsers(dest="zoo_action", metavar="ACTION", required=True)
    release_help = f"release id from zoo.yaml's releases: (default: ${RELEASE_ENV})"
    p = actions.add_parser("run", help="run every cell of a release (models x profiles x cards); resumes: "
                           "succeeded cells are skipped; exit 1 unless every cell succeeded")
    common(p)
    p.add_argument("--release", help=release_help)
    p.add_argument("--models", type=model_names, metavar="A,B", help="only these models of the release")
    p.add_argument("--cards", type=card_counts, metavar="1,8", help="only these card counts of the release")
    p.add_argument("--device", choices=("auto", "cuda", "cpu"),
                   help="cuda when a card is visible, else cpu (default: auto)")
    p.add_argument("--data-root", help="root of the data sets (default: $MODELZOO_DATA_ROOT or ./data)")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="override a setting in every new run of the matrix, as 'modelzoo run --set' "
                   "(repeatable; e.g. a deliberate slowdown to test the gate)")
    p.add_argument("--launcher", choices=("local", "slurm"), default="local",
                   help="local: every cell here, one after another (default); slurm: one batch job per cell")
    group = p.add_argument_group("slurm launcher")
    group.add_argument("--partition", help="Slurm partition (default: the cluster's default)")
    group.add_argument("--account", help="Slurm account to charge")
    group.add_argument("--time", type=slurm.time_limit, metavar="HH:MM:SS", help="time limit of each job")
    group.add_argument("--sbatch-arg", dest="sbatch_args", action="append", default=[], metavar="ARG",
                       help="one more sbatch option, as --sbatch-arg=--qos=high (repeatable)")
    group.add_argument("--cards-per-node", type=int_at_least(1), default=DEFAULT_CARDS_PER_NODE, metavar="N",
                       help=f"GPUs per node (default {DEFAULT_CARDS_PER_NODE}): a cell asks for "
                       "ceil(cards / N) nodes")
    group.add_argument("--no-wait", action="store_true", help="submit and return; 'zoo status' shows the jobs")
    p = actions.add_parser("status", help="each cell's state: pending / running (with the Slurm job) / "
                           "succeeded / failed / interrupted, from the records and Slurm's queue")
    common(p)
    p.add_argument("--release", help=release_help)
    p = actions.add_parser("cancel", help="scancel the release's pending and running jobs; running cells "
                           "checkpoint and record 'interrupted'")
    common(p)
    p.add_argument("--release", help=release_help)
    p = actions.add_parser("check", help="judge every cell of a release against zoo.yaml's references, "
                           "targets and tolerances, or with --baseline against an earlier release's runs; "
                           "exit 1 on any failure, 2 on bad input")
    common(p)
    p.add_argument("--release", help=release_help)
    p.add_argument("--baseline", metavar="OLD", help="judge each cell against the same cell (model, profile, "
                   "card, card count) in release OLD's runs instead: regression / improvement / unchanged / "
                   "new cell / missing, noise-aware")
    p.add_argument("--max-fps-drop", type=float, metavar="PCT", help="with --baseline: the FPS drop allowed "
                   "when a cell's noise is unknown or smaller (default 5)")
    add_catalogue_parsers(actions, common, release_help)


def add_catalogue_parsers(actions, common: Callable[[argparse.ArgumentParser], None], release_help: str) -> None:
    """``zoo import|lint|writeback``: the DeepSparkHub checkout's catalogue, consistency and READMEs."""
    root_help = "a DeepSparkHub checkout (the folder with tests/model_info.json and models/)"
    p = actions.add_parser("import", help="read the zoo checkout's model_info.json and READMEs into the catalogue "
                           "(zoo.catalogue.json beside zoo.yaml): every model and its published results")
    common(p)
    p.add_argument("root", metavar="DSH_ROOT", help=root_help)
    p.add_argument("--output", help="catalogue file to write (default: zoo.catalogue.json beside zoo.yaml)")
    p = actions.add_parser("lint", help="the zoo checkout's own consistency (model_info.json against READMEs, "
                           "paths, duplicates, results cells); one finding a line; exit 1 when any is found")
    common(p)
    p.add_argument("root", metavar="DSH_ROOT", help=root_help)
    p = actions.add_parser("writeback", help="a release's measured results into a model's README (its own "
                           "layout) and model_info.json: a unified diff, or written with --apply")
    common(p)
    p.add_argument("root", metavar="DSH_ROOT", help=root_help)
    p.add_argument("--model", required=True, help="zoo.yaml model that names its catalogue entry (catalogue:)")
    p.add_argument("--release", help=release_help)
    p.add_argument("--sdk", help="SDK the release ran on, e.g. 4.3.0 (default: the records' env.sdk); it adds the "
                   "environment row and moves model_info.json's latest_sdk")
    p.add_argument("--apply", action="store_true", help="write the files (atomically) instead of showing the diff")
    p.add_argument("--expect", metavar="STATE", help="with --apply: refuse unless the files are still in the "
                   "state the shown diff was made from (the diff's last line gives it)")


def add_list_all_options(parser: argparse.ArgumentParser) -> None:
    """``modelzoo list --all``: the whole zoo from the imported catalogue."""
    parser.add_argument("--all", action="store_true", help="every model of the zoo's catalogue (zoo import), "
                        "with its published results and whether it can run here")
    parser.add_argument("--category", help="with --all: only this category or its prefix (cv, cv/classification)")
    parser.add_argument("--framework", help="with --all: only this framework (pytorch, paddlepaddle, ...)")
    parser.add_argument("--gpu", help="with --all: only models with this card (BI-V150)")


def list_all_command(args, session: app.Session) -> int:
    from modelzoo.catalogue.views import headline

    rows = app.list_all(session, category=args.category, framework=args.framework, gpu=args.gpu)
    if args.json:
        print(json.dumps({"models": rows}, indent=2, ensure_ascii=False))
        return 0
    if not app.catalogue(session).entries:
        print("no catalogue: run 'modelzoo zoo import DSH_ROOT' first")
        return 0
    for row in rows:
        here = f"  [{row['runnable']}: {row['zoo_model']}]" if row["runnable"] else ""
        print(f"{row['key']:<52} {row['framework']:<13} {', '.join(row['gpus']) or '-'}{here}")
        for reference in row["references"][:3]:
            print(f"{'':<4}{headline(reference)}")
    print(f"{len(rows)} models; {sum(1 for r in rows if r['runnable'])} can run here")
    return 0


def run_command(args, session: app.Session) -> int:
    summary = app.zoo_run(args.release, session=session, models=args.models, cards=args.cards,
                          device=args.device, sets=args.sets, launcher=args.launcher, partition=args.partition,
                          account=args.account, time=args.time, sbatch_args=args.sbatch_args,
                          cards_per_node=args.cards_per_node, no_wait=args.no_wait)
    if summary is None:  # --no-wait: the jobs are queued
        return 0
    zoo = summary["zoo"]
    print(terminal_text(f"zoo run {zoo['release']}: {zoo['succeeded']} of {zoo['cells']} cells succeeded; summary "
                        f"record {summary['run_id']}" + ("" if summary["status"] == "success" else f"; {summary['error']}")))
    return 0 if summary["status"] == "success" else EXIT_FAILED


def status_command(args, session: app.Session) -> int:
    from modelzoo.zoo.slurm_release import count_text, format_table

    release_id, states = app.zoo_status(args.release, session=session)
    print(terminal_text(format_table(states)))
    print(f"zoo status {release_id}: {count_text(states)}")
    return 0


def cancel_command(args, session: app.Session) -> int:
    from modelzoo.zoo.slurm_release import count_text, format_table

    release_id, states = app.zoo_cancel(args.release, session=session)
    if states is None:
        print(f"zoo cancel {release_id}: no job of this release is pending or running")
        return 0
    print(terminal_text(format_table(states)))
    print(f"zoo cancel {release_id}: {count_text(states)}; 'modelzoo zoo run --release {release_id} --launcher "
          "slurm' resubmits what did not succeed")
    return 0


def check_command(args, session: app.Session) -> int:
    from modelzoo.zoo.gate import format_verdicts

    if args.baseline is not None:
        return baseline_command(args, session)
    if args.max_fps_drop is not None:
        raise UserError("--max-fps-drop applies to 'zoo check --baseline OLD'; add --baseline or drop it")

    release_id, verdicts = app.zoo_check(args.release, session=session)
    print(terminal_text(format_verdicts(verdicts)))
    failed = [v for v in verdicts if not v.passed]
    if failed:
        print(terminal_text(f"zoo check {release_id}: FAIL: {len(failed)} of {len(verdicts)} cells: "
                            + "; ".join(f"{v.cell.name} ({v.failures[0]})" for v in failed)))
        return EXIT_FAILED
    print(f"zoo check {release_id}: pass: all {len(verdicts)} cells meet {session.zoo().path}")
    return 0


def import_command(args, session: app.Session) -> int:
    path, numbers = app.zoo_import(args.root, output=args.output, session=session)
    share = numbers["parsed_rows"] / numbers["result_rows"] * 100 if numbers["result_rows"] else 0.0
    print(f"zoo import: {numbers['entries']} models, {numbers['readmes_with_results']} READMEs with results, "
          f"{numbers['parsed_rows']} of {numbers['result_rows']} result rows parsed ({share:.1f}%), "
          f"{numbers['reference_rows']} reference rows, {numbers['not_understood']} things not understood "
          f"(listed in the file); wrote {path}")
    return 0


def lint_command(args, session: app.Session) -> int:
    from modelzoo.catalogue.lint import summary

    findings = app.zoo_lint(args.root)
    for finding in findings:
        print(finding)
    print(f"zoo lint: {summary(findings)}")
    return EXIT_FAILED if findings else 0


def writeback_command(args, session: app.Session) -> int:
    if args.expect and not args.apply:
        raise UserError("--expect only guards --apply; add --apply to write, or drop --expect to see the diff")
    result = app.zoo_writeback(args.root, args.model, args.release, sdk=args.sdk, apply=args.apply,
                               expect=args.expect, session=session)
    changed = [c.path for c in result.changes if c.changed]
    if result.applied:
        print(f"zoo writeback: wrote {', '.join(changed)}" if changed else "zoo writeback: nothing to change")
        return 0
    print(result.diff, end="")
    print(f"zoo writeback: {len(changed)} files would change; apply with --apply --expect {result.digest}"
          if changed else "zoo writeback: nothing to change")
    return 0


def baseline_command(args, session: app.Session) -> int:
    from modelzoo.zoo.baseline import format_table

    new, verdicts = app.zoo_check_baseline(args.release, args.baseline, session=session, max_fps_drop=args.max_fps_drop)
    print(format_table(verdicts, new, args.baseline))
    counts: dict[str, int] = {}
    for verdict in verdicts:
        counts[verdict.verdict] = counts.get(verdict.verdict, 0) + 1
    summary = ", ".join(f"{n} {name}" for name, n in sorted(counts.items()))
    failing = [v for v in verdicts if v.failing]
    if failing:
        print(f"zoo check {new} against {args.baseline}: FAIL: " + "; ".join(
            f"{v.cell.key.name} ({v.verdict}: {v.detail()})" for v in failing))
        return EXIT_FAILED
    if any(v.verdict == "cannot judge" for v in verdicts):
        print(f"zoo check {new} against {args.baseline}: cannot judge every cell ({summary})")
        return EXIT_USAGE
    print(f"zoo check {new} against {args.baseline}: pass: {summary}")
    return 0


ACTIONS = {"run": run_command, "status": status_command, "cancel": cancel_command, "check": check_command,
           "import": import_command, "lint": lint_command, "writeback": writeback_command}


def zoo_command(args, session: app.Session) -> int:
    """The ``zoo`` verb. A crash is exit 2 (an error), never 1, which a pipeline reads as a verdict."""
    try:
        return ACTIONS[args.zoo_action](args, session)
    except (UserError, KeyboardInterrupt):
        raise
    except Exception as exc:  # noqa: BLE001
        if args.debug:
            raise
        print(terminal_text(f"modelzoo: error: {type(exc).__name__}: {exc} (run again with --debug for the "
                            "traceback)"), file=sys.stderr)
        return EXIT_USAGE
