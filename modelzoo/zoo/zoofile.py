"""zoo.yaml: which models the zoo runs, their profiles and the published reference results.

    schema_version: 1
    models:
      facenet:
        plugin: modelzoo-facenet        # the distribution expected to provide the model
        default_profile: casia          # optional; else the plugin's default
        profiles:
          casia:                        # overrides on the plugin's profile of the same name
            train: {batch_size: 90}
          casia-triplet:
            extends: casia              # or on another profile
            loss: {name: triplet}
        references:
          - {gpu: BI-V100, cards: 1, sdk: "IXUCA SDK 3.1.0", release: "23.09",
             fps: 216.96, metrics: {lfw_accuracy: 0.989, lfw_accuracy_std: 0.00642},
             source: "DeepSpark zoo README"}

        target: {metric: lfw_accuracy, value: 0.9905, higher_is_better: true}  # convergence target
        tolerances:                     # the release gate's limits (modelzoo compare)
          fps_pct: 5
          metrics: {lfw_accuracy: {abs: 0.005}, loss: {rel_pct: 2}}
    releases:                           # what `modelzoo zoo run` runs and `zoo check` judges
      "23.09":                          # a release id (kept as written: 23.10 stays "23.10")
        description: SDK 3.1 validation # optional
        models:                         # each must be a model of `models:`
          facenet: {profiles: [casia], cards: [1, 8]}            # full schedules
          toy: {profiles: [fast], cards: [1, 2], max_steps: 12}  # capped at 12 steps
        tolerances: {fps_pct: 50}       # optional; wins over models.<m>.tolerances, key by key

A profile may only set keys that exist in the plugin profile it extends, with a value
of the same type; the same holds for ``--set key=value``. Every problem is reported as
``file:line: key.path: problem``.

The file is read strictly: YAML aliases (``*name``) are refused before anything is
expanded (a few hundred bytes of nested aliases would otherwise expand to gigabytes), a
key given twice is an error at any level, and reference entries are type-checked.
"""

from __future__ import annotations

import copy
import difflib
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import yaml

from modelzoo.contract.api import ModelSpec, UserError
from modelzoo.store import safe_load
from modelzoo.zoo.compare import threshold_problem

SCHEMA_VERSION = 1
ZOO_ENV = "MODELZOO_ZOO"
_TOP_KEYS = {"schema_version": True, "models": True, "releases": False}  # key -> required
_MODEL_KEYS = {"plugin": False, "description": False, "default_profile": False,
               "profiles": False, "references": False, "target": False, "tolerances": False,
               "recipe": False,  # recipe: an external command (modelzoo.recipe.schema checks the block)
               "catalogue": False}
_TARGET_KEYS = {"metric": True, "value": True, "higher_is_better": False}
_TOLERANCE_KEYS = {"fps_pct": False, "metrics": False}
_RELEASE_KEYS = {"description": False, "models": True, "tolerances": False}
_RELEASE_MODEL_KEYS = {"profiles": True, "cards": True, "max_steps": False}
# config / time / batch_size: the cells of a configs-layout README (ResNet-50: "FP32",
# "Acc@1=76.02,FPS=330,Time=4d3h,BatchSize=280").
_REFERENCE_KEYS = {"gpu": True, "cards": True, "fps": False, "metrics": False, "sdk": False,
                   "release": False, "source": False, "note": False, "config": False, "time": False,
                   "batch_size": False}


@dataclass
class ZooModel:
    name: str
    plugin: Optional[str] = None
    description: str = ""
    default_profile: Optional[str] = None
    profiles: dict[str, dict] = field(default_factory=dict)
    references: list[dict] = field(default_factory=list)
    target: Optional[dict] = None  # {"metric", "value", "higher_is_better"}: the convergence target
    tolerances: dict = field(default_factory=dict)  # {"fps_pct": x, "metrics": {key: {"abs"|"rel_pct": y}}}
    recipe: Optional[dict] = None  # the ``recipe:`` block as written (see modelzoo.recipe.schema)
    # {"entry": catalogue key, "configs": {profile: README column}}: the zoo catalogue entry it is
    catalogue: Optional[dict] = None


