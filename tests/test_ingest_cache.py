"""The ingest's session settings: caches built uncompressed, wide projections kept out of whole-stage
code generation (no generated method too big to JIT-compile), and the session's settings back afterwards."""

from __future__ import annotations

from pathlib import Path

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


def test_ingest_conf_sets_both_settings_and_restores_the_sessions(spark):
    from padan.ingest.cache import CODEGEN_MAX_FIELDS, MAX_FIELDS, ingest_conf

    spark.conf.set(COMPRESSED, "true")
    spark.conf.set(MAX_FIELDS, "77")
    with pytest.raises(RuntimeError):
        with ingest_conf(spark):
            assert spark.conf.get(COMPRESSED) == "false"
            assert spark.conf.get(MAX_FIELDS) == str(CODEGEN_MAX_FIELDS)
            raise RuntimeError("boom")
    assert (spark.conf.get(COMPRESSED), spark.conf.get(MAX_FIELDS)) == ("true", "77")
    spark.conf.unset(MAX_FIELDS)


@pytest.mark.integration    # compiles the generated code of both sources' standardisation, two paths each
@pytest.mark.parametrize("source", ["p3ke", "prakerja"])
def test_no_generated_method_of_the_standardisation_is_too_big_to_jit_compile(spark, source):
    """Under the ingest's settings, no method Spark generates for the standardisation query (per-row
    and lookup paths) passes 8,000 bytes of bytecode, above which HotSpot leaves a method
    interpreted. (With Spark's default `maxFields` the fused projections made one of ~16,400.)"""
    from tests.test_lookup import _std

    from padan import config
    from padan.ingest.cache import ingest_conf, scoped_conf

    cfg = config.load(env="base", conf_dir=Path(__file__).resolve().parents[1] / "conf")
    debug = spark.sparkContext._jvm.org.apache.spark.sql.execution.debug.package
    # without adaptive execution the prepared plan holds its whole-stage subtrees (and compiles them here)
    with ingest_conf(spark), scoped_conf(spark, {"spark.sql.adaptive.enabled": "false"}):
        for max_values in (0, 1_000_000):
            std, _ = _std(spark, cfg, source, max_values=max_values)
            subtrees = debug.codegenStringSeq(std._jdf.queryExecution().executedPlan())
            sizes = [subtrees.apply(i)._3().maxMethodCodeSize() for i in range(subtrees.size())]
            assert sizes and max(sizes) <= 8000, (max_values, sizes)
