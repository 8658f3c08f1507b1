"""The plan stage, run identity: the run id of linking the current silver state with a model (the
same inputs find the same run), of an increment adding one batch, and the chain of runs a state was
built by. A new run's plan row (keyed by its inputs in `batch_id`) records its model version and,
for an increment, the run it builds on."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging


from padan import ledger
from padan.errors import StateError
from padan.model.store import resolve_version
from padan.ledger import StageRecord
from padan.stages.runner import Ctx, Stage, run_stage
from padan.tables import PERSONS, RUNS

logger = logging.getLogger(__name__)

PLAN = Stage("plan", (RUNS.name,), (),
             "name the run (or find the one these inputs already have) and the model version it uses", skip=False)


def silver_batches(ctx: Ctx) -> list[str]:
    """silver.persons' batch ids, read once per table version (train and plan both ask)."""
    def read(version):
        return sorted(r[0] for r in ctx.lake.read(PERSONS.name, version=version).select("batch_id").distinct().collect())

    return list(ctx.lake.memo(PERSONS.name, "batch_ids", read))


def link_run_id(ctx: Ctx, model_version: str) -> str:
    """The run id for linking the current silver state with a model: the same inputs give the same
    run id (found in the ledger), new inputs a new, time-ordered one."""
    key_src = json.dumps({"batches": silver_batches(ctx), "model": model_version,
                          "link": ctx.cfg.link.model_dump(mode="json")}, sort_keys=True)
    key = hashlib.sha256(key_src.encode()).hexdigest()[:16]
    existing = sorted(ledger.select(ctx.lake, stage="plan", batch_id=key), key=lambda r: r["started_at"])
    if existing:
        return existing[0]["run_id"]
    run_id = f"{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%S}-{key[:8]}"
    _record_plan(ctx, run_id, key, model_version)
    return run_id


def current_run_id(ctx: Ctx) -> str | None:
    """The run that last wrote gold.clusters (a full link run or an increment), or None."""
    return newest_succeeded(ctx, "cluster")


def newest_succeeded(ctx: Ctx, stage: str) -> str | None:
    """The run whose `stage` succeeded last, or None."""
    done = [r for r in ledger.select(ctx.lake, stage=stage, status="succeeded") if r["finished_at"] is not None]
    return max(done, key=lambda r: r["finished_at"])["run_id"] if done else None


def run_chain(ctx: Ctx, run_id: str) -> list[str]:
    """The full run a state started from and the increments added since, oldest first."""
    plans = {r["run_id"]: r for r in ledger.select(ctx.lake, stage="plan")}
    chain, cur = [], run_id
    while cur and cur not in chain:
        chain.append(cur)
        cur = ledger.base_run_of(plans.get(cur))
    return chain[::-1]


def _increment_key(ctx: Ctx, batch_id: str, model_version: str) -> str:
    key_src = json.dumps({"increment": batch_id, "model": model_version,
                          "link": ctx.cfg.link.model_dump(mode="json")}, sort_keys=True)
    return "inc-" + hashlib.sha256(key_src.encode()).hexdigest()[:16]


def planned_increment(ctx: Ctx, batch_id: str, model_version: str) -> tuple[str, str] | None:
    key = _increment_key(ctx, batch_id, model_version)
    rows = sorted(ledger.select(ctx.lake, stage="plan", batch_id=key), key=lambda r: r["started_at"])
    if not rows:
        return None
    return rows[0]["run_id"], ledger.base_run_of(rows[0]) or ""


def increment_run_id(ctx: Ctx, batch_id: str, model_version: str) -> tuple[str, str]:
    """(run id, base run id) of the increment adding `batch_id`: found in the ledger when this batch
    was planned before (so a rerun is the same run), else a new time-ordered id on top of the
    current run."""
    planned = planned_increment(ctx, batch_id, model_version)
    if planned:
        return planned
    key = _increment_key(ctx, batch_id, model_version)
    base = current_run_id(ctx)
    if base is None:
        raise StateError("no linked state to add a batch to: gold.clusters has never been written; run the full "
                         "pipeline first (`padan pipeline`, or `padan ingest` + `padan link`)")
    run_id = f"{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%S}-{key[4:12]}"
    _record_plan(ctx, run_id, key, model_version, base)
    return run_id, base


def _record_plan(ctx: Ctx, run_id: str, key: str, model_version: str, base: str | None = None) -> None:
    """The plan row of a new run: its inputs' key, its model version and (an increment) its base run."""
    def body(rec: StageRecord) -> None:
        rec.model_version, rec.base_run_id = model_version, base
        rec.message = f"model_version={model_version}" + (f" base={base}" if base else "")

    run_stage(ctx, PLAN, run_id, body, batch_id=key)


def _run_model_version(ctx: Ctx, run_id: str) -> str | None:
    rows = ledger.select(ctx.lake, run_id=run_id, stage="plan")
    return ledger.model_version_of(rows[0]) if rows else None


def increment_model_version(ctx: Ctx) -> str:
    """An increment scores with the model version of the state it adds to, or its pairs would not be
    those a full run gives: with `link.model_version: latest` a model trained since is left for the
    next full `padan link`; a pinned version that differs from the state's is refused."""
    state = current_run_id(ctx)
    state_version = _run_model_version(ctx, state) if state else None
    pinned = ctx.cfg.link.model_version
    if state_version is None:
        return resolve_version(ctx.lake, pinned)
    if pinned != "latest" and pinned != state_version:
        raise StateError(f"link.model_version pins '{pinned}' but the linked state (run {state}) was scored with "
                         f"'{state_version}': an increment scores with the state's model; run a full `padan link` "
                         "to move the state to the new version first")
    newest = resolve_version(ctx.lake, "latest")
    if newest != state_version:
        logger.info("model version %s is newer than the linked state's %s: this increment keeps %s; a full "
                    "`padan link` moves the state to the new version", newest, state_version, state_version)
    return state_version