@dataclass
class ReleaseModel:
    """One model's part of a release matrix: every profile on every card count."""
    profiles: list[str]
    cards: list[int]
    max_steps: Optional[int] = None  # None: the profiles' full schedules


@dataclass
class ZooRelease:
    id: str                          # as written in zoo.yaml
    description: str = ""
    models: dict[str, ReleaseModel] = field(default_factory=dict)
    tolerances: dict = field(default_factory=dict)  # like ZooModel.tolerances; wins over the model's


@dataclass
class Zoo:
    path: Optional[Path]
    models: dict[str, ZooModel] = field(default_factory=dict)
    releases: dict[str, ZooRelease] = field(default_factory=dict)
    _lines: dict[tuple, int] = field(default_factory=dict, repr=False)
    _scalars: dict[tuple, str] = field(default_factory=dict, repr=False)  # key path -> the text as written
    _key_texts: dict[tuple, str] = field(default_factory=dict, repr=False)  # key path -> its key as written

    def where(self, key_path: tuple) -> str:
        """``zoo.yaml:12`` for a key path, for error messages (a key not written: its nearest parent's line)."""
        key_path = tuple(key_path)
        line = next((self._lines[key_path[:cut]] for cut in range(len(key_path), -1, -1)
                     if self._lines.get(key_path[:cut])), None)
        name = self.path.name if self.path else "zoo.yaml"
        return f"{self.path or name}:{line}" if line else str(self.path or name)

    def dotted(self, key_path: tuple) -> str:
        """``releases.23.10.models`` for a key path, each key as written (not as YAML read it)."""
        written = tuple(k if isinstance(k, str) else self._key_texts.get(tuple(key_path[:i + 1]), k)
                        for i, k in enumerate(key_path))  # list indices have no key text: they stay [i]
        return _dotted(written)

    def references(self) -> dict[str, list[dict]]:
        return {name: model.references for name, model in self.models.items()}


def find_zoo_file(explicit: Optional[str] = None) -> Optional[Path]:
    """``--zoo``, then ``$MODELZOO_ZOO``, then ./zoo.yaml, then the checkout's zoo.yaml."""
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise UserError(f"zoo file {path} not found; pass an existing file to --zoo")
        return path
    if os.environ.get(ZOO_ENV):
        path = Path(os.environ[ZOO_ENV])
        if not path.is_file():
            raise UserError(f"zoo file {path} (from ${ZOO_ENV}) not found; fix or unset ${ZOO_ENV}")
        return path
    for candidate in (Path.cwd() / "zoo.yaml", Path(__file__).resolve().parents[1] / "zoo.yaml"):
        if candidate.is_file():
            return candidate
    return None


def _key_of(node: yaml.Node):
    if node.tag == "tag:yaml.org,2002:str":
        return node.value
    if isinstance(node, yaml.ScalarNode):
        return safe_load.yaml_text(yaml.serialize(node))
    return ("<complex key>", node.start_mark.line)  # unhashable: construction refuses it


class _Walk:
    """Key path -> 1-based line and scalar text, from the composed (alias-free) node tree;
    a key given twice in one mapping is an error."""

    def __init__(self, where):
        self.where = where
        self.lines: dict[tuple, int] = {}
        self.scalars: dict[tuple, str] = {}
        self.key_texts: dict[tuple, str] = {}

    def node(self, node: yaml.Node, path: tuple = ()) -> None:
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.ScalarNode):
            self.scalars[path] = node.value
        elif isinstance(node, yaml.MappingNode):
            self.mapping(node, path)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self.node(item, path + (index,))

    def mapping(self, node: yaml.MappingNode, path: tuple) -> None:
        first: dict = {}
        for key_node, value_node in node.value:
            key, line = _key_of(key_node), key_node.start_mark.line + 1
            if key in first:
                raise UserError(f"{self.where}:{line}: {_dotted(path + (key,))}: duplicate key "
                                f"(first at line {first[key]}); keep one")
            first[key] = line
            self.lines[path + (key,)] = line
            if isinstance(key_node, yaml.ScalarNode):
                self.key_texts[path + (key,)] = key_node.value
            self.node(value_node, path + (key,))


