"""A full run (`padan pipeline`) and an increment (`padan increment`): their stages in order."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from padan import ledger
from padan.errors import StateError
from padan.model.store import list_versions, resolve_version
from padan.stages.cluster import run_cluster, run_cluster_increment, run_cluster_thresholds
from padan.stages.ingest import IngestResult, plan_batch, run_ingest
from padan.stages.marts import run_marts
from padan.stages.plan import (current_run_id, increment_model_version, increment_run_id, link_run_id,
                               planned_increment)
from padan.stages.predict import run_predict
from padan.stages.runner import Ctx, fault_point
from padan.stages.train import run_train

logger = logging.getLogger(__name__)


@dataclass
class PipelineResult:
    run_id: str
    model_version: str
    ingest: list[IngestResult]
    pairs: int
    cluster: dict[str, int]
    marts: dict[str, int]


def run_pipeline(ctx: Ctx, *, train: bool = False, sources: list[str] | None = None) -> PipelineResult:
    """ingest -> standardise -> (train) -> predict -> cluster -> marts."""
    results = [run_ingest(ctx, s) for s in (sources or sorted(ctx.cfg.sources))]
    if train or not list_versions(ctx.lake):
        version = run_train(ctx)
        if ctx.cfg.link.model_version != "latest" and not train:
            version = resolve_version(ctx.lake, ctx.cfg.link.model_version)
    else:
        version = resolve_version(ctx.lake, ctx.cfg.link.model_version)
    run_id = link_run_id(ctx, version)
    pairs = run_predict(ctx, run_id, version)
    cluster = run_cluster(ctx, run_id)
    run_cluster_thresholds(ctx, run_id)
    marts = run_marts(ctx, run_id)
    return PipelineResult(run_id, version, results, pairs, cluster, marts)


@dataclass
class IncrementResult:
    run_id: str
    base_run_id: str
    model_version: str
    ingest: IngestResult
    pairs: int
    cluster: dict[str, int]
    marts: dict[str, int]
    already_done: bool = False


def run_increment(ctx: Ctx, source: str, *, path: str, batch_id: str | None = None) -> IncrementResult:
    """Add one batch of `source` to the lake: ingest it (mode increment), score it against the
    records already linked and within itself, re-cluster only the persons it touches, refresh the
    marts. Every stage is keyed by the batch, so rerunning the batch changes nothing and a run that
    died half-way resumes where it stopped."""
    if source not in ctx.cfg.sources:
        raise StateError(f"unknown source '{source}'; configured: {sorted(ctx.cfg.sources)}")
    batch_id, _ = plan_batch(ctx, source, path, batch_id)
    if ledger.succeeded(ctx.lake, batch_id, "ingest") is None and current_run_id(ctx) is None:
        raise StateError("no linked state to add a batch to: gold.clusters has never been written; run the full "
                         "pipeline first (`padan pipeline`, or `padan ingest` + `padan link`)")
    version = increment_model_version(ctx)
    planned = None if ctx.force else planned_increment(ctx, batch_id, version)
    already = (planned is not None and ledger.succeeded(ctx.lake, batch_id, "ingest") is not None
               and ledger.succeeded(ctx.lake, planned[0], "marts") is not None)
    if already:
        logger.info("source=%s batch=%s already processed: nothing to do (use --force to redo)", source, batch_id)
    ing = run_ingest(ctx, source, path=path, batch_id=batch_id, mode="increment")
    run_id, base = increment_run_id(ctx, ing.batch_id, version)
    pairs = run_predict(ctx, run_id, version, batch=(source, ing.batch_id))
    fault_point("increment:after-predict")
    cluster = run_cluster_increment(ctx, run_id, source, ing.batch_id)
    marts = run_marts(ctx, run_id, touched_only=True)
    return IncrementResult(run_id, base, version, ing, pairs, cluster, marts, already)
