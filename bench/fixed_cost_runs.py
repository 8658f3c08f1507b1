"""Proposed changes to padan.runs (owned elsewhere during a move), applied by monkeypatching for
bench/fixed_cost.py --proposed-runs, so that they can be measured before they are merged: the
ledger queries answered from `ledger.select` (the process's copy of ops.runs, no Spark job while
the table has not moved) and silver's batch ids memoised per silver.persons version."""

from __future__ import annotations

from padan import ledger, runs
from padan.tables import PERSONS


def silver_batches(ctx) -> list[str]:
    def read(version):
        return sorted(r[0] for r in ctx.lake.read(PERSONS.name, version=version).select("batch_id").distinct().collect())

    return list(ctx.lake.memo(PERSONS.name, "batch_ids", read))


def _first_plan(ctx, key: str) -> dict | None:
    plans = sorted(ledger.select(ctx.lake, stage="plan", batch_id=key), key=lambda r: r["started_at"])
    return plans[0] if plans else None


def link_run_id(ctx, model_version: str) -> str:
    import datetime as dt
    import hashlib
    import json

    key_src = json.dumps({"batches": runs.silver_batches(ctx), "model": model_version,
                          "link": ctx.cfg.link.model_dump(mode="json")}, sort_keys=True)
    key = hashlib.sha256(key_src.encode()).hexdigest()[:16]
    existing = _first_plan(ctx, key)
    if existing:
        return existing["run_id"]
    run_id = f"{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%S}-{key[:8]}"
    with ledger.stage(ctx.lake, run_id, "plan", batch_id=key) as rec:
        rec.model_version = model_version
        rec.message = f"model_version={model_version}"
    return run_id


def _previous_attempt_input_version(ctx, run_id: str, stage: str, table: str) -> int | None:
    for r in ledger.select(ctx.lake, run_id=run_id, stage=stage):
        if r["input_versions"] and table in r["input_versions"]:
            return int(r["input_versions"][table])
    return None


def _newest(ctx, stage: str) -> str | None:
    done = [r for r in ledger.select(ctx.lake, stage=stage, status="succeeded") if r["finished_at"] is not None]
    return max(done, key=lambda r: r["finished_at"])["run_id"] if done else None


def current_run_id(ctx) -> str | None:
    return _newest(ctx, "cluster")


def run_chain(ctx, run_id: str) -> list[str]:
    plans = {r["run_id"]: r for r in ledger.select(ctx.lake, stage="plan")}
    chain, cur = [], run_id
    while cur and cur not in chain:
        chain.append(cur)
        cur = ledger.base_run_of(plans.get(cur))
    return chain[::-1]


def _profile_is_current(ctx, run_id: str) -> bool:
    newest = _newest(ctx, "marts")
    return newest is not None and newest in runs.run_chain(ctx, run_id)


def apply() -> None:
    for fn in (silver_batches, link_run_id, _previous_attempt_input_version, current_run_id, run_chain,
               _profile_is_current):
        setattr(runs, fn.__name__, fn)
