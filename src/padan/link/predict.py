"""Score candidate pairs with a trained Splink model; shape them into `gold.pairs` rows."""

from __future__ import annotations

import logging
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from padan.model.settings import model_columns_from_settings
from padan.model.splink_io import make_linker

logger = logging.getLogger(__name__)


def predict_pairs(spark, persons: DataFrame, settings: dict[str, Any], *, min_probability: float,
                  break_lineage_method: str = "parquet") -> DataFrame:
    """All candidate pairs from the settings' blocking rules with match_probability >= `min_probability`,
    as Splink returns them (gamma_*, mw_*, mw_tf_adj_* columns kept). The settings' model is
    forced to retain gammas and weights whatever the saved JSON says."""
    settings = {**settings, "retain_matching_columns": True, "retain_intermediate_calculation_columns": True}
    cols = model_columns_from_settings(settings)
    linker, _ = make_linker(spark, persons, settings, cols, break_lineage_method=break_lineage_method, tag="predict")
    scored = linker.inference.predict(threshold_match_probability=min_probability, warning_mode="never")
    return scored.as_spark_dataframe()


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
