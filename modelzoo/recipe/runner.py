"""One run of a recipe: the command under modelzoo, measured from outside, into a run record.

Outcomes (docs/RELIABILITY.md):

- ``success``: exit 0 and every declared metric found in the output;
- ``failed``: a timeout ("timed out after N s"), a non-zero exit (with the last lines and
  the log's path), a declared metric never printed (naming its pattern), a failed setup;
- ``--max-steps N``: stopped after the log reports step N (SIGTERM to its group, SIGKILL
  after the grace): ``success`` with throughput only, ``cut_short`` saying so, and no
  accuracy kept (nothing to claim or gate);
- a stop signal to modelzoo (Ctrl-C, SIGTERM, scancel) stops the whole group and records
  ``interrupted``.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path
from typing import Optional

from modelzoo.recipe.logparse import LogParser
from modelzoo.recipe.process import Command, Outcome
from modelzoo.recipe.schema import Planned
from modelzoo.store import records
from modelzoo.toolkit.runtime import ProgressLine

LOG_FILE = "train.log"
FPS_DEFINITION = ("modelzoo's: samples between consecutive iteration lines of one training stretch / the wall "
                  "time between their arrival, the first parse.warmup lines left out (measured outside the script)")
RECIPE_FPS_DEFINITION = ("the script's own, after warm-up: the samples of the iterations it timed over the seconds "
                         "it printed for them, else the mean of the samples/s it printed")


def command_env(planned: Planned, device: str, devices: list) -> dict:
    """The command's environment: modelzoo's, unbuffered output, only its cards, then the recipe's."""
    env = dict(os.environ)
    # the scripts' `python3` is the interpreter modelzoo runs in (the same torch, the same venv)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["PYTHONUNBUFFERED"] = "1"  # lines must arrive when printed: the FPS window is timed by them
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # no __pycache__ left in the zoo checkout
    env["CUDA_VISIBLE_DEVICES"] = ",".join(str(d) for d in devices) if device == "cuda" else ""
    env.update(planned.env)
    return env


def run_recipe(record: dict, planned: Planned, *, run_dir: Path, runs_dir: Path, device: str, devices: list,
               max_steps: Optional[int], cache_dir: Path, say) -> dict:
    """Run ``planned`` for the ``running`` ``record`` (saved); returns the final record.

    A KeyboardInterrupt (a stop signal) ends the command's group, records ``interrupted``
    and is re-raised."""
    env = command_env(planned, device, devices)
    record["recipe"] = {"command": planned.text, "cwd": str(planned.cwd), "workdir": str(planned.workdir),
                        "env": planned.env,
                        "setup": " ".join(planned.setup_argv) if planned.setup_argv else None,
                        "zoo_root": str(planned.zoo_root) if planned.zoo_root else None,
                        "samples_per_iteration": planned.samples_per_iteration, "timeout_s": planned.timeout,
                        "max_steps": max_steps,
                        "throughput": {"fps": FPS_DEFINITION, "recipe_fps": RECIPE_FPS_DEFINITION}}
    record["env"] = _environment(device, planned)
    record["data"] = {"name": f"the recipe's data ({planned.data})", "kind": planned.data_kind,
                      "path": str(planned.data)}
    (run_dir / "output").mkdir(exist_ok=True)
    records.save(record, runs_dir)
    log_path = run_dir / LOG_FILE
    try:
        with log_path.open("ab") as log:
            failure = _setup(planned, env, log, cache_dir, say) if planned.setup_argv else None
            if failure:
                records.mark_finished(record, "failed", failure)
                return _saved(record, runs_dir)
            outcome, parser, power = _main(planned, env, log, record, runs_dir, device, devices, max_steps)
    except KeyboardInterrupt as exc:
        records.mark_finished(record, "interrupted", f"{exc or 'stopped by Ctrl-C'}; the command's process "
                              "group was stopped (a recipe cannot resume: start a new run)")
        _saved(record, runs_dir)
        raise
    except records.WriteFailed:
        raise  # the record cannot be written either: the caller says so
    except OSError as exc:  # the command could not start (not executable, its folder gone...)
        records.mark_finished(record, "failed", f"cannot run {planned.argv[0]}: {exc.strerror or exc}; "
                              f"fix the recipe's command or its folder {planned.cwd}")
        return _saved(record, runs_dir)
    except Exception as exc:  # a bug of ours: the record says so rather than staying 'running'
        records.mark_failed(record, exc)
        _saved(record, runs_dir)
        raise
    _fill(record, planned, outcome, parser, power, log_path, max_steps)
    return _saved(record, runs_dir)


def _saved(record: dict, runs_dir: Path) -> dict:
    records.save(record, runs_dir)
    return record


def _environment(device: str, planned: Planned) -> dict:
    from modelzoo.measure import env as envinfo

    env = envinfo.capture(device)
    zoo = envinfo.git_state(planned.workdir)
    env.update(zoo_commit=zoo["git_commit"], zoo_dirty=zoo["git_dirty"], recipe_workdir=str(planned.workdir))
    if zoo["git_commit"] is None:
        env["zoo_commit_reason"] = f"{planned.workdir} is not inside a git checkout (or git is missing)"
    return env


