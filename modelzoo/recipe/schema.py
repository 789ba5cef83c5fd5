"""A recipe's settings (the ``recipe`` section of its profile), checked, and the command they give.

In zoo.yaml (docs/WRITING_A_RECIPE.md walks through one)::

    models:
      pytorch-imagenet:
        description: the PyTorch ImageNet example
        recipe:
          workdir: pytorch-examples/imagenet        # under the zoo root (--zoo-root / $MODELZOO_ZOO_ROOT)
          command: python3 main.py {data} -a {arch} -b {batch_size} --epochs {epochs}
          # or one per card count: {1: "bash train.sh 0", 8: "bash train.sh 0,1,2,3,4,5,6,7"}
          env: {OMP_NUM_THREADS: "2"}
          timeout: 3600                             # seconds; 0: none (a timeout is a failure)
          grace: 10                                 # seconds from SIGTERM to SIGKILL
          setup: python3 txt_annotation.py          # optional; run once, again only after it failed
          vars: {arch: resnet18, batch_size: 32, epochs: 1}
          samples_per_iteration: "{batch_size}"     # per card (modelzoo multiplies by --cards); or per card count
          data_kind: real                           # synthetic: the report labels the results so
          cwd: workdir                              # or output: run from {output} (a script that writes
                                                    # checkpoints into its folder leaves the checkout alone)
          parse:
            preset: progress-meter                  # or a list; see modelzoo.recipe.presets
            warmup: 2                               # iteration lines left out of the FPS window
            metrics: {top5: 'Acc@5 (?P<value>[0-9.]+)'}   # more metric rules
          metrics:                                  # the result columns; each must be found
            - {key: acc1, title: Acc@1, format: "{:.2f}"}

Placeholders in ``command``, ``setup``, ``env`` values and ``samples_per_iteration``:
``{cards}``, ``{devices}`` (the card ids, ``0,1``), ``{data}`` (the data root), ``{output}``
(a folder in the run's directory for what the script writes), ``{run_dir}``, ``{seed}``,
``{zoo_root}``, ``{workdir}`` and every key of ``vars``. Every problem is reported as
``zoo.yaml:LINE: models.NAME.recipe.KEY: problem; fix``.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import string
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from modelzoo.contract.api import MetricColumn, UserError, check_format
from modelzoo.recipe.presets import KINDS, PRESETS, Rule, required_groups

ZOO_ROOT_ENV = "MODELZOO_ZOO_ROOT"
BUILT_IN = ("cards", "devices", "data", "output", "run_dir", "seed", "zoo_root", "workdir")
PATTERN_KEYS = ("step", "throughput", "loss", "train_start", "train_end")
# Every key of a recipe section with its default: a zoo.yaml profile or --set may override
# only these (the profile checks of modelzoo.zoo.zoofile), so every key is always present.
DEFAULTS: dict[str, Any] = {
    "workdir": None, "command": None, "env": {}, "timeout": 0, "grace": 10.0, "setup": "", "vars": {},
    "samples_per_iteration": 1, "log_limit_mb": 64, "data_kind": "real", "cwd": "workdir",
    "parse": {"preset": [], "warmup": 2, "metrics": {}, **{k: "" for k in PATTERN_KEYS}},
}
_PARSE_KEYS = set(DEFAULTS["parse"])
# Keys of a zoo.yaml recipe block that describe the model rather than one run of it.
MODEL_KEYS = ("metrics", "unit")

Where = Callable[[tuple], str]  # key path inside the recipe section -> "zoo.yaml:12: models.x.recipe.key"


def section_with_defaults(block: dict) -> dict:
    """The block's run settings over :data:`DEFAULTS` (model keys left out), ``preset`` as a list."""
    section = {k: (dict(v) if isinstance(v, dict) else v) for k, v in DEFAULTS.items()}
    section["parse"] = dict(DEFAULTS["parse"])
    for key, value in block.items():
        if key in MODEL_KEYS:
            continue
        if key == "parse" and isinstance(value, dict):
            section["parse"].update(value)
        else:
            section[key] = value
    preset = section["parse"].get("preset")
    if isinstance(preset, str):
        section["parse"]["preset"] = [preset]
    return section


