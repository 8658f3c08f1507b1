"""Session settings scoped to one ingest: in-memory caches built without column compression, and
whole-stage code generation kept to operators narrow enough for the JVM to compile.

An ingest caches two wide DataFrames once each (the keyed raw rows, read by bronze and by
standardisation; the standardised rows, read by silver, rejects and the quality profile) and reads
each back once or twice. Spark's columnar cache compresses every column when it builds a batch
(`spark.sql.inMemoryColumnarStorage.compressed`): for ~60 text columns that encoding cost about as
much as a third of standardisation itself (200,000 P3KE rows: standardised rows cached 25.5 JVM
CPU-s compressed, 20.5 uncompressed, 17.6 not cached; docs/BENCHMARKS.md), while the cache lives for
seconds. The setting is read when a cache is built (the first action on it), so it is switched off
for the ingest and restored afterwards.

Whole-stage code generation fuses the standardisation's chain of projections (~60 columns, each
the last of several staged selects) into ONE generated Java method: its bytecode passes 16,000
bytes, and HotSpot never JIT-compiles a method above 8,000 bytes (`DontCompileHugeMethods`), so the
standardisation ran in the bytecode interpreter. Spark only splits a projection's expressions into
small methods when the projection is not part of a whole-stage stage. `CODEGEN_MAX_FIELDS`
(`spark.sql.codegen.maxFields`: an operator whose input or output has more fields is left out of
whole-stage code generation) takes the wide projections out of the fused stage; each then runs as
its own generated projection, split into methods the JIT compiles (docs/BENCHMARKS.md, issue 15).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Mapping

from pyspark.sql import SparkSession

COMPRESSED = "spark.sql.inMemoryColumnarStorage.compressed"
MAX_FIELDS = "spark.sql.codegen.maxFields"
CODEGEN_MAX_FIELDS = 40
"""Fields (nested ones included) above which an operator of the ingest is not whole-stage
code-generated (Spark's default: 100). 40 leaves the reads, the lookups' joins and the first
staged selects fused, and takes the wider selects (40-60 columns) out: no generated method of the
standardisation passes 8,000 bytes of bytecode (measured on both sources' contracts)."""


@contextmanager
def scoped_conf(spark: SparkSession, settings: Mapping[str, str]) -> Iterator[None]:
    """The session's SQL `settings` inside the block; each one's previous value (or its absence)
    restored after, also on error."""
    before = {k: spark.conf.get(k, None) for k in settings}
    for k, v in settings.items():
        spark.conf.set(k, v)
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                spark.conf.unset(k)
            else:
                spark.conf.set(k, v)


@contextmanager
def uncompressed_cache(spark: SparkSession) -> Iterator[None]:
    """Build in-memory caches uncompressed inside the block; the session's setting is restored after
    (also on error). Data are unchanged: only the cached batches' encoding differs."""
    with scoped_conf(spark, {COMPRESSED: "false"}):
        yield


@contextmanager
def ingest_conf(spark: SparkSession) -> Iterator[None]:
    """The ingest's settings inside the block (`uncompressed_cache`, and `CODEGEN_MAX_FIELDS`);
    the session's restored after, also on error. Data are unchanged: only how Spark builds the
    cache and the generated code differ."""
    with scoped_conf(spark, {COMPRESSED: "false", MAX_FIELDS: str(CODEGEN_MAX_FIELDS)}):
        yield