def _setup(planned: Planned, env: dict, log, cache_dir: Path, say) -> Optional[str]:
    """The setup step, once: a marker in the cache says it succeeded (a failed one runs again).
    Returns why it failed, or None."""
    key = hashlib.sha256("\0".join([str(planned.workdir), *planned.setup_argv]).encode()).hexdigest()[:16]
    marker = cache_dir / "recipe-setup" / f"{key}.done"
    if marker.is_file():
        log.write(f"[modelzoo: setup '{' '.join(planned.setup_argv)}' already done ({marker})]\n".encode())
        return None
    say(f"setup: {' '.join(planned.setup_argv)}")
    log.write(f"[modelzoo: setup: {' '.join(planned.setup_argv)}]\n".encode())
    log.flush()
    outcome = Command(planned.setup_argv, planned.workdir, env, log, log_limit_bytes=planned.log_limit_bytes,
                      timeout=planned.timeout, grace=planned.grace).run(lambda line, t: None)
    if outcome.returncode != 0 or outcome.stopped:
        why = "timed out" if outcome.stopped == "timeout" else f"exited with code {outcome.returncode}"
        return f"setup '{' '.join(planned.setup_argv)}' {why}: {_last(outcome)}"
    marker.parent.mkdir(parents=True, exist_ok=True)
    records.write_atomic(marker, records.utc_now() + "\n")
    log.write(b"[modelzoo: setup done]\n")
    return None


def _main(planned: Planned, env: dict, log, record: dict, runs_dir: Path, device: str, devices: list,
          max_steps: Optional[int]):
    from modelzoo.measure.power import PowerSampler

    parser = LogParser(planned.rules, keyvalue=planned.keyvalue, samples_per_iteration=planned.samples_per_iteration,
                       warmup=planned.warmup)
    command = Command(planned.argv, planned.cwd, env, log, log_limit_bytes=planned.log_limit_bytes,
                      timeout=planned.timeout, grace=planned.grace)
    sampler = PowerSampler.for_device(device, cards=devices if device == "cuda" else None)
    progress = ProgressLine(log=None)

    def on_line(line: str, t: float) -> None:
        if not parser.feed(line, t):
            return
        if parser.iterations == planned.warmup + 1 and not sampler.running:
            sampler.start()  # the outside window opens with the first timed iteration
        fps = parser.fps
        progress.show(f"step {parser.last_step}  fps {fps:.1f}" if fps else f"step {parser.last_step}")
        if max_steps and parser.last_step is not None and parser.last_step >= max_steps:
            command.stop("max_steps")

    def on_tick() -> None:  # alive while the script is silent too (another host reads the heartbeat)
        if records.heartbeat_due(record):
            records.save(records.heartbeat(record), runs_dir)

    try:
        outcome = command.run(on_line, on_tick)
    finally:
        progress.close()
        power = sampler.stop()
    return outcome, parser, power


def _last(outcome: Outcome) -> str:
    return " | ".join(line.strip()[:200] for line in outcome.last_lines[-3:]) or "(no output)"


def _fill(record: dict, planned: Planned, outcome: Outcome, parser: LogParser, power, log_path: Path,
          max_steps: Optional[int]) -> None:
    declared = [c["key"] for c in record.get("metric_columns", [])]
    cards = record["cards"]
    metrics = dict(parser.metrics)
    fps = parser.fps
    metrics.update(fps=fps, fps_per_card=fps / cards if fps else None, recipe_fps=parser.recipe_fps,
                   timed_seconds=round(parser.window_seconds, 3), images_seen=parser.window_samples,
                   steps=parser.last_step, iteration_lines=parser.iterations, wall_seconds=round(outcome.seconds, 3),
                   cpu_seconds=outcome.cpu_s)
    warnings = list(record.get("warnings") or [])
    if fps is None:
        metrics["fps_reason"] = (f"{parser.iterations} iteration line(s) parsed; the window needs at least two "
                                 f"after the {planned.warmup} warm-up lines in one training stretch")
        warnings.append(f"no FPS by modelzoo's definition: {metrics['fps_reason']}")
    if outcome.dropped_bytes:
        warnings.append(f"the command printed {outcome.log_bytes} bytes; {outcome.dropped_bytes} were left out "
                        f"of {log_path}")
    timed = parser.window_samples or None
    record["resources"] = {"memory": {"kind": "the command's process tree, resident set sampled each second",
                                      "per_card": [], "peak_gb_max": outcome.peak_rss_gb,
                                      "reason": "card memory of an external command is not read"
                                      if record["device"] == "cuda" else None},
                           "power": power.as_dict(images=int(timed) if timed else None)}
    curves = parser.curve_dict()
    trace = power.curve()
    if trace is not None:
        curves["power"] = trace
    record.update(metrics=metrics, curves=curves, warnings=warnings, log=str(log_path))
    status, error = "success", None
    where = f"log: {log_path}"
    if outcome.stopped == "timeout":
        status, error = "failed", f"timed out after {planned.timeout:g} s (recipe.timeout); {_last(outcome)}; {where}"
    elif outcome.stopped == "max_steps":
        record["cut_short"] = (f"stopped after step {parser.last_step} (--max-steps {max_steps}): throughput only, "
                               "no accuracy is claimed")
        for key in [k for k in metrics if k in declared or k.endswith("_std") or k == "loss"]:
            metrics.pop(key, None)
    elif outcome.returncode != 0:
        status, error = "failed", f"exited with code {outcome.returncode}: {_last(outcome)}; {where}"
    else:
        missing = [key for key in declared if not isinstance(metrics.get(key), (int, float))]
        if missing:
            rule = next((r for r in planned.rules if r.kind == "metric" and r.key == missing[0]), None)
            pattern = f"pattern {rule.pattern.pattern!r}" if rule else "no parse rule gives it"
            status, error = "failed", f"metric '{missing[0]}' was never printed ({pattern}); {where}"
    if outcome.pipe_held:
        warnings.append("a process that left the command's process group before modelzoo saw it kept the output "
                        "open after the command ended; modelzoo stopped reading (it may still be running)")
    if outcome.killed:
        warnings.append(f"the command ignored SIGTERM for {planned.grace:g} s and was killed (SIGKILL)")
    records.mark_finished(record, status, error)
