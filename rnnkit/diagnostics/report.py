"""The run report (``report.html``) is a training-run artifact written by the trainer; it lives in
rnnkit.train.report. ``rnnkit diagnose report RUN_DIR`` rebuilds it through this module."""

from rnnkit.train.report import report_html, write_report

__all__ = ["report_html", "write_report"]
