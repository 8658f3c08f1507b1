"""Helpers for the tuning notebooks: one call gives a session, a config and a lake with a sample.

Notebooks stay thin: anything longer than a few lines lives here or in the stage packages.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from padan import config as config_mod
from padan import logs


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
              profile: str = "typical", root: str | None = None) -> Workspace:
    """A Spark session and a lake holding a generated sample (or your env's sources), ingested.

    `root` (default `$PADAN_NB_ROOT` or `./lake/notebooks`) holds the sample's extracts and lake,
    so the notebooks 01-05 share one lake and each can also run alone."""
    from padan.demo import ensure_demo_extracts
    from padan.runs import Ctx, run_ingest
    from padan.spark import spark_from_config

    root = root or os.environ.get("PADAN_NB_ROOT") or "./lake/notebooks"
    data = f"{root}/data"
    cfg = config_mod.load(env=env, overrides={
        "lake": {"root": f"{root}/lake"},
        "sources": {"p3ke": {"path": f"{data}/p3ke"}, "prakerja": {"path": f"{data}/prakerja"}},
        "model": {"training": {"u_max_pairs": 200_000}},
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
    from padan.evaluate.metrics import truth_as_unique_ids

    return truth_as_unique_ids(ws.spark.read.parquet(f"{ws.data_dir}/truth"))


def linker_for(ws: Workspace, settings: dict):
    """A Splink linker over silver.persons with `settings` (for Splink's charts and dashboards)."""
    from padan.model.settings import model_columns_from_settings
    from padan.model.splink_io import make_linker

    persons = ws.lake.read("silver.persons")
    linker, _ = make_linker(ws.spark, persons, settings, model_columns_from_settings(settings), tag="nb")
    return linker


def save_chart(chart, path: str) -> str:
    """Save a Splink chart as a self-contained HTML file."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    chart.save(path) if hasattr(chart, "save") else Path(path).write_text(chart.to_html())
    return path