def _parse(path: Path, text: str) -> tuple[Any, _Walk]:
    """The file's data and its line map, or UserError for syntax, aliases, depth and duplicates."""
    walk = _Walk(path)
    loader = safe_load.SafeYamlLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, walk
        walk.node(node)
        return safe_load.yaml_document(loader, node), walk
    except safe_load.YamlAliasRefused as exc:
        raise UserError(f"{path}:{exc.line}: YAML aliases (*{exc.name}) are not supported; "
                        "write the values out") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UserError(f"{where}: YAML syntax error: {problem}; fix the file") from None
    except safe_load.UnreadableData as exc:
        where = f"{path}:{exc.line}" if exc.line else str(path)
        raise UserError(f"{where}: the zoo file {exc}; fix the file") from None
    except RecursionError:
        raise UserError(f"{path}: nested too deeply to read; flatten the file") from None
    finally:
        loader.dispose()


def load_zoo(path: Optional[Path]) -> Zoo:
    """Read and validate a zoo file (structure only; profiles are checked against plugins later)."""
    if path is None:
        return Zoo(path=None)
    try:
        text = safe_load.read_text(path)
    except OSError as exc:
        raise UserError(f"cannot read zoo file {path}: {exc.strerror}; check the path and permissions") from None
    except safe_load.UnreadableData as exc:
        raise UserError(f"zoo file {path} {exc}; save it as a UTF-8 YAML file") from None
    data, walk = _parse(path, text)
    zoo = Zoo(path=Path(path), _lines=walk.lines, _scalars=walk.scalars, _key_texts=walk.key_texts)
    if not isinstance(data, dict):
        raise UserError(f"{zoo.where(())}: expected a mapping with 'schema_version' and 'models'")
    _check_keys(zoo, data, (), _TOP_KEYS)
    if data["schema_version"] != SCHEMA_VERSION:
        raise UserError(f"{zoo.where(('schema_version',))}: schema_version {data['schema_version']!r} "
                        f"is not supported; this modelzoo reads {SCHEMA_VERSION}")
    models = data["models"] or {}
    if not isinstance(models, dict):
        raise UserError(f"{zoo.where(('models',))}: models: expected a mapping of model names")
    for name, body in models.items():
        zoo.models[name] = _model(zoo, name, body or {})
    releases = data.get("releases") or {}
    if not isinstance(releases, dict):
        raise UserError(f"{zoo.where(('releases',))}: releases: expected a mapping of release ids to matrices")
    for key, body in releases.items():
        release = _release(zoo, key, body)
        if release.id in zoo.releases:  # `23.10:` and `"23.10":` are two YAML keys but one id
            raise UserError(f"{zoo.where(('releases', key))}: releases.{release.id}: release id given twice; "
                            "keep one")
        zoo.releases[release.id] = release
    return zoo


def _model(zoo: Zoo, name: str, body) -> ZooModel:
    key_path = ("models", name)
    if not isinstance(body, dict):
        raise UserError(f"{zoo.where(key_path)}: models.{name}: expected a mapping")
    _check_keys(zoo, body, key_path, _MODEL_KEYS)
    for key in ("plugin", "description", "default_profile"):
        if body.get(key) is not None and not isinstance(body[key], str):
            _fail(zoo, key_path + (key,), "expected a string", body[key])
    profiles = body.get("profiles") or {}
    if not isinstance(profiles, dict) or not all(isinstance(p, dict) or p is None for p in profiles.values()):
        raise UserError(f"{zoo.where(key_path + ('profiles',))}: models.{name}.profiles: "
                        "expected a mapping of profile names to settings")
    for profile, settings in profiles.items():
        parent = (settings or {}).get("extends")
        if parent is not None and not (isinstance(parent, str) and parent):
            _fail(zoo, key_path + ("profiles", profile, "extends"), "expected a profile name", parent)
    references = body.get("references") or []
    if not isinstance(references, list):
        raise UserError(f"{zoo.where(key_path + ('references',))}: models.{name}.references: expected a list")
    return ZooModel(
        name=name, plugin=body.get("plugin"), description=body.get("description") or "",
        default_profile=body.get("default_profile"),
        profiles={k: dict(v or {}) for k, v in profiles.items()},
        references=[_reference(zoo, ref, key_path + ("references", i)) for i, ref in enumerate(references)],
        target=_target(zoo, body.get("target"), key_path + ("target",)),
        catalogue=_catalogue_link(zoo, body.get("catalogue"), key_path + ("catalogue",)),
        tolerances=_tolerances(zoo, body.get("tolerances"), key_path + ("tolerances",)),
        recipe=body.get("recipe"))


