"""The ingest's caches are built uncompressed, and the session's setting comes back afterwards."""

from __future__ import annotations

import pytest
from pyspark.sql import functions as F

from padan.ingest.cache import COMPRESSED, uncompressed_cache


def test_setting_is_off_inside_and_restored_after_even_on_error(spark):
    spark.conf.set(COMPRESSED, "true")
    with uncompressed_cache(spark):
        assert spark.conf.get(COMPRESSED) == "false"
    assert spark.conf.get(COMPRESSED) == "true"
    with pytest.raises(RuntimeError):
        with uncompressed_cache(spark):
            raise RuntimeError("boom")
    assert spark.conf.get(COMPRESSED) == "true"


def test_rows_read_back_from_an_uncompressed_cache_are_the_same(spark):
    df = spark.range(5000).select(F.col("id"), (F.col("id") % 7).cast("string").alias("s"),
                                  F.array(F.lit("a"), F.col("id").cast("string")).alias("arr"))
    want = sorted(df.collect())
    with uncompressed_cache(spark):
        cached = df.persist()
        assert cached.count() == 5000          # built here, uncompressed
    assert sorted(cached.collect()) == want   # read after the block
    cached.unpersist()
