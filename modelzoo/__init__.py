"""modelzoo: benchmark runner for a GPU model zoo.

Plugins mark their hook implementations with :data:`hookimpl`; the contract is
:mod:`modelzoo.contract.hookspecs`.
"""

import pluggy

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("modelzoo")
