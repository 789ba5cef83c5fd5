"""Where a caller's runs, data and zoo file are, and where its messages go.

Every entry point of :mod:`modelzoo.app` takes a :class:`Session`; ``None`` means
``Session()``, whose defaults are the command line's (``$MODELZOO_RUNS`` or ./runs,
``$MODELZOO_DATA_ROOT`` or ./data, ``$MODELZOO_CACHE`` or ~/.cache/modelzoo, the zoo file
that ``--zoo`` would find). The session loads the plugin registry and the zoo file once.
"""

from __future__ import annotations

import copy
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from modelzoo.contract.plugins import Registry, load_registry
from modelzoo.zoo.zoofile import Zoo, find_zoo_file, load_zoo

DATA_ROOT_ENV = "MODELZOO_DATA_ROOT"
RUNS_ENV = "MODELZOO_RUNS"
CACHE_ENV = "MODELZOO_CACHE"


def default_runs_dir() -> Path:
    return Path(os.environ.get(RUNS_ENV, "runs"))


def default_data_root() -> Path:
    return Path(os.environ.get(DATA_ROOT_ENV, "data"))


def default_cache_dir() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "modelzoo"


def print_warning(message: str) -> None:
    print(f"modelzoo: warning: {message}", file=sys.stderr)


def print_progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def print_result(message: str) -> None:
    print(message, flush=True)


@dataclass
class Session:
    """The folders and the zoo file one caller works with.

    ``data_root`` ``None`` is the default root, except that a resumed run keeps the root it
    was started with. ``warn`` gets one line per warning (a plugin that failed to load, a
    skipped record); ``say`` gets progress lines (which run started, where its record is);
    ``show`` gets result lines (a zoo cell's outcome, the table of a release's cells). By
    default warnings and progress go to stderr, results to stdout.
    """

    zoo_file: Optional[str] = None
    runs_dir: Path = field(default_factory=default_runs_dir)
    data_root: Optional[Path] = None
    cache_dir: Path = field(default_factory=default_cache_dir)
    debug: bool = False
    zoo_root: Optional[Path] = None  # the zoo checkout recipes run from (None: $MODELZOO_ZOO_ROOT)
    warn: Callable[[str], None] = print_warning
    say: Callable[[str], None] = print_progress
    show: Callable[[str], None] = print_result

    def __post_init__(self):
        self.runs_dir = Path(self.runs_dir)
        self.cache_dir = Path(self.cache_dir)
        if self.data_root is not None:
            self.data_root = Path(self.data_root)
        self._registry: Optional[Registry] = None
        self._zoo: Optional[Zoo] = None

    def registry(self) -> Registry:
        """The installed model plugins and the zoo file's recipes (loaded once; each load warning
        said once)."""
        if self._registry is None:
            from modelzoo.recipe.declare import recipe_plugins

            self._registry = load_registry(extra_plugins=recipe_plugins(self.zoo()))
            for warning in self._registry.warnings:
                self.warn(warning)
        return self._registry

    def zoo(self) -> Zoo:
        """The zoo file (``zoo_file``, else ``$MODELZOO_ZOO``, ./zoo.yaml, the checkout's)."""
        if self._zoo is None:
            self._zoo = load_zoo(find_zoo_file(self.zoo_file))
        return self._zoo

    def sharing(self, **changes) -> Session:
        """A copy with ``changes`` that shares the loaded registry and zoo file."""
        twin = copy.copy(self)
        for name, value in changes.items():
            if name not in self.__dataclass_fields__:
                raise TypeError(f"Session has no field {name!r}")
            setattr(twin, name, value)
        return twin

    def data_root_or_default(self) -> Path:
        return self.data_root if self.data_root is not None else default_data_root()
