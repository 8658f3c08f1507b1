"""The run ledger, `ops.runs`: one row per stage per run, each write replacing its (run_id, stage) slice.

A stage row goes `running` -> `succeeded` | `failed`. A stage that already succeeded for the
same run id (the same inputs) is skipped unless forced, so reruns change nothing and a run that
failed half-way resumes where it stopped.

Writes cost what they must: a row the table does not have yet is a blind append; a stage's end
replaces its own `running` append by one commit that swaps that append's file for the new row's
(`Lake.replace_own_append`, no scan); anything else replaces the row's slice. The table holds one
row per (run, stage) whichever way a row was written.
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator

from pyspark.sql import Row
from pyspark.sql import functions as F

from padan.errors import PadanError
from padan.lake import Lake, slice_of
from padan.tables import RUNS

logger = logging.getLogger(__name__)


@dataclass
class StageRecord:
    run_id: str
    stage: str
    batch_id: str | None = None
    input_versions: dict[str, int] = field(default_factory=dict)
    output_versions: dict[str, int] = field(default_factory=dict)
    row_counts: dict[str, int] = field(default_factory=dict)
    message: str | None = None
    model_version: str | None = None     # the model a train stage made, or a plan/predict stage uses
    base_run_id: str | None = None       # an increment's plan: the run it builds on


def _row_dict(rec: StageRecord, status: str, started: dt.datetime, finished: dt.datetime | None,
              seconds: float | None) -> dict:
    return dict(run_id=rec.run_id, batch_id=rec.batch_id, stage=rec.stage, status=status, started_at=started,
                finished_at=finished, seconds=seconds, input_versions=dict(rec.input_versions),
                output_versions=dict(rec.output_versions), row_counts={k: int(v) for k, v in rec.row_counts.items()},
                message=rec.message, model_version=rec.model_version, base_run_id=rec.base_run_id)


_ROWS = "rows"   # the memo key of ops.runs' rows (Lake.memo)


def rows(lake: Lake) -> list[dict]:
    """Every row of ops.runs as dicts, read once per table version in this process (Lake.memo):
    the stages of a run ask the ledger several times while only this process writes it (the lake
    lock), and each of its own writes updates the copy instead of costing a re-read. ops.runs
    holds one small row per stage per run. Callers must not change the dicts."""
    def read(version: int | None) -> list[dict]:
        if version is None and not lake.exists(RUNS.name):
            return []                           # no ledger yet
        return [r.asDict(recursive=True) for r in lake.read(RUNS.name, version=version).collect()]

    return lake.memo(RUNS.name, _ROWS, read)


def _write(lake: Lake, rec: StageRecord, status: str, started: dt.datetime, finished: dt.datetime | None,
           seconds: float | None, appended: str | None = None) -> str | None:
    """Write the stage's row; returns the tag of the commit when it was a blind append (for the
    `appended` of the same stage's next write), else None."""
    row = _row_dict(rec, status, started, finished, seconds)
    known = lake.memo_peek(RUNS.name, _ROWS)    # the rows as of the newest version, if this process has them
    df = lake.spark.createDataFrame([Row(**row)], schema=RUNS.ddl)
    # One row per (run, stage): a row the table does not have yet is appended; the row this stage
    # appended itself (its `running` row) is replaced by a commit that removes that append's file
    # (no scan), while that append is the newest commit; else the row's slice is replaced
    # (cheaper than a MERGE and as rerunnable).
    key = dict(run_id=rec.run_id, stage=rec.stage)
    absent = known is not None and not any(r["run_id"] == rec.run_id and r["stage"] == rec.stage for r in known[1])
    tag = lake.insert_absent(df, RUNS, read_version=known[0]) if absent else None
    if tag is None and not (appended and lake.replace_own_append(df, RUNS, tag=appended, slice_values=key)):
        lake.overwrite(df, RUNS, replace_where=slice_of(**key), quiet=True)
    if known is not None:
        version, before = known
        after = [r for r in before if not (r["run_id"] == rec.run_id and r["stage"] == rec.stage)] + [row]
        lake.remember(RUNS.name, _ROWS, version, after)
    return tag


def select(lake: Lake, **equals) -> list[dict]:
    """The rows of ops.runs whose columns equal `equals` (copies), from `rows` (no Spark job while
    the table has not moved)."""
    return [copy.deepcopy(r) for r in rows(lake) if all(r.get(k) == v for k, v in equals.items())]


