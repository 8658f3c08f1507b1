"""The in-memory caches of one ingest, built without column compression.

An ingest caches two wide DataFrames once each (the keyed raw rows, read by bronze and by
standardisation; the standardised rows, read by silver, rejects and the quality profile) and reads
each back once or twice. Spark's columnar cache compresses every column when it builds a batch
(`spark.sql.inMemoryColumnarStorage.compressed`): for ~60 text columns that encoding cost about as
much as a third of standardisation itself (200,000 P3KE rows: standardised rows cached 25.5 JVM
CPU-s compressed, 20.5 uncompressed, 17.6 not cached; docs/BENCHMARKS.md), while the cache lives for
seconds. The setting is read when a cache is built (the first action on it), so it is switched off
for the ingest and restored afterwards.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from pyspark.sql import SparkSession

COMPRESSED = "spark.sql.inMemoryColumnarStorage.compressed"


@contextmanager
def uncompressed_cache(spark: SparkSession) -> Iterator[None]:
    """Build in-memory caches uncompressed inside the block; the session's setting is restored after
    (also on error). Data are unchanged: only the cached batches' encoding differs."""
    before = spark.conf.get(COMPRESSED, None)
    spark.conf.set(COMPRESSED, "false")
    try:
        yield
    finally:
        if before is None:
            spark.conf.unset(COMPRESSED)
        else:
            spark.conf.set(COMPRESSED, before)
