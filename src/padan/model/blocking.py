"""Pair budget before a run: comparisons each prediction blocking rule generates (Splink's counter)."""

from __future__ import annotations

import uuid

from padan.config import ModelConfig
from padan.model.settings import model_columns, untrained_settings
from padan.model.splink_io import spark_api
from padan.tables import PERSONS


def count_comparisons(ctx, model: ModelConfig, sample: float = 1.0) -> list[tuple[str, int]]:
    """(rule, marginal comparisons: pairs this rule adds beyond the earlier rules)."""
    from pyspark.sql import functions as F
    from splink.blocking_analysis import count_comparisons_from_blocking_rules

    persons = ctx.lake.read(PERSONS.name)
    cols = [c for c in model_columns(model) if c != "source_dataset"]
    db_api = spark_api(ctx.spark, ctx.cfg.spark.break_lineage_method)
    sources = sorted(r[0] for r in persons.select("source_dataset").distinct().collect())
    tables = [db_api.register(persons.where(F.col("source_dataset") == s).select(*cols), dataset_display_name=s,
                              table_name=f"__padan_blocking_{s}_{uuid.uuid4().hex[:8]}") for s in sources]
    records = count_comparisons_from_blocking_rules(
        tables, blocking_rules=list(model.blocking_rules), link_type=model.link_type,
        unique_id_column_name="unique_id", source_dataset_column_name="source_dataset",
        record_sample_proportion=sample)
    return [(rule, int(rec["marginal_comparison_count"])) for rule, rec in zip(model.blocking_rules, records)]


__all__ = ["count_comparisons", "untrained_settings"]
