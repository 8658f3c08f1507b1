"""A full run (`padan pipeline`) and an increment (`padan increment`) as lists of stages: each step
runs one declared stage and hands the next what it needs through the run's state (`Run`);
`runner.run_steps` runs them in order with a fault point after each."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from padan import ledger
from padan.errors import StateError
from padan.model.store import list_versions, resolve_version
from padan.stages.cluster import (CLUSTER, CLUSTER_INCREMENT, CLUSTER_THRESHOLDS, run_cluster, run_cluster_increment,
                                  run_cluster_thresholds)
from padan.stages.ingest import INGEST, IngestResult, plan_batch, run_ingest
from padan.stages.marts import MARTS, run_marts
from padan.stages.plan import (PLAN, current_run_id, increment_model_version, increment_run_id, link_run_id,
                               planned_increment)
from padan.stages.predict import PREDICT, run_predict
from padan.stages.report import REPORT, run_report_html
from padan.stages.runner import Ctx, Step, run_steps
from padan.stages.train import TRAIN, run_train

logger = logging.getLogger(__name__)


@dataclass
class Run:
    """What the stages of one run hand each other: its inputs, then each stage's result."""
    sources: list[str]
    train: bool = False                # a full run: train a new model (else only when the lake has none)
    report: bool = False               # a full run: write the HTML report at the end
    path: str | None = None            # an increment: the batch's files
    batch_id: str | None = None        # an increment: the batch
    ingest: list[IngestResult] = field(default_factory=list)
    model_version: str = ""
    run_id: str = ""
    base_run_id: str = ""
    pairs: int = 0
    cluster: dict[str, int] = field(default_factory=dict)
    marts: dict[str, int] = field(default_factory=dict)
    report_path: str | None = None


# ---------------------------------------------------------------- a full run

def _ingest_all(ctx: Ctx, r: Run) -> None:
    r.ingest = [run_ingest(ctx, s) for s in r.sources]


def _train_or_pin(ctx: Ctx, r: Run) -> None:
    """Train with --train or on a lake without a model; the run uses the pinned version unless it
    asked for a new one."""
    if r.train or not list_versions(ctx.lake):
        r.model_version = run_train(ctx)
        if ctx.cfg.link.model_version != "latest" and not r.train:
            r.model_version = resolve_version(ctx.lake, ctx.cfg.link.model_version)
    else:
        r.model_version = resolve_version(ctx.lake, ctx.cfg.link.model_version)


def _plan(ctx: Ctx, r: Run) -> None:
    r.run_id = link_run_id(ctx, r.model_version)


def _predict(ctx: Ctx, r: Run) -> None:
    r.pairs = run_predict(ctx, r.run_id, r.model_version)


def _cluster(ctx: Ctx, r: Run) -> None:
    r.cluster = run_cluster(ctx, r.run_id)


def _cluster_thresholds(ctx: Ctx, r: Run) -> None:
    run_cluster_thresholds(ctx, r.run_id)


def _marts(ctx: Ctx, r: Run) -> None:
    r.marts = run_marts(ctx, r.run_id)


def _report(ctx: Ctx, r: Run) -> None:
    if r.report:
        r.report_path = run_report_html(ctx, r.run_id)


FULL_RUN: tuple[Step, ...] = (
    (INGEST, _ingest_all), (TRAIN, _train_or_pin), (PLAN, _plan), (PREDICT, _predict), (CLUSTER, _cluster),
    (CLUSTER_THRESHOLDS, _cluster_thresholds), (MARTS, _marts), (REPORT, _report))


@dataclass
class PipelineResult:
    run_id: str
    model_version: str
    ingest: list[IngestResult]
    pairs: int
    cluster: dict[str, int]
    marts: dict[str, int]
    report: str | None = None       # the report's path, with `report=True`


def run_pipeline(ctx: Ctx, *, train: bool = False, sources: list[str] | None = None,
                 report: bool = False) -> PipelineResult:
    """ingest -> standardise -> (train) -> plan -> predict -> cluster -> marts (-> report)."""
    r = Run(sources=sources or sorted(ctx.cfg.sources), train=train, report=report)
    run_steps(ctx, "pipeline", FULL_RUN, r)
    return PipelineResult(r.run_id, r.model_version, r.ingest, r.pairs, r.cluster, r.marts, r.report_path)


# ---------------------------------------------------------------- an increment

def _ingest_batch(ctx: Ctx, r: Run) -> None:
    r.ingest = [run_ingest(ctx, r.sources[0], path=r.path, batch_id=r.batch_id, mode="increment")]


def _plan_increment(ctx: Ctx, r: Run) -> None:
    r.run_id, r.base_run_id = increment_run_id(ctx, r.ingest[0].batch_id, r.model_version)


def _predict_batch(ctx: Ctx, r: Run) -> None:
    r.pairs = run_predict(ctx, r.run_id, r.model_version, batch=(r.sources[0], r.ingest[0].batch_id))


def _cluster_batch(ctx: Ctx, r: Run) -> None:
    r.cluster = run_cluster_increment(ctx, r.run_id, r.sources[0], r.ingest[0].batch_id)


def _marts_touched(ctx: Ctx, r: Run) -> None:
    r.marts = run_marts(ctx, r.run_id, touched_only=True)


INCREMENT_RUN: tuple[Step, ...] = (
    (INGEST, _ingest_batch), (PLAN, _plan_increment), (PREDICT, _predict_batch), (CLUSTER_INCREMENT, _cluster_batch),
    (MARTS, _marts_touched))


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
    r = Run(sources=[source], path=path, batch_id=batch_id, model_version=version)
    run_steps(ctx, "increment", INCREMENT_RUN, r)
    return IncrementResult(r.run_id, r.base_run_id, version, r.ingest[0], r.pairs, r.cluster, r.marts, already)