# --- Typed entries ----------------------------------------------------------------------

def _fail(zoo: Zoo, key_path: tuple, expected: str, value: Any, hint: str = "") -> None:
    raise UserError(f"{zoo.where(key_path)}: {zoo.dotted(key_path)}: {expected}, got {value!r}{hint}")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _reference(zoo: Zoo, ref, ref_path: tuple) -> dict:
    """One published result, checked; a release or SDK written as a bare number keeps its text."""
    if not isinstance(ref, dict):
        raise UserError(f"{zoo.where(ref_path)}: {zoo.dotted(ref_path)}: expected a mapping")
    _check_keys(zoo, ref, ref_path, _REFERENCE_KEYS)
    ref = {k: v for k, v in ref.items() if v is not None}  # an empty optional key means "not given"
    if not isinstance(ref.get("gpu"), str) or not ref["gpu"].strip():
        _fail(zoo, ref_path + ("gpu",), "expected a non-empty string", ref.get("gpu"))
    cards = ref.get("cards")
    if not isinstance(cards, int) or isinstance(cards, bool) or cards < 1:
        _fail(zoo, ref_path + ("cards",), "expected a positive integer", cards)
    if "fps" in ref and not (_is_number(ref["fps"]) and ref["fps"] > 0):
        _fail(zoo, ref_path + ("fps",), "expected a positive finite number", ref["fps"])
    if "metrics" in ref:
        _check_metric_values(zoo, ref["metrics"], ref_path + ("metrics",))
    for key in ("sdk", "release"):  # `release: 23.10` is a YAML float (23.1): keep what was written
        if _is_number(ref.get(key)):
            ref[key] = zoo._scalars.get(ref_path + (key,), str(ref[key]))
    for key in ("sdk", "release", "source", "note", "config", "time"):
        if key in ref and not isinstance(ref[key], str):
            _fail(zoo, ref_path + (key,), "expected a string", ref[key], " (quote it)")
    batch = ref.get("batch_size")
    if batch is not None and (not isinstance(batch, int) or isinstance(batch, bool) or batch < 1):
        _fail(zoo, ref_path + ("batch_size",), "expected a positive integer", batch)
    return ref


def _check_metric_values(zoo: Zoo, metrics, key_path: tuple) -> None:
    if not isinstance(metrics, dict):
        raise UserError(f"{zoo.where(key_path)}: {zoo.dotted(key_path)}: expected a mapping of metric names "
                        f"to numbers, e.g. {{lfw_accuracy: 0.989}}")
    for key, value in metrics.items():
        if not isinstance(key, str):
            _fail(zoo, key_path + (key,), "expected a metric name", key)
        if not _is_number(value):
            _fail(zoo, key_path + (key,), "expected a finite number", value)


def _target(zoo: Zoo, target, key_path: tuple) -> Optional[dict]:
    if target is None:
        return None
    if not isinstance(target, dict):
        raise UserError(f"{zoo.where(key_path)}: {zoo.dotted(key_path)}: expected "
                        "{metric: KEY, value: NUMBER, higher_is_better: true|false}")
    _check_keys(zoo, target, key_path, _TARGET_KEYS)
    if not isinstance(target["metric"], str) or not target["metric"]:
        _fail(zoo, key_path + ("metric",), "expected a metric key", target["metric"])
    if not _is_number(target["value"]):
        _fail(zoo, key_path + ("value",), "expected a finite number", target["value"])
    higher = target.get("higher_is_better", True)
    if not isinstance(higher, bool):
        _fail(zoo, key_path + ("higher_is_better",), "expected true or false", higher)
    return {"metric": target["metric"], "value": target["value"], "higher_is_better": higher}


