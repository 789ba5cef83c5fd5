"""modelzoo: benchmark runner for a GPU model zoo.

Plugins mark their hook implementations with :data:`hookimpl`; the contract is
:mod:`modelzoo.contract.hookspecs`. The application layer (:mod:`modelzoo.app`) is also
reachable from here, loaded on first use so that ``import modelzoo`` stays light::

    import modelzoo
    record = modelzoo.run("facenet", profile="demo", cards=1)
"""

import pluggy

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("modelzoo")

# modelzoo.report is the report package: the report function is modelzoo.app.report
_APP_NAMES = ("Session", "RunRequest", "RunStopped", "UserError", "run", "plan", "sweep", "evaluate", "export",
              "list_models", "prepare", "compare", "zoo_run", "zoo_check", "zoo_status", "zoo_cancel")


def __getattr__(name: str):
    if name in _APP_NAMES:
        from modelzoo import app

        return getattr(app, name)
    raise AttributeError(f"module 'modelzoo' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_APP_NAMES])
