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

A profile may only set keys that exist in the plugin profile it extends, with a value
of the same type; the same holds for ``--set key=value``. Every problem is reported as
``file:line: key.path: problem``.
"""

from __future__ import annotations

import copy
import difflib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import yaml

from modelzoo.api import ModelSpec, UserError

SCHEMA_VERSION = 1
ZOO_ENV = "MODELZOO_ZOO"
_TOP_KEYS = {"schema_version": True, "models": True}  # key -> required
_MODEL_KEYS = {"plugin": False, "description": False, "default_profile": False,
               "profiles": False, "references": False}
_REFERENCE_KEYS = {"gpu": True, "cards": True, "fps": False, "metrics": False, "sdk": False,
                   "release": False, "source": False, "note": False}


@dataclass
class ZooModel:
    name: str
    plugin: Optional[str] = None
    description: str = ""
    default_profile: Optional[str] = None
    profiles: dict[str, dict] = field(default_factory=dict)
    references: list[dict] = field(default_factory=list)


@dataclass
class Zoo:
    path: Optional[Path]
    models: dict[str, ZooModel] = field(default_factory=dict)
    _lines: dict[tuple, int] = field(default_factory=dict, repr=False)

    def where(self, key_path: tuple) -> str:
        """``zoo.yaml:12`` for a key path, for error messages."""
        line = self._lines.get(tuple(key_path))
        name = self.path.name if self.path else "zoo.yaml"
        return f"{self.path or name}:{line}" if line else str(self.path or name)

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


def _line_map(node: yaml.Node, path: tuple = (), out: Optional[dict] = None) -> dict[tuple, int]:
    """Key path -> 1-based line, from the composed YAML node tree."""
    out = {} if out is None else out
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = yaml.safe_load(yaml.serialize(key_node)) if key_node.tag != "tag:yaml.org,2002:str" else key_node.value
            out[path + (key,)] = key_node.start_mark.line + 1
            _line_map(value_node, path + (key,), out)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _line_map(item, path + (index,), out)
    return out


def load_zoo(path: Optional[Path]) -> Zoo:
    """Read and validate a zoo file (structure only; profiles are checked against plugins later)."""
    if path is None:
        return Zoo(path=None)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot read zoo file {path}: {exc.strerror}; check the path and permissions") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UserError(f"{where}: YAML syntax error: {problem}; fix the file") from None
    zoo = Zoo(path=Path(path), _lines=_line_map(node) if node is not None else {})
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
        key_path = ("models", name)
        body = body or {}
        if not isinstance(body, dict):
            raise UserError(f"{zoo.where(key_path)}: models.{name}: expected a mapping")
        _check_keys(zoo, body, key_path, _MODEL_KEYS)
        profiles = body.get("profiles") or {}
        if not isinstance(profiles, dict) or not all(isinstance(p, dict) or p is None for p in profiles.values()):
            raise UserError(f"{zoo.where(key_path + ('profiles',))}: models.{name}.profiles: "
                            "expected a mapping of profile names to settings")
        references = body.get("references") or []
        if not isinstance(references, list):
            raise UserError(f"{zoo.where(key_path + ('references',))}: models.{name}.references: expected a list")
        for index, ref in enumerate(references):
            ref_path = key_path + ("references", index)
            if not isinstance(ref, dict):
                raise UserError(f"{zoo.where(ref_path)}: models.{name}.references[{index}]: expected a mapping")
            _check_keys(zoo, ref, ref_path, _REFERENCE_KEYS)
        zoo.models[name] = ZooModel(
            name=name, plugin=body.get("plugin"), description=body.get("description") or "",
            default_profile=body.get("default_profile"),
            profiles={k: dict(v or {}) for k, v in profiles.items()}, references=references)
    return zoo


def _dotted(key_path: tuple) -> str:
    return ".".join(f"[{k}]" if isinstance(k, int) else str(k) for k in key_path).replace(".[", "[")


def _check_keys(zoo: Zoo, data: dict, key_path: tuple, allowed: dict[str, bool]) -> None:
    for key in data:
        if key not in allowed:
            hint = difflib.get_close_matches(str(key), allowed, n=1)
            tip = f" (did you mean '{hint[0]}'?)" if hint else f" (allowed: {', '.join(allowed)})"
            raise UserError(f"{zoo.where(key_path + (key,))}: {_dotted(key_path + (key,))}: unknown key{tip}")
    for key, required in allowed.items():
        if required and key not in data:
            raise UserError(f"{zoo.where(key_path)}: {_dotted(key_path) or 'top level'}: missing required "
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
    if parent is not None:
        base = _resolve(spec, zoo, parent, seen + (profile,))
    elif profile in spec.profiles:
        base = copy.deepcopy(spec.profiles[profile])
    else:
        base = copy.deepcopy(spec.profiles[spec.default_profile])
    location = ("models", spec.name, "profiles", profile)
    _merge_checked(base, overrides, location, lambda path: zoo.where(path))
    return base


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
    applied = {}
    for assignment in assignments:
        key, sep, raw = assignment.partition("=")
        if not sep or not key:
            raise UserError(f"--set {assignment!r}: expected key=value, e.g. --set train.batch_size=64")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        parts = key.strip().split(".")
        nested: Any = value
        for part in reversed(parts):
            nested = {part: nested}
        _merge_checked(config, nested, (), lambda path, k=key: f"--set {k}")
        applied[key.strip()] = value
    return applied
