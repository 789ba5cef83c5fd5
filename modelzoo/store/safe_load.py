"""One home for reading JSON and YAML that a user or another process can write.

Any bytes give a value or one :class:`UnreadableData` (a ValueError) whose message names
the cause, phrased to follow the file's name ("run record X is nested deeper than 64
levels"); never a RecursionError from a ``[[[[...`` file, a UnicodeEncodeError later from a
lone surrogate, a MemoryError from a huge file, or a ValueError from a date like 2020-13-45.
Callers add the file and the fix.
"""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path
from typing import Any

import orjson
import yaml

# Deeper than any file this project writes (records nest 4 levels, zoo.yaml 6), shallow
# enough that every later recursive walk of the value (json.dumps, deepcopy) stays safe.
MAX_DEPTH = 64
# Records with long curves are a few MB; anything this large was not written by modelzoo.
MAX_FILE_BYTES = 256 * 2**20


# For the depth check on a JSON text's bytes: every byte but brackets and quotes, then the
# strings that are left (their brackets are text).
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'[]{}"')
_STRING = re.compile(rb'"[^"]*"')
_BRACES_AS_BRACKETS = bytes.maketrans(b"{}", b"[]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


class UnreadableData(ValueError):
    """The bytes are not usable data; ``str()`` is the reason, e.g. "is not valid JSON (...)"."""

    def __init__(self, reason: str, line: int | None = None):
        super().__init__(reason)
        self.line = line  # 1-based, where known


class YamlAliasRefused(UnreadableData):
    """A YAML alias (``*name``): refused so that no billion laughs expands."""

    def __init__(self, name: str, line: int):
        super().__init__(f"uses a YAML alias (*{name}) at line {line}", line)
        self.name = name


def read_bytes(path: os.PathLike, limit: int = MAX_FILE_BYTES) -> bytes:
    """The file's bytes. OSError as raised (callers name permissions or a missing file);
    UnreadableData when it is not a regular file or larger than ``limit``."""
    path = Path(path)
    if not stat.S_ISREG(path.stat().st_mode):
        raise UnreadableData("is not a regular file")
    with open(path, "rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise UnreadableData(f"is larger than {limit // 2**20} MiB")
    return data


def read_text(path: os.PathLike, limit: int = MAX_FILE_BYTES) -> str:
    """:func:`read_bytes` as text; UnreadableData also when it is not UTF-8."""
    data = read_bytes(path, limit)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnreadableData(f"is not UTF-8 (byte {exc.start})") from None


def json_text(text: str, allow_nan: bool = True) -> Any:
    """The JSON value of ``text``; UnreadableData for anything else. ``allow_nan=False``
    refuses NaN and Infinity (records may hold them: a diverged loss is NaN)."""
    def refuse_constant(name: str):
        raise UnreadableData(f"holds {name}, which is not a JSON number")

    _check_json_depth(text)  # before parsing: json's own recursion never starts
    try:
        value = json.loads(text, parse_constant=None if allow_nan else refuse_constant)
    except json.JSONDecodeError as exc:
        raise UnreadableData(f"is not valid JSON ({exc.msg} at line {exc.lineno})", exc.lineno) from None
    except RecursionError:
        raise UnreadableData(f"is nested deeper than {MAX_DEPTH} levels") from None
    except UnreadableData:
        raise
    except ValueError as exc:  # e.g. an integer past Python's digit limit
        raise UnreadableData(f"is not usable JSON ({_first_line(exc)})") from None
    if _SURROGATE_ESCAPE.search(text):  # rare: only then walk the strings (a walk of 70 MB of curves costs seconds)
        check_value(value)
    return value


def _check_json_depth(text: str) -> None:
    """UnreadableData when ``text`` nests arrays or objects deeper than MAX_DEPTH, counted on
    its brackets outside strings. Bytes, translate and regular expressions do the scan at C
    speed (a few ms for a record with long curves); no recursion."""
    depth = deepest = 0
    for byte in _structure(text.encode("utf-8", "surrogatepass")):
        depth += 1 if byte in b"[{" else -1
        if depth > deepest:
            deepest = depth
            if deepest > MAX_DEPTH:
                raise UnreadableData(f"is nested deeper than {MAX_DEPTH} levels")


def _structure(data: bytes) -> bytes:
    """The brackets of a JSON text outside its strings, in order. Escapes go first: in a
    string a backslash always starts a two-byte escape, so removing ``\\\\`` pairs, then
    ``\\"``, pairs them as a parser does; then every byte but brackets and quotes; then
    empty strings (most keys once their letters are gone) by a plain replace, and only what
    is left by the regular expression (a few strings that hold a bracket)."""
    if b"\\" in data:
        data = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    data = data.translate(None, _NOT_STRUCTURE).replace(b'""', b"")
    return _STRING.sub(b"", data) if b'"' in data else data


def strict_json_file(path: os.PathLike, limit: int = MAX_FILE_BYTES) -> Any:
    """The value of a strict-JSON file this project wrote for itself (the run index), parsed by
    orjson at C speed, with the rules of :func:`json_file`: UnreadableData when it is not a
    regular file, larger than ``limit``, not UTF-8, holds a lone surrogate, NaN or Infinity
    (not JSON), or nests deeper than MAX_DEPTH. orjson stops at 1024 levels by itself, so
    the depth is counted after the parse, on the brackets alone."""
    data = read_bytes(path, limit)
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise UnreadableData(f"is not valid JSON ({exc.msg} at line {exc.lineno})", exc.lineno) from None
    # a parsed text's brackets match, so braces may read as brackets: then each pass strips
    # exactly one level (the innermost pairs) at C speed
    brackets = _structure(data).translate(_BRACES_AS_BRACKETS)
    for _ in range(MAX_DEPTH):
        if not brackets:
            return value
        brackets = brackets.replace(b"[]", b"")
    if brackets:
        raise UnreadableData(f"is nested deeper than {MAX_DEPTH} levels")
    return value


class SafeYamlLoader(yaml.SafeLoader):
    """SafeLoader that refuses aliases (the node tree is never shared) and nesting deeper
    than MAX_DEPTH, before either can cost memory or stack."""

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise YamlAliasRefused(event.anchor, event.start_mark.line + 1)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise UnreadableData(f"is nested deeper than {MAX_DEPTH} levels",
                                     self.peek_event().start_mark.line + 1)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_object(self, node, deep=False):
        try:
            return super().construct_object(node, deep)
        except UnreadableData:
            raise
        except (ValueError, OverflowError, TypeError) as exc:  # the innermost node: its line
            raise UnreadableData(f"holds a value YAML cannot read ({_first_line(exc)})",
                                 node.start_mark.line + 1) from None


def yaml_document(loader: SafeYamlLoader, node: yaml.Node) -> Any:
    """Construct a node composed by ``loader``; UnreadableData for values YAML names but
    Python cannot hold (a date 2020-13-45, an integer of 5000 digits)."""
    try:
        value = loader.construct_document(node)
    except yaml.YAMLError as exc:  # e.g. a mapping as a key
        raise UnreadableData(f"is not usable YAML ({_first_line(exc)})", node.start_mark.line + 1) from None
    check_value(value)
    return value


def yaml_text(text: str) -> Any:
    """The YAML value of ``text`` (one document); UnreadableData for anything else."""
    loader = SafeYamlLoader(text)
    try:
        node = loader.get_single_node()
        return None if node is None else yaml_document(loader, node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise UnreadableData(f"has a YAML syntax error{at}: {getattr(exc, 'problem', None) or _first_line(exc)}",
                             mark.line + 1 if mark else None) from None
    except RecursionError:
        raise UnreadableData(f"is nested deeper than {MAX_DEPTH} levels") from None
    finally:
        loader.dispose()


def json_file(path: os.PathLike, allow_nan: bool = True, limit: int = MAX_FILE_BYTES) -> Any:
    """:func:`read_text` then :func:`json_text`."""
    return json_text(read_text(path, limit), allow_nan=allow_nan)


def json_file_or_none(path: os.PathLike) -> Any:
    """A side file's JSON value (a cache's or a data set's manifest), or None when it is
    missing or unusable: the caller rebuilds or refuses the folder."""
    try:
        return json_file(path)
    except (OSError, UnreadableData):
        return None


def check_value(value: Any) -> None:
    """UnreadableData when ``value`` nests deeper than MAX_DEPTH or holds a string that
    cannot be written as UTF-8 (a lone surrogate from a ``\\ud800`` escape), which would
    crash whoever prints or writes it later. Iterative: no depth costs stack here."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            _check_string(item)
            continue
        if not isinstance(item, (dict, list, tuple)):
            continue
        if depth > MAX_DEPTH:
            raise UnreadableData(f"is nested deeper than {MAX_DEPTH} levels")
        if isinstance(item, dict):
            for key, child in item.items():
                if isinstance(key, str):
                    _check_string(key)
                stack.append((child, depth + 1))
        else:
            stack.extend((child, depth + 1) for child in item)


def _check_string(text: str) -> None:
    if text.isascii():
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise UnreadableData(f"holds a string that is not valid Unicode (a lone surrogate at "
                             f"character {exc.start})") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    # Python's own advice after ';' (set_int_max_str_digits) is no fix for a file
    return text[0].split(";")[0] if text else type(exc).__name__
