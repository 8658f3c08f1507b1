"""The one runner every stage goes through, and the run context (`Ctx`) it hands them.

A stage is declared (`Stage`: its name in ops.runs, the tables it reads and writes) beside its code,
and its code is a body that reads, transforms and writes. `run_stage` does the rest, the same way
for every stage:

- skip: a stage that already succeeded for this run id (the same inputs) is not run again unless
  forced; its ledger row stands for the result;
- ledger: one row in ops.runs per attempt, `succeeded` with row counts and the versions of exactly
  the tables the stage declares it writes, or `failed` with a safe message;
- resume: a stage that rebuilds a table from its previous state (cluster) writes a `running` row
  first, with the versions it starts from; a retry after a kill starts from those same versions;
- fault points: `run_steps` runs the stages of a run in order with a fault point after each, so
  tests can kill a run between any two stages (`PADAN_FAULT_AT=<run>:after-<stage>`).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, TypeVar

from pyspark.sql import SparkSession

from padan import ledger
from padan.config import Config
from padan.lake import Lake
from padan.spark import set_checkpoint_dir

logger = logging.getLogger(__name__)

T = TypeVar("T")

BRONZE = "bronze.<source>"      # a source's bronze table, as declared (`Stage.tables` fills in the source)
NO_TABLE = -1                   # an input version meaning "the table did not exist yet"


@dataclass
class Ctx:
    spark: SparkSession
    cfg: Config
    lake: Lake
    force: bool = False
    run_date: str = field(default_factory=lambda: dt.date.today().isoformat())

    @classmethod
    def create(cls, spark: SparkSession, cfg: Config, *, force: bool = False, run_date: str | None = None) -> "Ctx":
        ctx = cls(spark, cfg, Lake.from_config(spark, cfg.lake), force)
        if run_date:
            ctx.run_date = run_date
        if spark.sparkContext.getCheckpointDir() is None:
            set_checkpoint_dir(spark, cfg.lake.checkpoint_path)
        return ctx                      # tables are created by their first write (Lake.read: empty till then)


@dataclass(frozen=True)
class Stage:
    """A stage as declared: what `padan stages` prints and what the runner records."""
    name: str               # the stage's name in ops.runs
    reads: tuple[str, ...]  # tables (and `files:` / `models/` inputs) it reads
    writes: tuple[str, ...]  # tables it writes: its ledger row records exactly their versions
    what: str
    files: tuple[str, ...] = ()    # what it writes besides tables (under the lake root)
    ledger: bool = True     # recorded in ops.runs (every stage but evaluate)
    skip: bool = True       # skipped when it already succeeded for the run id (not the report: cheap, it shows
    #                         what the tables hold now; not plan: it finds its run id by its inputs)
    resumes: tuple[str, ...] = ()  # tables it rebuilds from their previous state: a retry starts from
    #                                the versions its first attempt recorded

    def tables(self, source: str | None = None) -> list[str]:
        """The declared writes as lake table names (`bronze.<source>` with the source filled in)."""
        return [f"bronze.{source}" if t == BRONZE else t for t in self.writes]


def run_stage(ctx: Ctx, stage: Stage, run_id: str, body: Callable[..., T], *,
              done: Callable[[dict], T | None] | None = None, prepare: Callable[[], tuple] | None = None,
              batch_id: str | None = None, source: str | None = None) -> T:
    """Run `stage` of run `run_id`: skip it if it already succeeded, else record it in the ledger
    around `body(rec, *prepare())` and return what the body returns.

    `done(row)` turns the ledger row of an earlier success into the result (None: that row cannot
    stand for one, run again; without `done` the stage always runs). `prepare()` runs after the skip
    check and before the ledger row: what must stop a stage before anything is written (a source's
    contract). `rec` is the ledger row (`ledger.StageRecord`): the body adds row counts and the model
    version; its `input_versions` hold the versions of the tables the stage `resumes` from. `source`
    fills in `bronze.<source>`."""
    if not stage.ledger:
        return body(None, *(prepare() if prepare else ()))
    if stage.skip and done is not None and not ctx.force:
        row = ledger.succeeded(ctx.lake, run_id, stage.name)
        result = done(row) if row is not None else None
        if result is not None:
            logger.info("%s (already succeeded for these inputs; --force redoes it)",
                        ledger.stage_line(run_id, stage.name, "skipped", None, row.get("row_counts") or {}))
            return result
    ready = prepare() if prepare else ()
    start = _start_versions(ctx, stage, run_id)
    with ledger.stage(ctx.lake, run_id, stage.name, batch_id=batch_id, input_versions=start,
                      mark_running=bool(stage.resumes)) as rec:
        result = body(rec, *ready)
        if stage.writes:
            rec.output_versions = ctx.lake.versions(stage.tables(source))
    return result


def row_counts(row: dict) -> dict[str, int]:
    """The result of a stage that returns its row counts, from its ledger row (`done` of run_stage)."""
    return row["row_counts"]


def _start_versions(ctx: Ctx, stage: Stage, run_id: str) -> dict[str, int]:
    """The versions of the tables `stage` resumes from that this attempt starts at: on a retry, the
    ones its first attempt recorded; else the current ones, or NO_TABLE for a table not written yet
    (so a retry after the first attempt created it still starts from nothing)."""
    if not stage.resumes:
        return {}
    recorded: dict[str, int] = {}
    for r in ledger.select(ctx.lake, run_id=run_id, stage=stage.name):
        for table, version in (r["input_versions"] or {}).items():
            recorded.setdefault(table, int(version))
    return {t: recorded[t] if t in recorded else (ctx.lake.version(t) if ctx.lake.exists(t) else NO_TABLE)
            for t in stage.resumes}


Step = tuple[Stage, Callable[[Ctx, Any], None]]


def run_steps(ctx: Ctx, kind: str, steps: Iterable[Step], state: Any) -> None:
    """Run the stages of a run in order, each step reading and filling `state`, with a fault point
    after each (`<kind>:after-<stage>`)."""
    for stage, step in steps:
        step(ctx, state)
        fault_point(f"{kind}:after-{stage.name}")


class FaultInjected(BaseException):
    """Raised by a fault point set with `PADAN_FAULT_AT=raise:<name>` (a BaseException, so no
    `except Exception` handles it, as nothing handles a kill)."""


def fault_point(name: str) -> None:
    """Test hook: `PADAN_FAULT_AT=<name>` ends the process here at once, as a kill would (no
    cleanup, no ledger row), so tests can prove that a rerun repairs a half-done run.
    `PADAN_FAULT_AT=raise:<name>` raises FaultInjected instead, for in-process tests: at a point
    between stages that leaves the lake and the ledger exactly as the exit does (no stage is open,
    so no ledger row is written on the way out)."""
    at = os.environ.get("PADAN_FAULT_AT")
    if at == name:
        logger.error("PADAN_FAULT_AT=%s: exiting abruptly (test hook)", name)
        logging.shutdown()
        os._exit(86)
    if at == f"raise:{name}":
        raise FaultInjected(name)