def _fail(where: Where, path: tuple, problem: str) -> UserError:
    return UserError(f"{where(path)}: {problem}")


def check_section(section: dict, where: Where) -> None:
    """Refuse a recipe section with an unknown key, a wrong type, a pattern that does not compile
    or a placeholder nobody fills; the error names the key's zoo.yaml line and the fix."""
    for key in section:
        if key not in DEFAULTS and key not in MODEL_KEYS:
            raise _fail(where, (key,), f"unknown key (allowed: {', '.join([*DEFAULTS, *MODEL_KEYS])})")
    if not isinstance(section.get("workdir"), str) or not section["workdir"].strip():
        raise _fail(where, ("workdir",), "missing; give the script's folder, relative to the zoo root "
                    "(e.g. 'models/cv/face_recognition/facenet/pytorch')")
    command = section.get("command")
    commands = command if isinstance(command, dict) else {None: command}
    if not commands or not all(isinstance(text, str) and text.strip() for text in commands.values()):
        raise _fail(where, ("command",), "missing; give the command line of the README's training "
                    "block, or a mapping of card counts to command lines")
    if isinstance(command, dict) and not all(isinstance(k, int) and not isinstance(k, bool) and k > 0
                                             for k in command):
        raise _fail(where, ("command",), "the keys of a per-card-count command must be positive integers")
    if not isinstance(section["env"], dict) or not all(isinstance(v, (str, int, float)) and not isinstance(v, bool)
                                                       for v in section["env"].values()):
        raise _fail(where, ("env",), "expected a mapping of variable names to strings")
    if not isinstance(section["vars"], dict) or not all(isinstance(k, str) and k.isidentifier()
                                                        for k in section["vars"]):
        raise _fail(where, ("vars",), "expected a mapping of placeholder names (letters, digits, '_') to values")
    clash = sorted(set(section["vars"]) & set(BUILT_IN))
    if clash:
        raise _fail(where, ("vars", clash[0]), f"'{clash[0]}' is filled by modelzoo; rename the variable")
    for key, low in (("timeout", 0), ("grace", 0), ("log_limit_mb", 1)):
        value = section[key]
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value < low:
            raise _fail(where, (key,), f"expected a number >= {low}, got {value!r}")
    if not isinstance(section["setup"], str):
        raise _fail(where, ("setup",), "expected a command line (or leave it out)")
    spi = section["samples_per_iteration"]
    for value in (spi.values() if isinstance(spi, dict) else [spi]):
        if not (isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool) and value > 0)):
            raise _fail(where, ("samples_per_iteration",), "expected a positive integer, a placeholder such as "
                        "'{batch_size}', or a mapping of card counts to those")
    if section["cwd"] not in ("workdir", "output"):
        raise _fail(where, ("cwd",), f"expected workdir or output, got {section['cwd']!r}")
    if section["data_kind"] not in ("real", "synthetic"):
        raise _fail(where, ("data_kind",), f"expected real or synthetic, got {section['data_kind']!r}")
    _check_placeholders(section, where)
    rules(section, where)


def _check_placeholders(section: dict, where: Where) -> None:
    known = set(BUILT_IN) | set(section["vars"])
    command = section["command"]
    texts = [(("command", k) if isinstance(command, dict) else ("command",), v)
             for k, v in (command.items() if isinstance(command, dict) else [(None, command)])]
    spi = section["samples_per_iteration"]
    texts += [(("setup",), section["setup"])]
    texts += [(("samples_per_iteration",), v) for v in (spi.values() if isinstance(spi, dict) else [spi])]
    texts += [(("env", k), v) for k, v in section["env"].items()]
    for path, text in texts:
        if not isinstance(text, str):
            continue
        try:
            names = [name for _, name, _, _ in string.Formatter().parse(text) if name is not None]
        except ValueError as exc:
            raise _fail(where, path, f"{exc} in {text!r}; write a literal brace as '{{{{' or '}}}}'") from None
        for name in names:
            if name not in known:
                raise _fail(where, path, f"unknown placeholder {{{name}}}; use one of "
                            f"{', '.join('{' + k + '}' for k in sorted(known))} or add '{name}' to vars")


