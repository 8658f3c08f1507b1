"""Score candidate pairs with a trained Splink model; shape them into `gold.pairs` rows."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import sqlglot
from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from splink import Linker
from sqlglot import exp

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


def _conjuncts(node: exp.Expression) -> list[exp.Expression]:
    """The top-level AND terms of `node`, parentheses removed (a parenthesised AND is flattened)."""
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.And):
        return [c for part in (node.this, node.expression) for c in _conjuncts(part)]
    return [node]


def _side_column(node: exp.Expression, side: str) -> str | None:
    if isinstance(node, exp.Column) and node.table.lower() == side and not node.args.get("db"):
        return node.name
    return None


def equi_join_keys(rule: str) -> list[str] | None:
    """The columns a blocking rule requires to be equal on both sides (`l.x = r.x` conjuncts), or
    None when the rule holds no such conjunct or is a disjunction (then it cannot narrow a search).
    The rule is parsed as Spark SQL (sqlglot, which Splink uses too), so quoting, string literals
    and parentheses are read as Spark reads them."""
    keys = set()
    for term in _conjuncts(sqlglot.parse_one(rule, read="spark")):
        if isinstance(term, exp.EQ):
            a, b = term.this, term.expression
            left, right = _side_column(a, "l") or _side_column(b, "l"), _side_column(b, "r") or _side_column(a, "r")
            if left is not None and left == right:
                keys.add(left)
    return sorted(keys) or None


def _rule_key_hashes(df: DataFrame, rule_keys: list[list[str]]) -> DataFrame:
    """(unique_id, rule, h): one row per record and rule whose key columns are all set, h a 64-bit
    hash of the key values."""
    entries = [F.when(~F.greatest(*[F.col(k).isNull() for k in keys], F.lit(False)),
                      F.struct(F.lit(i).alias("rule"), F.xxhash64(*[F.col(k).cast("string") for k in keys]).alias("h")))
               for i, keys in enumerate(rule_keys)]
    return (df.select("unique_id", F.explode(F.array(*entries)).alias("k")).where(F.col("k").isNotNull())
            .select("unique_id", "k.rule", "k.h"))


def existing_candidates(existing: DataFrame, new: DataFrame, rules: list[str], *, broadcast_below: int = 2_000_000,
                        n_new: int | None = None) -> DataFrame:
    """The records of `existing` that some blocking rule could pair with a record of `new`: those
    that share, for at least one rule, all its equi-join key values with a new record. A superset of
    what `predict_between` pairs (extra conditions and hash collisions only let more through), so
    filtering by it changes no pair; it makes the comparisons of an increment follow the batch: the
    lake is read once through the narrow key columns and probed against the batch's keys. With a
    rule that has no equi-join key, every existing record is kept."""
    rule_keys = [equi_join_keys(r) for r in rules]
    if not rules or any(k is None for k in rule_keys):
        logger.info("increment: a blocking rule has no equi-join key; comparing the batch with every record")
        return existing
    new_keys = _rule_key_hashes(new, rule_keys).select("rule", "h").distinct()
    if n_new is not None and n_new * len(rules) <= broadcast_below:
        new_keys = F.broadcast(new_keys)
    key_cols = sorted({k for keys in rule_keys for k in keys})
    hits = (_rule_key_hashes(existing.select("unique_id", *key_cols), rule_keys)
            .join(new_keys, ["rule", "h"], "left_semi").select("unique_id").distinct())
    return existing.join(hits, "unique_id", "left_semi")


def predict_increment(spark, existing: DataFrame, new: DataFrame, settings: dict[str, Any], *,
                      min_probability: float, tf_tables: dict[str, DataFrame],
                      break_lineage_method: str = "parquet", n_new: int | None = None,
                      stats: dict[str, int] | None = None) -> DataFrame:
    """The pairs a batch of `new` records adds to a lake holding `existing` ones: new x existing
    (Splink's `predict_between`) and new x new (`predict_within`), scored with the same model,
    blocking rules and pinned term frequencies as a full run, so that the pairs of a full run over
    existing + new are exactly those of the earlier run plus these. Only the existing records that
    share a blocking key with the batch take part (`existing_candidates`); `stats`, when given,
    receives how many that was."""
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

    rules = [r["blocking_rule"] if isinstance(r, dict) else str(r)
             for r in settings.get("blocking_rules_to_generate_predictions", [])]
    existing = existing_candidates(existing, new, rules, n_new=n_new).persist(StorageLevel.MEMORY_AND_DISK)
    if stats is not None:
        stats["existing_compared"] = existing.count()
    new_tables, old_tables = tables(new, "new"), tables(existing, "old")
    if not new_tables:
        return None
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
