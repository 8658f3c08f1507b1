"""The report stage: the run's self-contained HTML report."""

from __future__ import annotations

from padan.ledger import StageRecord
from padan.report.html import write_run_report
from padan.stages.runner import Ctx, Stage, run_stage
from padan.tables import (CLUSTERS, EVALUATIONS, MODEL_PARAMS, OVERLAP_BY_REGION, PAIRS, PERSONS, QUALITY, REJECTS,
                          RUNS)

REPORT = Stage("report_html", (RUNS.name, QUALITY.name, REJECTS.name, PERSONS.name, PAIRS.name, CLUSTERS.name,
                               MODEL_PARAMS.name, OVERLAP_BY_REGION.name, EVALUATIONS.name), (),
               "the run's self-contained HTML report (aggregates only)", files=("reports/<run_id>/report.html",),
               skip=False)


def run_report_html(ctx: Ctx, run_id: str) -> str:
    """Write the run's self-contained HTML report, `<lake>/reports/<run_id>/report.html`; returns its
    path. Always rewritten (cheap): it shows whatever the tables hold now, e.g. a later evaluation."""

    def body(rec: StageRecord) -> str:
        path = write_run_report(ctx, run_id)
        rec.message = f"reports/{run_id}/report.html"
        return path

    return run_stage(ctx, REPORT, run_id, body)
