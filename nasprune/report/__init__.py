"""Results a person can read: a study as Markdown, self-contained HTML, PNG plots and a CSV."""

from .collect import TrialRecord, collect, csv_rows, front_of
from .run import ReportConfig, ReportResult, report

__all__ = ["report", "ReportConfig", "ReportResult", "collect", "csv_rows", "front_of", "TrialRecord"]
