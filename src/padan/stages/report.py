"""The report stage: the run's self-contained HTML report."""

from __future__ import annotations

from padan import ledger
from padan.report.html import write_run_report
from padan.stages.runner import Ctx


def run_report_html(ctx: Ctx, run_id: str) -> str:
    """Write the run's self-contained HTML report, `<lake>/reports/<run_id>/report.html`; returns its
    path. Always rewritten (cheap): it shows whatever the tables hold now, e.g. a later evaluation."""
    with ledger.stage(ctx.lake, run_id, "report_html") as rec:
        path = write_run_report(ctx, run_id)
        rec.message = f"reports/{run_id}/report.html"
    return path