def succeeded(lake: Lake, run_id: str, stage: str) -> dict | None:
    """The ledger row of a succeeded stage of this run, or None."""
    if lake.catalog:    # no free version probe of a catalog table (Lake.memo): ask the table
        if not lake.exists(RUNS.name):
            return None
        found = (lake.read(RUNS.name).where((F.col("run_id") == run_id) & (F.col("stage") == stage)
                                            & (F.col("status") == "succeeded")).limit(1).collect())
        return found[0].asDict(recursive=True) if found else None
    for r in rows(lake):
        if r["run_id"] == run_id and r["stage"] == stage and r["status"] == "succeeded":
            return copy.deepcopy(r)
    return None


def safe_message(exc: BaseException) -> str:
    """A failure message fit for the ledger and logs: padan's own messages carry no personal
    values; other exceptions (Spark's can quote data values) are reduced to their type and class."""
    if isinstance(exc, PadanError):
        return str(exc)[:2000]
    if isinstance(exc, ImportError) and exc.name:     # a module name is not data: say which is missing
        return f"{type(exc).__name__}: no module named {exc.name!r}"
    error_class = getattr(exc, "getCondition", None) or getattr(exc, "getErrorClass", None)
    try:
        cls = error_class() if callable(error_class) else None
    except Exception:
        cls = None
    return f"{type(exc).__name__}" + (f" [{cls}]" if cls else "")


@contextmanager
def stage(lake: Lake, run_id: str, name: str, *, batch_id: str | None = None,
          input_versions: dict[str, int] | None = None, mark_running: bool = False) -> Iterator[StageRecord]:
    """Record a stage: `succeeded` with counts and versions, or `failed` with a safe message.

    With `mark_running`, a `running` row (with `input_versions`) is written first, so that a
    process killed mid-stage leaves behind what a retry needs to reproduce the same result."""
    rec = StageRecord(run_id=run_id, stage=name, batch_id=batch_id, input_versions=dict(input_versions or {}))
    started = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    t0 = time.monotonic()
    appended = _write(lake, rec, "running", started, None, None) if mark_running else None
    try:
        yield rec
    except BaseException as exc:
        rec.message = safe_message(exc)
        seconds = time.monotonic() - t0
        try:
            _write(lake, rec, "failed", started, dt.datetime.now(dt.timezone.utc).replace(tzinfo=None), seconds,
                   appended)
        except Exception:  # the ledger must never hide the original failure
            logger.exception("could not record the failure of stage %s in ops.runs", name)
        logger.error("%s", stage_line(run_id, name, "failed", seconds, rec.row_counts))
        raise
    seconds = time.monotonic() - t0
    _write(lake, rec, "succeeded", started, dt.datetime.now(dt.timezone.utc).replace(tzinfo=None), seconds, appended)
    logger.info("%s", stage_line(run_id, name, "succeeded", seconds, rec.row_counts))


def message_field(message: str | None, key: str) -> str | None:
    """`key` of a `k=v k=v` ledger message: only for stage rows written before ops.runs had the
    typed model_version and base_run_id columns (their message carried them)."""
    for part in (message or "").split():
        k, sep, v = part.partition("=")
        if sep and k == key:
            return v
    return None


def model_version_of(row: dict | None) -> str | None:
    """The model version a ledger row records (typed column; a pre-migration row's message)."""
    if not row:
        return None
    return row.get("model_version") or message_field(row.get("message"), "model_version")


def base_run_of(row: dict | None) -> str | None:
    """The base run an increment's plan row records (typed column; a pre-migration row's message)."""
    if not row:
        return None
    return row.get("base_run_id") or message_field(row.get("message"), "base")


def stage_line(run_id: str, stage: str, status: str, seconds: float | None, rows: dict[str, int]) -> str:
    """The one log line of a stage's end, for schedulers and log search:
    `run=<id> stage=<name> status=<succeeded|failed|skipped> seconds=<s> rows=<k>:<n>,...` (`rows=-`: none)."""
    counts = ",".join(f"{k}:{int(v)}" for k, v in sorted(rows.items()) if v is not None) or "-"
    secs = f"{seconds:.1f}" if seconds is not None else "-"
    return f"run={run_id} stage={stage} status={status} seconds={secs} rows={counts}"
