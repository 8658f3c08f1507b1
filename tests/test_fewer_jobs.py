"""Folded queries of train and the report (issue 16): one query over several sets of pairs gives
each set's pattern counts exactly as a query per set; the report's driver-side rounding and time
formatting of ledger rows equal Spark's `round(x, 1)` and `date_format` in the session's UTC."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from pyspark.sql import functions as F

pytestmark = pytest.mark.integration


def _frame(spark, rows):
    return spark.createDataFrame(rows, "gamma_a INT, gamma_b INT")


def test_pattern_counts_by_set_equal_one_query_per_set(spark):
    from padan.model.patterns import pattern_counts, pattern_counts_by_set

    rng = np.random.default_rng(3)
    sets = [[(int(a) if a < 3 else None, int(b)) for a, b in rng.integers(0, 4, size=(n, 2))] for n in (40, 7, 1)]
    frames = [_frame(spark, rows) for rows in sets]
    rows_only = spark.range(13).select(F.lit(1).alias("x"))     # no gamma columns: a row count
    got = pattern_counts_by_set([frames[0], None, rows_only, frames[1], frames[2]], ["a", "b"])
    assert len(got) == 5
    for pc, frame in zip([got[0], got[3], got[4]], frames):
        one = pattern_counts(frame, ["a", "b"])
        assert pc.names == one.names == ["a", "b"]
        assert np.array_equal(pc.gammas, one.gammas) and np.array_equal(pc.counts, one.counts)
        assert pc.counts.sum() == frame.count()
    assert len(got[1].counts) == 0
    assert got[2].gammas.tolist() == [[-99, -99]] and got[2].counts.tolist() == [13.0]
    # canonical order: ascending gamma patterns (null as -99 first)
    assert got[0].gammas.tolist() == sorted(got[0].gammas.tolist())


def test_tagged_sets_count_as_their_separate_sets(spark):
    """A TaggedSets (several sets in one frame, a tag column) gives each set the counts it gets as
    a frame of its own, in tag order, between the sets around it."""
    from padan.model.patterns import TaggedSets, pattern_counts, pattern_counts_by_set

    rng = np.random.default_rng(5)
    sets = [[(int(a) if a < 3 else None, int(b)) for a, b in rng.integers(0, 4, size=(n, 2))] for n in (30, 0, 9)]
    frames = [_frame(spark, rows) for rows in sets]
    tagged = spark.createDataFrame([(k, a, b) for k, rows in enumerate(sets) for a, b in rows],
                                   "tag INT, gamma_a INT, gamma_b INT")
    before = _frame(spark, [(1, 1), (2, 2)])
    got = pattern_counts_by_set([before, TaggedSets(tagged, "tag", 3), None, frames[0]], ["a", "b"])
    assert len(got) == 6
    for pc, frame in zip([got[0], got[1], got[2], got[3], got[5]], [before, *frames, frames[0]]):
        one = pattern_counts(frame, ["a", "b"])
        assert np.array_equal(pc.gammas, one.gammas) and np.array_equal(pc.counts, one.counts)
    assert len(got[2].counts) == 0 and len(got[4].counts) == 0 and got[1].counts.sum() == 30


def test_pattern_counts_by_set_refuses_a_frame_with_some_gamma_columns(spark):
    from padan.model.patterns import pattern_counts_by_set

    with pytest.raises(ValueError, match="gamma_b"):
        pattern_counts_by_set([spark.createDataFrame([(1,)], "gamma_a INT")], ["a", "b"])


def test_report_rounding_and_times_equal_sparks(spark):
    from padan.report.html import _round1, _utc_text

    values = [0.05, 0.15, 0.25, 0.35, 1.45, 2.675, 12.349999, 99.95, 1e-9, 0.0, 3.0, 123456.75, None]
    stamps = [dt.datetime(2026, 11, 30, 15, 52, 33, 999999), dt.datetime(2024, 2, 29, 0, 0, 0), None]
    df = spark.createDataFrame([(v, stamps[i % len(stamps)]) for i, v in enumerate(values)],
                               "seconds DOUBLE, started_at TIMESTAMP")
    rows = df.select("seconds", "started_at", F.round("seconds", 1).alias("r"),
                     F.date_format("started_at", "yyyy-MM-dd HH:mm:ss").alias("t")).collect()
    for r in rows:
        assert _round1(r["seconds"]) == r["r"], r["seconds"]
        assert _utc_text(r["started_at"]) == r["t"]
    # a naive UTC datetime as the ledger keeps its own rows (never collected) formats the same
    assert _utc_text(stamps[0]) == rows[0]["t"]
