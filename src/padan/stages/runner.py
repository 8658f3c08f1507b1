"""The runner every stage goes through: the run context (`Ctx`), skipping a stage that already
succeeded for the same inputs, and the fault points tests use to kill a run between two stages."""

from __future__ import annotations

import datetime as dt
import logging
import os
from dataclasses import dataclass, field

from pyspark.sql import SparkSession

from padan import ledger
from padan.config import Config
from padan.lake import Lake
from padan.spark import set_checkpoint_dir

logger = logging.getLogger(__name__)


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


def skip(ctx: Ctx, run_id: str, stage: str) -> dict | None:
    if ctx.force:
        return None
    done = ledger.succeeded(ctx.lake, run_id, stage)
    if done:
        logger.info("%s (already succeeded for these inputs; --force redoes it)",
                    ledger.stage_line(run_id, stage, "skipped", None, done.get("row_counts") or {}))
    return done


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
