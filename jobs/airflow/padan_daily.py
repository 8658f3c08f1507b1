"""Airflow DAG `padan_daily`: every day, run padan's increment job on each newly landed batch.

    discover_batches → increment_p3ke → increment_prakerja → report

- `discover_batches` lists, per source, the batch folders under `$PADAN_LANDING/<source>/<batch>/`
  that are ready and not yet done (`padan.schedule.pending_batches`).
- `increment_<source>` (one task per source, in `$PADAN_SOURCES` order) runs the increment job on
  that source's pending batches in name order, one after the other, and stops at the first
  failure; a retry resumes at the failed batch (done batches are skipped). The sources run one
  after the other, so only one job writes the lake at a time.
- `report` runs the report job (`padan report`: marts of the day's state and the HTML run report;
  each increment has already refreshed the marts, so `PADAN_REPORT_CMD=""` may skip it).

Commands come from the environment of the Airflow worker (see `padan.schedule.Settings.from_env`):
`PADAN_INCREMENT_CMD` (default `padan increment`; on a cluster a `spark-submit ... jobs/increment.py
--env cluster` line), `PADAN_REPORT_CMD` (default `padan report`), `PADAN_LANDING`,
`PADAN_STATE_DIR`, `PADAN_READY_MARKER`. Exit codes 2-7 of a job (config, contract, schema,
invariant, model, lake state) fail the task without retries; anything else is retried, e.g.
exit 9, the lake locked by another padan run (a manual one), which wrote nothing.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from pathlib import Path

try:
    from padan import schedule
except ImportError:  # the DAG folder is this repository's jobs/airflow: use the checkout's package
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))
    from padan import schedule

from airflow.sdk import dag, task
from airflow.sdk.exceptions import AirflowFailException

SOURCES = schedule.sources_from(os.environ.get("PADAN_SOURCES"))  # at parse time: the task ids depend on it

DEFAULT_ARGS = {
    "owner": "padan",
    "retries": 2,
    "retry_delay": dt.timedelta(minutes=15),
    "execution_timeout": dt.timedelta(hours=8),
}


def _settings() -> schedule.Settings:
    return schedule.Settings.from_env()


def _fail_fast(exc: schedule.JobFailed) -> Exception:
    """Permanent failures (config, contract, schema, invariant, model, lake state) are not retried."""
    return exc if exc.retryable else AirflowFailException(str(exc))


@dag(
    dag_id="padan_daily",
    description="padan: increment each newly landed batch, then refresh the marts",
    schedule="0 2 * * *",
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["padan"],
    doc_md=__doc__,
)
def padan_daily():
    @task
    def discover_batches() -> dict[str, list[dict[str, str]]]:
        pending = schedule.pending_batches(_settings())
        return {source: [b.as_dict() for b in batches] for source, batches in pending.items()}

    @task
    def increment(pending: dict[str, list[dict[str, str]]], source: str) -> list[dict]:
        batches = [schedule.Batch.from_dict(d) for d in pending.get(source, [])]
        try:
            return schedule.run_batches(_settings(), batches)
        except schedule.JobFailed as exc:
            raise _fail_fast(exc) from None

    @task
    def report() -> None:
        try:
            schedule.run_report(_settings())
        except schedule.JobFailed as exc:
            raise _fail_fast(exc) from None

    pending = discover_batches()
    previous = pending
    for source in SOURCES:
        step = increment.override(task_id=f"increment_{source}")(pending, source)
        previous >> step
        previous = step
    previous >> report()


padan_daily()
