"""Ids that reach table slices cannot change what a slice means (issue 20, item 1).

A batch id such as `q' OR '1'='1` once deleted other batches' rows: it was pasted into Delta's
`replaceWhere`. Ids are now checked at every entry point (exit 2 before anything is read or
written), and slices are column expressions whose literals Spark quotes itself.
"""

from __future__ import annotations

import pytest
from pyspark.sql import functions as F

from padan import cli
from padan.ids import SAFE_ID, IdError, check_id
from padan.lake import Lake, predicate_sql, slice_of
from padan.tables import TableSpec

HOSTILE = ["q' OR '1'='1", "o'neil", "a b", "100%", "x%' OR batch_id LIKE '%", "\u00e9t\u00e9", "1; DROP TABLE x",
           "a\\' OR 1=1 --", "", "-starts-with-dash", "a" * 129, "x\ny", "a/../b", "`x`"]


@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
def test_unsafe_ids_are_refused(value):
    with pytest.raises(IdError) as err:
        check_id("batch id", value)
    assert err.value.exit_code == 2
    assert "batch id" in str(err.value)


@pytest.mark.parametrize("value", ["2026-11-28", "p3ke-20261128T0200", "train-0123abcd", "a.b_c=d-e", "A" * 128])
def test_safe_ids_pass_unchanged(value):
    assert check_id("batch id", value) == value


SPEC = TableSpec("test.slices", "batch_id STRING, n INT", (), "one row per test value", "slice test")


def test_a_hostile_value_replaces_only_its_own_slice(spark, tmp_path):
    """Even past the entry check, a slice written with a quote-laden value touches only rows whose
    column equals that exact value."""
    lake = Lake(spark, str(tmp_path))
    lake.overwrite(spark.createDataFrame([("a", 1), ("b", 2), ("c", 3)], SPEC.ddl), SPEC)
    for evil in ["q' OR '1'='1", "o'neil", "x\\' OR 1=1 --"]:
        lake.overwrite(spark.createDataFrame([(evil, 9)], SPEC.ddl), SPEC, replace_where=slice_of(batch_id=evil))
        lake.overwrite(spark.createDataFrame([(evil, 10)], SPEC.ddl), SPEC, replace_where=slice_of(batch_id=evil))
    rows = sorted(tuple(r) for r in lake.read(SPEC.name).collect())
    assert rows == sorted([("a", 1), ("b", 2), ("c", 3), ("q' OR '1'='1", 10), ("o'neil", 10),
                           ("x\\' OR 1=1 --", 10)])
    assert lake.read(SPEC.name).where(slice_of(batch_id="q' OR '1'='1")).count() == 1


def test_slices_are_expressions_not_text(spark, tmp_path):
    lake = Lake(spark, str(tmp_path))
    with pytest.raises(TypeError):
        lake.overwrite(spark.createDataFrame([("a", 1)], SPEC.ddl), SPEC, replace_where="batch_id = 'a'")
    sql = predicate_sql(spark, slice_of(batch_id="q' OR '1'='1", n=3), SPEC.ddl)
    assert "OR" in sql and sql.count(" AND ") == 1   # the OR is inside the quoted literal
    assert spark.range(1).select(F.lit("q' OR '1'='1").alias("batch_id"), F.lit(3).alias("n")).where(sql).count() == 1


@pytest.mark.parametrize("command", [
    ["ingest", "--source", "p3ke", "--batch", "q' OR '1'='1"],
    ["increment", "--source", "p3ke", "--path", "/nonexistent", "--batch", "o'neil"],
    ["increment", "--source", "p3ke' OR '1'='1", "--path", "/nonexistent"],
    ["explain", "p3ke:1", "prakerja:2", "--run-id", "r' OR 1=1 --"],
    ["ingest", "--source", "p3ke", "--batch", "100%"],
    ["ingest", "--source", "p3ke", "--batch", "\u00e9t\u00e9 2026"],
], ids=["ingest-quote", "increment-apostrophe", "increment-source", "explain-run-id", "percent", "unicode-space"])
def test_every_entry_point_refuses_unsafe_ids_before_touching_the_lake(command, tmp_path, capsys):
    lake = tmp_path / "lake"
    code = cli.main([*command, "--lake", str(lake)])
    assert code == 2
    assert "invalid" in capsys.readouterr().err
    assert not lake.exists()        # nothing was created, read or written


def test_scheduler_skips_folders_that_are_not_safe_ids(tmp_path):
    from padan.schedule import landed_batches

    for name in ["2026-11-28", "q' OR '1'='1", "a b", "ok.batch_1"]:
        (tmp_path / "p3ke" / name).mkdir(parents=True)
        (tmp_path / "p3ke" / name / "part.csv").write_text("x\n")
    assert [b.batch_id for b in landed_batches(tmp_path, "p3ke")] == ["2026-11-28", "ok.batch_1"]
    assert all(SAFE_ID.match(f"p3ke-{b.batch_id}") for b in landed_batches(tmp_path, "p3ke"))


def test_an_unexpected_failure_names_its_trace_file_and_a_dead_jvm_says_so(tmp_path, monkeypatch, capsys):
    """Exit 1 with the trace in an owner-only file the message names; a lost JVM is exit 8."""
    import stat

    from py4j.protocol import Py4JNetworkError

    monkeypatch.setenv("PADAN_LOG_DIR", str(tmp_path / "logs"))

    def boom(args):
        raise RuntimeError("something odd")

    def jvm_gone(args):
        try:
            raise ConnectionRefusedError(111, "Connection refused")
        except ConnectionRefusedError as err:
            raise Py4JNetworkError("An error occurred while trying to connect to the Java server") from err

    monkeypatch.setitem(cli.COMMANDS, "report", boom)
    assert cli.main(["report"]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    trace = err.rsplit("stack trace in ", 1)[1]
    assert err.startswith("padan report: failed: RuntimeError") and "something odd" not in err
    assert "something odd" in open(trace).read() and stat.S_IMODE((tmp_path / "logs" / trace).stat().st_mode) == 0o600
    monkeypatch.setitem(cli.COMMANDS, "report", jvm_gone)
    assert cli.main(["report"]) == cli.JVM_DIED == 8
    assert "the Spark JVM died" in capsys.readouterr().err