def _catalogue_link(zoo: Zoo, link, key_path: tuple) -> Optional[dict]:
    """``catalogue: KEY`` or ``{entry: KEY, configs: {profile: README column}}``."""
    link = {"entry": link} if isinstance(link, str) else link
    if link is None:
        return None
    if not isinstance(link, dict) or not isinstance(link.get("entry"), str) or set(link) - {"entry", "configs"} \
            or not all(isinstance(k, str) and isinstance(v, str) for k, v in (link.get("configs") or {}).items()):
        _fail(zoo, key_path, "expected a catalogue key or {entry: KEY, configs: {PROFILE: COLUMN}}", link)
    return {"entry": link["entry"], "configs": dict(link.get("configs") or {})}


def _tolerances(zoo: Zoo, tolerances, key_path: tuple) -> dict:
    if tolerances is None:
        return {}
    if not isinstance(tolerances, dict):
        raise UserError(f"{zoo.where(key_path)}: {zoo.dotted(key_path)}: expected a mapping with fps_pct "
                        "and/or metrics")
    _check_keys(zoo, tolerances, key_path, _TOLERANCE_KEYS)
    fps = tolerances.get("fps_pct")
    if fps is not None and not (_is_number(fps) and fps >= 0):
        _fail(zoo, key_path + ("fps_pct",), "expected a finite number >= 0", fps)
    metrics = tolerances.get("metrics") or {}
    if not isinstance(metrics, dict):
        raise UserError(f"{zoo.where(key_path + ('metrics',))}: {zoo.dotted(key_path + ('metrics',))}: "
                        "expected a mapping of metric keys to limits")
    for key, limit in metrics.items():
        problem = threshold_problem(limit)
        if problem:
            _fail(zoo, key_path + ("metrics", key), problem, limit)
    # fps_pct 0 is a limit (no drop at all), not an absent one
    return {k: v for k, v in (("fps_pct", fps), ("metrics", metrics)) if v is not None and v != {}}


# --- Releases ---------------------------------------------------------------------------

def _release(zoo: Zoo, key, body) -> ZooRelease:
    """One release matrix, checked: its models exist in ``models:``, card counts are positive."""
    key_path = ("releases", key)
    release_id = zoo._key_texts.get(key_path, str(key))  # `23.10:` is a YAML float: keep the text
    if not release_id.strip():
        _fail(zoo, key_path, "expected a release id", key)
    if not isinstance(body, dict):
        raise UserError(f"{zoo.where(key_path)}: {zoo.dotted(key_path)}: expected a mapping with 'models' "
                        "(and optionally 'description', 'tolerances')")
    _check_keys(zoo, body, key_path, _RELEASE_KEYS)
    description = body.get("description")
    if description is not None and not isinstance(description, str):
        _fail(zoo, key_path + ("description",), "expected a string", description)
    models = body["models"]
    if not isinstance(models, dict) or not models:
        raise UserError(f"{zoo.where(key_path + ('models',))}: {zoo.dotted(key_path + ('models',))}: expected a "
                        "mapping of model names to {profiles: [...], cards: [...]}, at least one")
    matrix = {}
    for name, entry in models.items():
        if name not in zoo.models:
            known = [str(m) for m in zoo.models]
            hint = difflib.get_close_matches(str(name), known, n=1)
            tip = f" (did you mean '{hint[0]}'?)" if hint else f" (models: {', '.join(known) or 'none'})"
            where = key_path + ("models", name)
            raise UserError(f"{zoo.where(where)}: {zoo.dotted(where)}: not a model of models:{tip}; add it "
                            "there or fix the name")
        matrix[name] = _release_model(zoo, entry, key_path + ("models", name))
    return ZooRelease(id=release_id, description=description or "", models=matrix,
                      tolerances=_tolerances(zoo, body.get("tolerances"), key_path + ("tolerances",)))