def rules(section: dict, where: Where) -> tuple[tuple[Rule, ...], bool]:
    """The section's parse rules (its presets' then its own) and whether key=value lines are read."""
    parse = section["parse"]
    if not isinstance(parse, dict):
        raise _fail(where, ("parse",), "expected a mapping (preset, warmup, metrics, step, ...)")
    for key in parse:
        if key not in _PARSE_KEYS:
            raise _fail(where, ("parse", key), f"unknown key (allowed: {', '.join(sorted(_PARSE_KEYS))})")
    presets = parse["preset"]
    if not isinstance(presets, list) or not all(isinstance(p, str) for p in presets):
        raise _fail(where, ("parse", "preset"), "expected a preset name or a list of them")
    found: list[Rule] = []
    for name in presets:
        if name not in PRESETS:
            raise _fail(where, ("parse", "preset"), f"unknown preset '{name}'; use one of {', '.join(PRESETS)}")
        found += PRESETS[name]
    warmup = parse["warmup"]
    if not isinstance(warmup, int) or isinstance(warmup, bool) or warmup < 0:
        raise _fail(where, ("parse", "warmup"), f"expected an integer >= 0, got {warmup!r}")
    own = [(kind, "", parse[kind], ("parse", kind)) for kind in PATTERN_KEYS if parse[kind]]
    metrics = parse["metrics"]
    if not isinstance(metrics, dict):
        raise _fail(where, ("parse", "metrics"), "expected a mapping of metric keys to patterns")
    own += [("metric", key, pattern, ("parse", "metrics", key)) for key, pattern in metrics.items()]
    for kind, key, pattern, path in own:
        found = [r for r in found if not (r.kind == kind and r.key == key)]  # an own rule replaces the preset's
        found.append(_compile(kind, key, pattern, where, path))
    keyvalue = "keyvalue" in presets
    if not any(r.kind == "step" for r in found) and not keyvalue:
        raise _fail(where, ("parse",), "no rule finds the iterations; name a preset or give parse.step")
    return tuple(found), keyvalue


def _compile(kind: str, key: str, pattern, where: Where, path: tuple) -> Rule:
    if kind not in KINDS:  # pragma: no cover - PATTERN_KEYS are kinds
        raise _fail(where, path, f"unknown rule kind {kind}")
    if not isinstance(pattern, str) or not pattern:
        raise _fail(where, path, f"expected a regular expression, got {pattern!r}")
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise _fail(where, path, f"pattern {pattern!r} does not compile ({exc}); fix the regular "
                    "expression (quote it in single quotes in YAML)") from None
    for need in required_groups(kind):
        if not set(need.split("|")) & set(compiled.groupindex):
            raise _fail(where, path, f"pattern {pattern!r} has no named group (?P<{need.split('|')[0]}>...); "
                        "name the number it captures")
    return Rule(kind, compiled, key)


def columns(block: dict, where: Where) -> tuple[MetricColumn, ...]:
    """The model's result columns from the block's ``metrics`` list."""
    entries = block.get("metrics") or []
    if not isinstance(entries, list):
        raise _fail(where, ("metrics",), "expected a list of {key, title, format} entries")
    out = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("key"), str):
            raise _fail(where, ("metrics", index), "expected a mapping with a 'key' (and title, format)")
        try:
            column = MetricColumn.from_dict({"title": entry["key"], **entry})
            check_format(column.format)
        except (TypeError, UserError) as exc:
            raise _fail(where, ("metrics", index), str(exc)) from None
        out.append(column)
    return tuple(out)


# --- The command a run uses ---------------------------------------------------------------

@dataclass(frozen=True)
class Planned:
    argv: list[str]
    setup_argv: Optional[list[str]]
    cwd: Path                    # where the command runs: workdir, or the run's output folder
    workdir: Path                # the recipe's folder in the zoo checkout (setup runs there)
    env: dict[str, str]          # what the recipe sets over modelzoo's environment
    samples_per_iteration: float  # on all cards together
    rules: tuple[Rule, ...]
    keyvalue: bool
    warmup: int
    timeout: float
    grace: float
    log_limit_bytes: int
    zoo_root: Optional[Path]
    data: Path                   # the data root ({data})
    data_kind: str               # "real" or "synthetic" (the report keeps synthetic results apart)

    @property
    def text(self) -> str:
        return shlex.join(self.argv)


