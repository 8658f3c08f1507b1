"""Score candidate pairs with a trained Splink model; shape them into `gold.pairs` rows."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from padan.model.settings import model_columns_from_settings
from padan.model.splink_io import make_linker, spark_api

logger = logging.getLogger(__name__)


def _register_tf(linker, db_api, tf_tables: dict[str, DataFrame] | None) -> None:
    for col, df in (tf_tables or {}).items():
        sdf = db_api.register(df, table_name=f"__padan_tf_{col}_{uuid.uuid4().hex[:8]}")
        linker.table_management.register_term_frequency_lookup(sdf, col)


def _retaining(settings: dict[str, Any]) -> dict[str, Any]:
    return {**settings, "retain_matching_columns": True, "retain_intermediate_calculation_columns": True}


def predict_pairs(spark, persons: DataFrame, settings: dict[str, Any], *, min_probability: float,
                  break_lineage_method: str = "parquet", tf_tables: dict[str, DataFrame] | None = None) -> DataFrame:
    """All candidate pairs from the settings' blocking rules with match_probability >= `min_probability`,
    as Splink returns them (gamma_*, mw_*, mw_tf_adj_* columns kept). The settings' model is
    forced to retain gammas and weights whatever the saved JSON says. `tf_tables` (column ->
    DataFrame(column, tf_column)) are the model's pinned term frequencies."""
    settings = _retaining(settings)
    cols = model_columns_from_settings(settings)
    linker, db_api = make_linker(spark, persons, settings, cols, break_lineage_method=break_lineage_method,
                                 tag="predict")
    _register_tf(linker, db_api, tf_tables)
    scored = linker.inference.predict(threshold_match_probability=min_probability, warning_mode="never")
    return scored.as_spark_dataframe()


def predict_increment(spark, existing: DataFrame, new: DataFrame, settings: dict[str, Any], *,
                      min_probability: float, tf_tables: dict[str, DataFrame],
                      break_lineage_method: str = "parquet") -> DataFrame:
    """The pairs a batch of `new` records adds to a lake holding `existing` ones: new x existing
    (Splink's `predict_between`) and new x new (`predict_within`), scored with the same model,
    blocking rules and pinned term frequencies as a full run, so that the pairs of a full run over
    existing + new are exactly those of the earlier run plus these."""
    settings = _retaining(settings)
    # source_dataset stays a column: with a single table Splink would not add it, and the
    # link_and_dedupe pair ids and gold.pairs need it on both sides.
    cols = ["source_dataset", *[c for c in model_columns_from_settings(settings) if c != "source_dataset"]]
    db_api = spark_api(spark, break_lineage_method)
    tag = uuid.uuid4().hex[:8]

    def tables(df: DataFrame, role: str) -> list:
        srcs = sorted(r[0] for r in df.select("source_dataset").distinct().collect())
        return [db_api.register(df.where(F.col("source_dataset") == s).select(*cols), dataset_display_name=s,
                                table_name=f"__padan_inc_{tag}_{role}_{s}") for s in srcs]

    new_tables, old_tables = tables(new, "new"), tables(existing, "old")
    if not new_tables:
        return None
    from splink import Linker

    linker = Linker(new_tables, settings, log_level=None)
    _register_tf(linker, db_api, tf_tables)
    kw = dict(threshold_match_probability=min_probability, warning_mode="never")
    within = linker.inference.predict_within(new_tables, **kw).as_spark_dataframe()
    if not old_tables:
        return within
    between = linker.inference.predict_between(old_tables, new_tables, **kw).as_spark_dataframe()
    return within.unionByName(between, allowMissingColumns=True)


def to_pairs_rows(scored: DataFrame, settings: dict[str, Any], *, run_id: str, model_version: str) -> DataFrame:
    """Splink's output -> gold.pairs: ids ordered (l < r), gamma and weight of every comparison in maps."""
    names = [c["output_column_name"] for c in settings["comparisons"]]
    gammas = F.create_map(*[x for n in names for x in (F.lit(n), F.col(f"gamma_{n}").cast("int"))])
    weight_cols = []
    for n in names:
        w = F.col(f"mw_{n}")
        if f"mw_tf_adj_{n}" in scored.columns:
            w = w + F.coalesce(F.col(f"mw_tf_adj_{n}"), F.lit(0.0))
        weight_cols.extend([F.lit(n), w.cast("double")])
    weights = F.create_map(*weight_cols)
    swap = F.col("unique_id_l") > F.col("unique_id_r")
    return scored.select(
        F.lit(run_id).alias("run_id"),
        F.lit(model_version).alias("model_version"),
        F.when(swap, F.col("unique_id_r")).otherwise(F.col("unique_id_l")).alias("unique_id_l"),
        F.when(swap, F.col("unique_id_l")).otherwise(F.col("unique_id_r")).alias("unique_id_r"),
        F.when(swap, F.col("source_dataset_r")).otherwise(F.col("source_dataset_l")).alias("source_dataset_l"),
        F.when(swap, F.col("source_dataset_l")).otherwise(F.col("source_dataset_r")).alias("source_dataset_r"),
        F.col("match_weight").cast("double").alias("match_weight"),
        F.col("match_probability").cast("double").alias("match_probability"),
        F.col("match_key").cast("string").alias("match_key"),
        gammas.alias("gammas"),
        weights.alias("weights"),
    )