def _release_model(zoo: Zoo, entry, key_path: tuple) -> ReleaseModel:
    if not isinstance(entry, dict):
        raise UserError(f"{zoo.where(key_path)}: {zoo.dotted(key_path)}: expected "
                        "{profiles: [NAME, ...], cards: [N, ...], max_steps: N (optional)}")
    _check_keys(zoo, entry, key_path, _RELEASE_MODEL_KEYS)
    profiles = entry["profiles"]
    if not isinstance(profiles, list) or not profiles:
        _fail(zoo, key_path + ("profiles",), "expected a non-empty list of profile names", profiles)
    for index, profile in enumerate(profiles):
        if not isinstance(profile, str) or not profile.strip():
            _fail(zoo, key_path + ("profiles", index), "expected a profile name", profile)
    cards = entry["cards"]
    if not isinstance(cards, list) or not cards:
        _fail(zoo, key_path + ("cards",), "expected a non-empty list of card counts", cards)
    for index, count in enumerate(cards):
        if not _is_positive_int(count):
            _fail(zoo, key_path + ("cards", index), "expected a positive integer", count)
    for what, values in (("profiles", profiles), ("cards", cards)):
        twice = sorted({str(v) for v in values if values.count(v) > 1})
        if twice:
            _fail(zoo, key_path + (what,), f"lists {', '.join(twice)} twice; keep one", values)
    max_steps = entry.get("max_steps")
    if max_steps is not None and not _is_positive_int(max_steps):
        _fail(zoo, key_path + ("max_steps",), "expected a positive integer (or leave it out for the full "
              "schedule)", max_steps)
    return ReleaseModel(profiles=list(profiles), cards=list(cards), max_steps=max_steps)


def _is_positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _dotted(key_path: tuple) -> str:
    return ".".join(f"[{k}]" if isinstance(k, int) else str(k) for k in key_path).replace(".[", "[")


def _check_keys(zoo: Zoo, data: dict, key_path: tuple, allowed: dict[str, bool]) -> None:
    for key in data:
        if key not in allowed:
            hint = difflib.get_close_matches(str(key), allowed, n=1)
            tip = f" (did you mean '{hint[0]}'?)" if hint else f" (allowed: {', '.join(allowed)})"
            raise UserError(f"{zoo.where(key_path + (key,))}: {zoo.dotted(key_path + (key,))}: unknown key{tip}")
    for key, required in allowed.items():
        if required and key not in data:
            raise UserError(f"{zoo.where(key_path)}: {zoo.dotted(key_path) or 'top level'}: missing required "
                            f"key '{key}'")


# --- Profiles -------------------------------------------------------------------------

def profile_names(spec: ModelSpec, zoo: Zoo) -> list[str]:
    names = list(spec.profiles)
    zoo_model = zoo.models.get(spec.name)
    if zoo_model:
        names += [p for p in zoo_model.profiles if p not in names]
    return names


def default_profile(spec: ModelSpec, zoo: Zoo) -> str:
    zoo_model = zoo.models.get(spec.name)
    return (zoo_model.default_profile if zoo_model and zoo_model.default_profile else spec.default_profile)


def resolve_profile(spec: ModelSpec, zoo: Zoo, profile: Optional[str]) -> tuple[str, dict]:
    """The fully resolved config of ``profile`` (plugin profile + zoo.yaml overrides)."""
    profile = profile or default_profile(spec, zoo)
    return profile, _resolve(spec, zoo, profile, seen=())