def zoo_root_of(explicit: Optional[str | Path]) -> Optional[Path]:
    """``--zoo-root``, else ``$MODELZOO_ZOO_ROOT``, else None; UserError when it is not a folder."""
    source, value = ("--zoo-root", explicit) if explicit else (f"${ZOO_ROOT_ENV}", os.environ.get(ZOO_ROOT_ENV))
    if not value:
        return None
    root = Path(value).expanduser()
    if not root.is_dir():
        raise UserError(f"zoo root {root} (from {source}) is not a folder; pass the folder holding the zoo "
                        f"checkout to --zoo-root or {ZOO_ROOT_ENV}")
    return root.resolve()


def plan_command(section: dict, where: Where, *, cards: int, devices: list, data_root: Path, run_dir: Path,
                 seed: int, zoo_root: Optional[Path]) -> Planned:
    """The command, folder and environment of one run; UserError naming the key when one is wrong."""
    check_section(section, where)
    workdir = Path(os.path.expandvars(section["workdir"])).expanduser()
    if not workdir.is_absolute():
        if zoo_root is None:
            raise _fail(where, ("workdir",), f"'{workdir}' is relative to the zoo checkout and no zoo root is set; "
                        f"pass --zoo-root DIR or set {ZOO_ROOT_ENV}")
        workdir = zoo_root / workdir
    if not workdir.is_dir():
        raise _fail(where, ("workdir",), f"{workdir} is not a folder; fix workdir or --zoo-root "
                    f"({zoo_root or 'not set'})")
    values = {"cards": cards, "devices": ",".join(str(d) for d in devices), "data": str(data_root.resolve()),
              "output": str(run_dir / "output"), "run_dir": str(run_dir), "seed": seed,
              "zoo_root": str(zoo_root or ""), "workdir": str(workdir), **section["vars"]}
    command = section["command"]
    if isinstance(command, dict):
        if cards not in command:
            raise _fail(where, ("command",), f"no command for {cards} card(s) (given for "
                        f"{', '.join(map(str, sorted(command)))}); add one or use --cards of those")
        command, path = command[cards], ("command", cards)
    else:
        path = ("command",)
    argv = _argv(command, values, where, path)
    program = argv[0]
    if shutil.which(program) is None and not (workdir / program).is_file():
        raise _fail(where, path, f"program '{program}' is neither on PATH nor in {workdir}; fix the command")
    setup = _argv(section["setup"], values, where, ("setup",)) if section["setup"].strip() else None
    spi = section["samples_per_iteration"]
    if isinstance(spi, dict):
        if cards not in spi:
            raise _fail(where, ("samples_per_iteration",), f"no value for {cards} card(s); add one")
        spi = spi[cards]
    try:
        per_card = float(spi.format(**values)) if isinstance(spi, str) else float(spi)
    except ValueError:
        raise _fail(where, ("samples_per_iteration",), f"{spi!r} gives {spi.format(**values)!r}, not a "
                    "number; point it at a numeric var") from None
    env = {str(k): str(v).format(**values) if isinstance(v, str) else str(v) for k, v in section["env"].items()}
    found, keyvalue = rules(section, where)
    cwd = Path(values["output"]) if section["cwd"] == "output" else workdir
    return Planned(argv=argv, setup_argv=setup, cwd=cwd, workdir=workdir, env=env, samples_per_iteration=per_card * cards,
                   rules=found, keyvalue=keyvalue, warmup=section["parse"]["warmup"],
                   timeout=float(section["timeout"]), grace=float(section["grace"]),
                   log_limit_bytes=int(section["log_limit_mb"] * 2**20), zoo_root=zoo_root,
                   data=data_root.resolve(), data_kind=section["data_kind"])


def _argv(template: str, values: dict, where: Where, path: tuple) -> list[str]:
    """The command line with placeholders filled (each value one word, whatever it holds)."""
    quoted = {k: shlex.quote(str(v)) for k, v in values.items()}
    try:
        argv = shlex.split(template.format(**quoted))
    except ValueError as exc:
        raise _fail(where, path, f"cannot split {template!r} into words ({exc}); fix its quotes") from None
    if not argv:
        raise _fail(where, path, "empty command; give the command line")
    return argv
