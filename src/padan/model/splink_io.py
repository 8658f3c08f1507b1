"""The one place padan builds Splink linkers over Spark DataFrames."""

from __future__ import annotations

import json
import logging
import re
import uuid
from typing import Any, Sequence

import duckdb
import sqlglot
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from splink import DuckDBAPI, Linker, SparkAPI

logger = logging.getLogger(__name__)


def spark_api(spark: SparkSession, break_lineage_method: str = "parquet"):
    if spark.sparkContext.getCheckpointDir() is None:
        raise RuntimeError("Splink on Spark needs a checkpoint directory: set lake.checkpoint_dir")
    return SparkAPI(spark_session=spark, break_lineage_method=break_lineage_method)


def make_linker(spark: SparkSession, persons: DataFrame, settings: dict[str, Any], columns: Sequence[str], *,
                sources: Sequence[str] | None = None, break_lineage_method: str = "parquet", tag: str = "in"):
    """A Splink Linker over `persons` (silver.persons rows), one input table per source.

    Splink adds `source_dataset` from each table's display name, so the column is dropped from
    the inputs and the source name is the display name.
    """
    db_api = spark_api(spark, break_lineage_method)
    if sources is None:
        sources = sorted(r[0] for r in persons.select("source_dataset").distinct().collect())
    keep = [c for c in columns if c != "source_dataset"]
    tag = f"{tag}_{uuid.uuid4().hex[:8]}"   # registered names must be unique within the Spark session
    tables = []
    for src in sources:
        part = persons.where(F.col("source_dataset") == src).select(*keep)
        tables.append(db_api.register(part, dataset_display_name=src, table_name=f"__padan_{tag}_{src}"))
    if settings.get("link_type") == "dedupe_only" and len(tables) == 1:
        return Linker(tables[0], settings, log_level=None), db_api
    return Linker(tables, settings, log_level=None), db_api


# ---------------------------------------------------------------- Splink on DuckDB, for samples

def duckdb_sql(condition: str) -> str:
    """A Spark SQL comparison condition in DuckDB's dialect (sqlglot), with Splink's function names."""
    out = sqlglot.transpile(condition, read="spark", write="duckdb")[0]
    return re.sub(r"\bJARO_WINKLER\s*\(", "jaro_winkler_similarity(", out, flags=re.IGNORECASE)


def duckdb_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """The same settings with every comparison level's SQL in DuckDB's dialect (blocking rules carry
    `sql_dialect: spark` and Splink translates them itself)."""
    out = json.loads(json.dumps(settings))
    for comp in out["comparisons"]:
        for lvl in comp["comparison_levels"]:
            if lvl["sql_condition"] != "ELSE":
                lvl["sql_condition"] = duckdb_sql(lvl["sql_condition"])
    return out


def make_duckdb_linker(persons: DataFrame, settings: dict[str, Any], columns: Sequence[str], *,
                       sources: Sequence[str] | None = None):
    """A Splink Linker on an in-memory DuckDB over `persons` (collected to the driver as Arrow,
    one table per source): for a sample that fits the driver, Splink's charts and dashboards in
    seconds instead of the hundreds of small Spark jobs its Spark backend runs. Not for the
    pipeline, whose data need not fit one machine."""
    db_api = DuckDBAPI(connection=duckdb.connect())
    if sources is None:
        sources = sorted(r[0] for r in persons.select("source_dataset").distinct().collect())
    keep = [c for c in columns if c != "source_dataset"]
    tables = [db_api.register(persons.where(F.col("source_dataset") == src).select(*keep).toArrow(),
                              dataset_display_name=src) for src in sources]
    settings = duckdb_settings(settings)
    if settings.get("link_type") == "dedupe_only" and len(tables) == 1:
        return Linker(tables[0], settings, log_level=None), db_api
    return Linker(tables, settings, log_level=None), db_api