def _resolve(spec: ModelSpec, zoo: Zoo, profile: str, seen: tuple) -> dict:
    if profile in seen:
        raise UserError(f"{zoo.where(('models', spec.name, 'profiles', profile))}: profile '{profile}' "
                        f"extends itself through {' -> '.join(seen + (profile,))}")
    zoo_model = zoo.models.get(spec.name)
    overrides = dict(zoo_model.profiles.get(profile, {})) if zoo_model else {}
    parent = overrides.pop("extends", None)
    if profile not in spec.profiles and (zoo_model is None or profile not in zoo_model.profiles):
        known = ", ".join(profile_names(spec, zoo))
        raise UserError(f"unknown profile '{profile}' for model '{spec.name}'; known profiles: {known}")
    location = ("models", spec.name, "profiles", profile)
    if parent is not None:
        _check_parent(spec, zoo, parent, location + ("extends",))
        base = _resolve(spec, zoo, parent, seen + (profile,))
    elif profile in spec.profiles:
        base = copy.deepcopy(spec.profiles[profile])
    else:
        base = copy.deepcopy(spec.profiles[spec.default_profile])
    _merge_checked(base, overrides, location, lambda path: zoo.where(path))
    return base


def _check_parent(spec: ModelSpec, zoo: Zoo, parent: str, key_path: tuple) -> None:
    """``extends`` must name a profile of the plugin or of zoo.yaml; the error points at it."""
    known = profile_names(spec, zoo)
    if parent not in known:
        hint = difflib.get_close_matches(str(parent), known, n=1)
        tip = f" (did you mean '{hint[0]}'?)" if hint else f" (known profiles: {', '.join(known)})"
        raise UserError(f"{zoo.where(key_path)}: {_dotted(key_path)}: unknown profile '{parent}'{tip}")


def _type_name(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            list: "a list", dict: "a mapping"}.get(type(value), type(value).__name__)


def _coerce(current: Any, new: Any) -> tuple[bool, Any]:
    """Is ``new`` acceptable where ``current`` stands? Ints widen to floats; ``None`` accepts anything."""
    if current is None or new is None:
        return True, new
    if isinstance(current, bool) or isinstance(new, bool):
        return isinstance(current, bool) and isinstance(new, bool), new
    if isinstance(current, float) and isinstance(new, int):
        return True, float(new)
    if isinstance(current, dict) and isinstance(new, dict):
        return True, new
    return isinstance(new, type(current)), new


def _merge_checked(base: dict, overrides: dict, location: tuple, where) -> None:
    for key, value in overrides.items():
        path = location + (key,)
        if key not in base:
            hint = difflib.get_close_matches(str(key), [str(k) for k in base], n=1)
            tip = f" (did you mean '{hint[0]}'?)" if hint else f" (known: {', '.join(map(str, base))})"
            raise UserError(f"{where(path)}: {_dotted(path)}: unknown key{tip}")
        current = base[key]
        if isinstance(current, dict) and isinstance(value, dict) and _is_section(current):
            _merge_checked(current, value, path, where)
            continue
        ok, value = _coerce(current, value)
        if not ok:
            raise UserError(f"{where(path)}: {_dotted(path)}: expected {_type_name(current)}, got "
                            f"{value!r}")
        base[key] = value


def _is_section(value: dict) -> bool:
    """A nested settings section (string keys), as opposed to a table such as an LR schedule."""
    return all(isinstance(k, str) for k in value)


def apply_sets(config: dict, assignments: list[str]) -> dict:
    """Apply ``--set a.b=value`` (value parsed as YAML) with the same key and type checks."""
    values = {}
    for assignment in assignments:
        key, sep, raw = assignment.partition("=")
        if not sep or not key:
            raise UserError(f"--set {assignment!r}: expected key=value, e.g. --set train.batch_size=64")
        values[key.strip()] = set_value(raw)
    return apply_values(config, values)


def set_value(raw: str) -> Any:
    """A ``--set`` (or swept) value as YAML reads it ("2" is the integer 2); text that is not
    YAML, or nothing Python holds, stays the text as given."""
    try:
        return safe_load.yaml_text(raw) if raw.strip() else ""
    except safe_load.UnreadableData:
        return raw


def apply_values(config: dict, values: dict[str, Any]) -> dict:
    """Apply ``{"train.batch_size": 64, ...}`` (dotted keys, typed values) with the profile's
    key and type checks; returns what was applied."""
    for key, value in values.items():
        nested: Any = value
        for part in reversed(key.split(".")):
            nested = {part: nested}
        _merge_checked(config, nested, (), lambda path, k=key: f"--set {k}")
    return dict(values)
