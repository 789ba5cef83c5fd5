"""``modelzoo report``: Markdown, HTML, JSON and CSV reports rendered from run records.

See :mod:`modelzoo.report.render` for the rules; the entry point is
:func:`render_reports`.
"""

from modelzoo.report.render import (FORMATS, OUTPUT_NAMES, Report, build_report, classify,
                                    csv_columns, markdown_table, render_csv, render_html,
                                    render_json, render_markdown, render_reports)

__all__ = ["FORMATS", "OUTPUT_NAMES", "Report", "build_report", "classify", "csv_columns",
           "markdown_table", "render_csv", "render_html", "render_json", "render_markdown",
           "render_reports"]
