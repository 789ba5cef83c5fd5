"""modelzoo's application layer: what the command line does, as functions.

The ``modelzoo`` command only parses its arguments, calls these and prints; a notebook or a
CI script calls them directly::

    from modelzoo import app

    session = app.Session(runs_dir="runs", data_root="data")
    record = app.run("facenet", profile="demo", session=session)      # modelzoo run
    report = app.report(session, output="reports")                   # modelzoo report
    verdict = app.compare(base_id, record["run_id"], session=session)  # modelzoo compare
    summary = app.zoo_run("face-cpu-smoke", session=session)          # modelzoo zoo run

Errors meant for a person are :class:`UserError` (one line naming the cause and the fix).
Importing this package imports no torch; a run imports the trainer when it starts.
"""

from modelzoo.app.catalog import Catalog, add_prepare_options, list_models, prepare
from modelzoo.app.releases import zoo_cancel, zoo_check, zoo_check_baseline, zoo_run, zoo_status
from modelzoo.app.results import REPORT_FORMATS, Report, compare, report
from modelzoo.app.running import (
    RunPlan,
    RunRequest,
    RunStopped,
    SweepResult,
    plan,
    plan_request,
    run,
    run_request,
    sweep,
)
from modelzoo.app.session import Session
from modelzoo.app.weights import evaluate, export
from modelzoo.app.zoo_catalogue import catalogue, list_all, zoo_import, zoo_lint, zoo_writeback
from modelzoo.contract.api import UserError

__all__ = [
    "REPORT_FORMATS", "Catalog", "Report", "RunPlan", "RunRequest", "RunStopped", "Session", "SweepResult",
    "UserError", "add_prepare_options", "compare", "evaluate", "export", "list_models", "plan", "prepare",
    "plan_request", "report", "run", "run_request", "sweep", "zoo_cancel", "zoo_check", "zoo_check_baseline",
    "zoo_run", "zoo_status", "catalogue", "list_all", "zoo_import", "zoo_lint", "zoo_writeback",
]
