"""Moved: the stage runners are in `padan.stages` (one module per stage). These names stay here only
until every import has moved."""

from __future__ import annotations

from padan.stages.cluster import run_cluster, run_cluster_increment, run_cluster_thresholds  # noqa: F401
from padan.stages.evaluate import run_evaluate  # noqa: F401
from padan.stages.ingest import IngestResult, plan_batch, run_ingest  # noqa: F401
from padan.stages.marts import run_marts  # noqa: F401
from padan.stages.pipeline import IncrementResult, PipelineResult, run_increment, run_pipeline  # noqa: F401
from padan.stages.plan import current_run_id, increment_run_id, link_run_id, run_chain, silver_batches  # noqa: F401
from padan.stages.predict import run_predict  # noqa: F401
from padan.stages.report import run_report_html  # noqa: F401
from padan.stages.runner import Ctx, FaultInjected  # noqa: F401
from padan.stages.train import run_train  # noqa: F401
