"""The tables analysts read open with the Python `deltalake` reader (what pandas and Polars users
have), not only with Spark; and a lake written before gold.clusters had its record key and lost its
deletion vectors is brought in line by its next write, without losing or nulling a row."""

from __future__ import annotations

import deltalake
import pytest
from delta.tables import DeltaTable
from pyspark.sql import functions as F

from padan.lake import Lake
from padan.tables import (CLUSTERS, EVALUATIONS, ID_CHANGES, MODEL_PARAMS, OVERLAP_BY_REGION, PAIRS, PERSON_PROFILE,
                          QUALITY, RUNS, TARGETING)

# What an analyst opens: the gold marts and pairs, the model parameters, the ledger and quality.
ANALYST_TABLES = (CLUSTERS, PERSON_PROFILE, OVERLAP_BY_REGION, TARGETING, PAIRS, ID_CHANGES, MODEL_PARAMS, RUNS,
                  QUALITY, EVALUATIONS)

OLD_CLUSTERS_DDL = ("unique_id STRING, source_dataset STRING, person_id STRING, cluster_size INT, in_p3ke BOOLEAN, "
                    "in_prakerja BOOLEAN, threshold DOUBLE, run_id STRING")


def _old_clusters(spark, path: str, n: int) -> None:
    """gold.clusters as lakes made it before 2026-11-30: no record_key column, deletion vectors on,
    and one MERGE's worth of them in use."""
    rows = [(f"{'p3ke' if i % 3 else 'prakerja'}:K-{i}:x", "p3ke" if i % 3 else "prakerja", f"P{i // 2}", 2,
             True, i % 2 == 0, 0.9, "r0") for i in range(n)]
    spark.createDataFrame(rows, OLD_CLUSTERS_DDL).repartition(3).write.format("delta") \
        .option("delta.enableDeletionVectors", "true").save(path)
    spark.sql(f"UPDATE delta.`{path}` SET run_id = 'r1' WHERE cluster_size = 2 AND unique_id LIKE '%:K-1%'")


@pytest.mark.integration    # whole stages end to end: full suite, not the fast tier
def test_an_older_clusters_table_gains_its_record_key_and_loses_deletion_vectors(spark, tmp_path):
    lake = Lake(spark, str(tmp_path / "lake"))
    path = lake.location(CLUSTERS.name)
    _old_clusters(spark, path, 60)
    features = DeltaTable.forPath(spark, path).detail().first()["tableFeatures"]
    assert "deletionVectors" in features
    with pytest.raises(Exception, match="deletionVectors"):
        deltalake.DeltaTable(path).to_pyarrow_table()       # what analysts met before

    # the read path of a table without the column: null, the declared type
    assert lake.read(CLUSTERS.name).where(F.col("record_key").isNotNull()).count() == 0
    # an increment's MERGE: two records re-clustered, one new
    change = spark.createDataFrame(
        [("p3ke:K-1:x", "p3ke", "K-1:x", "P9", 3, True, True, 0.9, "r2"),
         ("prakerja:K-3:x", "prakerja", "K-3:x", "P9", 3, True, True, 0.9, "r2"),
         ("p3ke:NEW", "p3ke", "NEW", "P9", 3, True, True, 0.9, "r2")], CLUSTERS.ddl)
    m = lake.merge(change, CLUSTERS, ["unique_id"])
    assert m["numTargetRowsInserted"] == 1 and m["numTargetRowsUpdated"] == 2

    opened = deltalake.DeltaTable(path).to_pandas()         # the feature is gone: deltalake opens it
    assert "deletionVectors" not in DeltaTable.forPath(spark, path).detail().first()["tableFeatures"]
    assert len(opened) == 61 and opened.unique_id.is_unique
    # every row, touched or not, carries its source's own key (keys may hold the separator)
    assert (opened.source_dataset + ":" + opened.record_key == opened.unique_id).all()
    assert set(opened.loc[opened.run_id == "r2", "unique_id"]) == {"p3ke:K-1:x", "prakerja:K-3:x", "p3ke:NEW"}
    assert (opened.loc[opened.unique_id == "p3ke:K-10:x", "run_id"] == "r1").all()     # untouched rows keep theirs
    # Spark reads the same rows
    assert sorted(map(tuple, opened[["unique_id", "record_key", "run_id"]].values.tolist())) == sorted(
        tuple(r) for r in lake.read(CLUSTERS.name).select("unique_id", "record_key", "run_id").collect())


def test_new_tables_an_analyst_reads_have_no_reader_locking_features():
    for spec in ANALYST_TABLES:
        assert ("delta.enableDeletionVectors", "true") not in spec.properties, spec.name


@pytest.mark.integration
def test_every_table_an_analyst_reads_opens_with_deltalake(pipeline_run):
    ctx, _, _ = pipeline_run
    present = [spec for spec in ANALYST_TABLES if ctx.lake.exists(spec.name)]
    assert len(present) >= 8
    for spec in present:
        opened = deltalake.DeltaTable(ctx.lake.location(spec.name)).to_pyarrow_table()
        spark_df = ctx.lake.read(spec.name)
        assert opened.num_rows == spark_df.count(), spec.name
        assert set(opened.column_names) == set(spark_df.columns), spec.name
    clusters = deltalake.DeltaTable(ctx.lake.location(CLUSTERS.name)).to_pandas()
    assert len(clusters) > 3000
    assert (clusters.source_dataset + ":" + clusters.record_key == clusters.unique_id).all()
    # DuckDB over the same table (its own delta extension cannot be installed offline; it reads
    # the Arrow dataset deltalake opens)
    import duckdb

    dataset = deltalake.DeltaTable(ctx.lake.location(CLUSTERS.name)).to_pyarrow_dataset()
    persons = duckdb.sql("SELECT count(DISTINCT person_id) FROM dataset").fetchall()[0][0]
    assert persons == ctx.lake.read(CLUSTERS.name).select("person_id").distinct().count()
