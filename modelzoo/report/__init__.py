"""``modelzoo report``: Markdown, HTML, JSON and CSV reports rendered from run records.

The entry point is :func:`render_reports` (:mod:`modelzoo.report.render`); the rules are
in :mod:`modelzoo.report.model` and :mod:`modelzoo.report.rules`.
"""

from modelzoo.report.html import render_html
from modelzoo.report.model import build_report
from modelzoo.report.render import FORMATS, OUTPUT_NAMES, render_reports
from modelzoo.report.rules import classify
from modelzoo.report.sections import Report
from modelzoo.report.writers import csv_columns, render_csv, render_json, render_markdown

__all__ = ["FORMATS", "OUTPUT_NAMES", "Report", "build_report", "classify", "csv_columns",
           "render_csv", "render_html", "render_json", "render_markdown", "render_reports"]
