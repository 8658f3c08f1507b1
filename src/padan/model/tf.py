"""Term frequencies pinned with a model version (`gold.model_tf`).

Splink's `predict()` derives term frequencies from whatever records it is given, so the same pair
would score differently in a full run and in an increment (or in this month's run and next
month's). padan computes them once, on the records the model is trained on, stores them with the
model version, and registers them for every prediction: a pair's score depends only on the pair and
the model version. Values first seen after training have no frequency and get no adjustment
(Splink's rule for a missing frequency), which is the cautious choice until the next training.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from padan.lake import Lake, slice_of
from padan.tables import MODEL_TF, PERSONS

logger = logging.getLogger(__name__)


def tf_columns(settings: dict[str, Any]) -> list[str]:
    """Columns with a term-frequency adjustment in a settings dict."""
    cols = {lvl["tf_adjustment_column"] for comp in settings["comparisons"] for lvl in comp["comparison_levels"]
            if lvl.get("tf_adjustment_column")}
    return sorted(cols)


def frequencies(persons: DataFrame, column: str) -> DataFrame:
    """(value, tf): each non-null value's share of the non-null values, as Splink computes it."""
    col = F.col(column)
    counts = persons.where(col.isNotNull()).groupBy(col.alias("value")).count()
    total = persons.where(col.isNotNull()).select(F.count("*").alias("total"))
    return counts.crossJoin(F.broadcast(total)).select(F.col("value").cast("string").alias("value"),
                                                       (F.col("count").cast("double") / F.col("total")).alias("tf"))


def save_tf(lake: Lake, version: str, persons: DataFrame, settings: dict[str, Any]) -> dict[str, int]:
    """Write the version's term frequencies (one slice of gold.model_tf). Returns values per column."""
    out: dict[str, int] = {}
    frames = [frequencies(persons, c).select(F.lit(version).alias("model_version"), F.lit(c).alias("column_name"),
                                             "value", "tf") for c in tf_columns(settings)]
    if not frames:
        return out
    df = frames[0]
    for f in frames[1:]:
        df = df.unionByName(f)
    # Counted on the rows as computed, then written from that copy: no read of the table back.
    release_tf(lake)
    df = df.persist(StorageLevel.MEMORY_AND_DISK)
    kept = False
    try:
        for r in df.groupBy("column_name").count().collect():
            out[r["column_name"]] = int(r["count"])
        before = lake.version(MODEL_TF.name)
        lake.overwrite(df, MODEL_TF, replace_where=slice_of(model_version=version), quiet=True)
        # The columns this version now has frequencies for, as load_tf would read them back, and
        # the rows themselves, still cached: while gold.model_tf stays at this write's version, a
        # predict in this process (`padan run`, `padan demo`) takes them from memory instead of
        # reading the new table version back (its snapshot and file listings), and releases them.
        lake.remember(MODEL_TF.name, _columns_key(version), before, frozenset(out))
        lake.remember(MODEL_TF.name, _rows_key(version), before, df)
        kept = lake.memo_peek(MODEL_TF.name, _rows_key(version)) is not None
    finally:
        if not kept:
            df.unpersist()
    return out


def _rows_key(version: str) -> str:
    return f"tf_rows:{version}"


def release_tf(lake: Lake, version: str | None = None) -> None:
    """Drop the cached rows `save_tf` kept for `version` (None: for every version)."""
    keys = [_rows_key(version)] if version is not None else lake.memo_keys(MODEL_TF.name, _rows_key(""))
    for key in keys:
        df = lake.forget(MODEL_TF.name, key)
        if df is not None:
            df.unpersist()


def _columns_key(version: str) -> str:
    return f"tf_columns:{version}"


def stored_columns(lake: Lake, version: str) -> frozenset[str]:
    """The columns `version` has stored term frequencies for (once per gold.model_tf version)."""
    def read(table_version: int | None) -> frozenset[str]:
        if table_version is None and not lake.exists(MODEL_TF.name):
            return frozenset()
        rows = (lake.read(MODEL_TF.name, version=table_version).where(F.col("model_version") == version)
                .select("column_name").distinct().collect())
        return frozenset(r[0] for r in rows)

    return lake.memo(MODEL_TF.name, _columns_key(version), read)


def load_tf(lake: Lake, version: str, settings: dict[str, Any], persons: DataFrame | None = None) -> dict[str, DataFrame]:
    """column -> DataFrame(<column>, tf_<column>) for Splink's `register_term_frequency_lookup`.
    A version saved without frequencies (older lakes) falls back to `persons`, with a warning."""
    if not re.fullmatch(r"[\w.:-]+", version):
        raise ValueError("model version has unexpected characters")
    wanted = tf_columns(settings)
    types = {f.name: f.dataType for f in lake.read(PERSONS.name).schema.fields}
    cached = lake.memo_peek(MODEL_TF.name, _rows_key(version))    # this process's own write, still the newest
    stored = (cached[1] if cached is not None else lake.read(MODEL_TF.name)).where(F.col("model_version") == version)
    have = stored_columns(lake, version)
    out = {}
    for c in wanted:
        if c in have:
            rows = stored.where(F.col("column_name") == c).select("value", "tf")
        elif persons is not None:
            logger.warning("model %s has no stored term frequencies for %s: using the current records'", version, c)
            rows = frequencies(persons, c)
        else:
            raise ValueError(f"model {version} has no term frequencies for column {c}")
        out[c] = rows.select(F.col("value").cast(types.get(c, "string")).alias(c), F.col("tf").alias(f"tf_{c}"))
    return out

