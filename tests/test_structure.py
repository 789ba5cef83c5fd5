"""The house rules the code's shape must keep (docs/WRITING_A_PLUGIN.md, README "Layout").

- no import circles among the modules of modelzoo/, plugins/ and bench/ (every import
  counts, also one inside a function, except under ``if TYPE_CHECKING:``; a package may
  import its own parts: Python imports the package before any of them);
- no module (tests included) takes a ``_private`` name from another of our modules, by import
  or attribute;
- no module over 600 lines.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MAX_LINES = 600


def _source_roots() -> list[tuple[Path, Path]]:
    """(folder on sys.path, folder of our code) pairs."""
    roots = [(REPO, REPO / "modelzoo"), (REPO / "bench", REPO / "bench")]
    for plugin in sorted((REPO / "plugins").iterdir()):
        roots += [(plugin, package) for package in sorted(plugin.iterdir())
                  if (package / "__init__.py").is_file()]
    return roots


def _modules() -> dict[str, Path]:
    found = {}
    for base, folder in _source_roots():
        for path in sorted(folder.rglob("*.py")):
            parts = list(path.relative_to(base).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def _resolve(module: str, level: int, name: str | None) -> str:
    if not level:
        return name or ""
    base = module.split(".") if module in MODULES and _is_package(module) else module.split(".")[:-1]
    base = base[:len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))



def _ours(name: str) -> str | None:
    """The module of ours that importing ``name`` loads (its longest known prefix)."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in MODULES:
            return candidate
        parts.pop()
    return None


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(child) for stmt in node.body for child in ast.walk(stmt)}
    return skipped


def _imports(module: str) -> list[tuple[str, list[str], int]]:
    """(imported module of ours, names taken from it, line) for every import in ``module``."""
    tree = ast.parse(MODULES[module].read_text(), filename=str(MODULES[module]))
    skipped = _type_checking_nodes(tree)
    out = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            out += [(target, [], node.lineno) for alias in node.names if (target := _ours(alias.name))]
        elif isinstance(node, ast.ImportFrom):
            source = _resolve(module, node.level, node.module)
            for alias in node.names:
                target = _ours(f"{source}.{alias.name}") or _ours(source)
                if target:
                    taken = [] if target == f"{source}.{alias.name}" else [alias.name]
                    out.append((target, taken, node.lineno))
        elif (isinstance(node, ast.Call) and ast.unparse(node.func).endswith("import_module") and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            if target := _ours(node.args[0].value):
                out.append((target, [], node.lineno))
    return out


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {name: set() for name in MODULES}
    for module in MODULES:
        for target, _, _ in _imports(module):
            own_part = _is_package(module) and target.startswith(module + ".")
            if target != module and not own_part:
                graph[module].add(target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_walk_sees_the_code_it_guards():
    """The rules below are only as good as the module list and the import reader."""
    assert {"modelzoo.cli.main", "modelzoo.app.running", "modelzoo_facenet.plugin", "modelzoo_classification",
            "machine", "benchpath"} <= set(MODULES)
    assert "modelzoo.app" in _graph()["modelzoo.cli.main"]
    assert "modelzoo.train.launch" in _graph()["modelzoo.app.running"]  # an import inside a function counts


def test_a_cycle_is_found():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles():
    cycles = _cycles(_graph())
    assert not cycles, "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def _private_uses(module: str, path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    found = []
    module_names: dict[str, str] = {}  # local name -> a module of ours
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _ours(alias.name) == alias.name:
                    module_names[alias.asname or alias.name.split(".")[0]] = alias.name
        elif isinstance(node, ast.ImportFrom):
            source = _resolve(module, node.level, node.module)
            for alias in node.names:
                full = f"{source}.{alias.name}"
                if full in MODULES:
                    module_names[alias.asname or alias.name] = full
                elif _ours(source) and alias.name.startswith("_") and not alias.name.startswith("__"):
                    found.append(f"line {node.lineno}: from {source} import {alias.name}")
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in module_names
                and node.attr.startswith("_") and not node.attr.startswith("__")
                and module_names[node.value.id] != module):
            found.append(f"line {node.lineno}: {node.value.id}.{node.attr}")
    for name in module_names.values():
        if name.split(".")[-1].startswith("_") and not name.split(".")[-1].startswith("__"):
            found.append(f"imports the private module {name}")
    return found


def test_no_module_takes_another_modules_private_names():
    uses = {m: u for m, path in MODULES.items() if (u := _private_uses(m, path))}
    assert not uses, "\n".join(f"{m}: {', '.join(u)}" for m, u in uses.items())


def test_no_test_takes_a_private_name_either():
    """Tests pin behaviour through public names: a rename inside a module breaks no test."""
    tests = {"tests." + ".".join(p.relative_to(REPO / "tests").with_suffix("").parts): p
             for p in sorted((REPO / "tests").rglob("*.py"))}
    uses = {m: u for m, path in tests.items() if (u := _private_uses(m, path))}
    assert not uses, "\n".join(f"{m}: {', '.join(u)}" for m, u in uses.items())


def test_a_private_name_taken_is_found(tmp_path):
    path = tmp_path / "user.py"
    path.write_text("from modelzoo.store import records\nfrom modelzoo.store.records import _owner\n"
                    "records._start_clock({})\n")
    assert _private_uses("user", path) == ["line 2: from modelzoo.store.records import _owner",
                                           "line 3: records._start_clock"]


def test_no_module_is_over_the_line_limit():
    long = {path: n for path in MODULES.values() if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert not long, f"split these (rule: {MAX_LINES} lines): " + ", ".join(
        f"{path.relative_to(REPO)} ({n})" for path, n in sorted(long.items()))


def test_every_core_package_is_in_the_distribution():
    """pyproject.toml lists the packages by hand: a new subpackage missing there would be absent
    from a non-editable install."""
    import pytest

    tomllib = pytest.importorskip("tomllib", reason="tomllib is Python 3.11's")
    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    folders = {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "modelzoo").rglob("__init__.py")}
    assert folders == listed
