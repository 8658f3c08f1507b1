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
