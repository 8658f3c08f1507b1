"""`Lake.overwrite` returns the metrics of its own write, also when that write commits nothing.

A regression: a Delta overwrite that adds no file and removes none makes no commit, and the
metrics were read from the newest commit, i.e. from the write before (ingest's row counts from
write metrics then failed the rows-in = standardised + rejected check on a source without rejects;
a predict with no pairs would have recorded the previous run's pair count)."""

from __future__ import annotations

from padan.lake import Lake, slice_of
from padan.tables import REJECTS


def _rows(spark, n: int, source: str):
    return spark.createDataFrame([(source, "b1", "f", i, "k", ["no_name"], "x", "b1") for i in range(n)], REJECTS.ddl)


def test_overwrite_metrics_are_this_writes_own(spark, tmp_path):
    lake = Lake(spark, str(tmp_path / "lake"))
    first = lake.overwrite(_rows(spark, 3, "a"), REJECTS, replace_where=slice_of(source="a"))
    assert first["numOutputRows"] == 3
    # nothing to write, nothing to remove in slice b: no commit; the metrics are not slice a's
    empty = lake.overwrite(_rows(spark, 0, "b"), REJECTS, replace_where=slice_of(source="b"))
    assert empty["numOutputRows"] == 0
    # nothing to write, three rows removed in slice a: a commit without numOutputRows
    removed = lake.overwrite(_rows(spark, 0, "a"), REJECTS, replace_where=slice_of(source="a"))
    assert removed["numOutputRows"] == 0
    assert lake.read(REJECTS.name).count() == 0
    again = lake.overwrite(_rows(spark, 2, "b"), REJECTS, replace_where=slice_of(source="b"))
    assert again["numOutputRows"] == 2


def test_merge_with_a_delete_flag_upserts_and_deletes_in_one_commit(spark, tmp_path):
    from pyspark.sql import functions as F

    from padan.tables import PERSON_PROFILE

    lake = Lake(spark, str(tmp_path / "lake"))
    cols = [f.split()[0] for f in PERSON_PROFILE.ddl.split(", ")]

    def rows(ids, run, gone=False):
        df = spark.createDataFrame([(i, run) for i in ids], "person_id string, run_id string")
        for c in cols:
            if c not in df.columns:
                df = df.withColumn(c, F.lit(None))
        return df.withColumn("_gone", F.lit(gone))

    lake.overwrite(rows(["P1", "P2", "P3"], "r1").drop("_gone"), PERSON_PROFILE)
    before = lake.version(PERSON_PROFILE.name)
    # P1 updated, P4 inserted, P2 deleted, P9 (absent) neither deleted nor inserted.
    m = lake.merge(rows(["P1", "P4"], "r2").unionByName(rows(["P2", "P9"], "r2", gone=True)), PERSON_PROFILE,
                   ["person_id"], delete_flag="_gone")
    assert lake.version(PERSON_PROFILE.name) == before + 1
    assert (m["numTargetRowsUpdated"], m["numTargetRowsInserted"], m["numTargetRowsDeleted"]) == (1, 1, 1)
    got = {(r.person_id, r.run_id) for r in lake.read(PERSON_PROFILE.name).collect()}
    assert got == {("P1", "r2"), ("P3", "r1"), ("P4", "r2")}
    assert "_gone" not in lake.read(PERSON_PROFILE.name).columns
