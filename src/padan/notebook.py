"""Helpers for the tuning notebooks: one call gives a session, a config and a lake with a sample.

Notebooks stay thin: anything longer than a few lines lives here or in the stage packages.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from padan import config as config_mod
from padan import logs
from padan.demo import ensure_demo_extracts
from padan.evaluate.metrics import truth_as_unique_ids
from padan.model.settings import model_columns_from_settings
from padan.model.splink_io import make_duckdb_linker, make_linker
from padan.stages import Ctx, run_ingest
from padan.spark import spark_from_config


@dataclass
class Workspace:
    spark: object
    cfg: config_mod.Config
    ctx: object
    data_dir: str

    @property
    def lake(self):
        return self.ctx.lake


def workspace(*, p3ke_rows: int, prakerja_rows: int, env: str | None = None, seed: int = 20241,
              profile: str = "typical", root: str | None = None, u_max_pairs: int = 200_000) -> Workspace:
    """A Spark session and a lake holding a generated sample (or your env's sources), ingested.

    `root` (default `$PADAN_NB_ROOT` or `./lake/notebooks`) holds the sample's extracts and lake,
    so the notebooks 01-05 share one lake and each can also run alone. `u_max_pairs`: the size of
    the random sample of pairs that training estimates u from (a tuning sample of a few thousand
    records has only a few million pairs)."""
    root = root or os.environ.get("PADAN_NB_ROOT") or "./lake/notebooks"
    data = f"{root}/data"
    cfg = config_mod.load(env=env, overrides={
        "lake": {"root": f"{root}/lake"},
        "sources": {"p3ke": {"path": f"{data}/p3ke"}, "prakerja": {"path": f"{data}/prakerja"}},
        "model": {"training": {"u_max_pairs": u_max_pairs}},
    })
    logs.configure_from(cfg.logging)
    spark = spark_from_config(cfg, "padan-notebook")
    Path(root).mkdir(parents=True, exist_ok=True)
    ensure_demo_extracts(spark, data, p3ke_rows=p3ke_rows, prakerja_rows=prakerja_rows, seed=seed, profile=profile)
    ctx = Ctx.create(spark, cfg)
    for source in sorted(cfg.sources):
        run_ingest(ctx, source)
    return Workspace(spark, cfg, ctx, data)


def truth(ws: Workspace):
    """The generated sample's truth as (unique_id, true_id)."""
    return truth_as_unique_ids(ws.spark.read.parquet(f"{ws.data_dir}/truth"))


DUCKDB_MAX_RECORDS = 1_000_000   # linker_for's "auto": Splink on DuckDB up to this many records


def linker_for(ws: Workspace, settings: dict, backend: str = "auto"):
    """A Splink linker over silver.persons with `settings`, for Splink's charts and dashboards.

    `backend`: "duckdb" collects the records to the driver and runs Splink on an in-memory DuckDB
    (seconds on a tuning sample), "spark" runs Splink on this Spark session (for a lake too big
    for the driver, at the price of many small Spark jobs), "auto" picks DuckDB up to
    DUCKDB_MAX_RECORDS records. The pipeline itself never uses this: it scores on Spark."""
    if backend not in ("auto", "duckdb", "spark"):
        raise ValueError(f"backend must be auto, duckdb or spark, not {backend!r}")
    persons = ws.lake.read("silver.persons")
    columns = model_columns_from_settings(settings)
    if backend == "duckdb" or (backend == "auto" and persons.count() <= DUCKDB_MAX_RECORDS):
        linker, _ = make_duckdb_linker(persons, settings, columns)
    else:
        linker, _ = make_linker(ws.spark, persons, settings, columns, tag="nb")
    return linker


def save_chart(chart, path: str) -> str:
    """Save a Splink chart as a self-contained HTML file."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    chart.save(path) if hasattr(chart, "save") else Path(path).write_text(chart.to_html())
    return path
