"""The run ledger's typed state: model version and base run in columns of ops.runs, read the same
way from a lake written before those columns existed (whose rows carried them in the message)."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import functions as F

from padan import ledger
from padan.lake import Lake
from padan.tables import RUNS

OLD_RUNS_DDL = ("run_id STRING, batch_id STRING, stage STRING, status STRING, started_at TIMESTAMP, "
                "finished_at TIMESTAMP, seconds DOUBLE, input_versions MAP<STRING, BIGINT>, "
                "output_versions MAP<STRING, BIGINT>, row_counts MAP<STRING, BIGINT>, message STRING")


def test_typed_run_state_and_a_lake_from_before_it(spark, tmp_path):
    lake = Lake(spark, str(tmp_path / "lake"))
    now = dt.datetime(2026, 11, 28, 1, 2, 3)
    # ops.runs as an older padan wrote it: no typed columns, the state in the message.
    old = spark.createDataFrame([("r1", "k1", "plan", "succeeded", now, now, 0.0, {}, {}, {},
                                  "model_version=v1 base=r0")], OLD_RUNS_DDL)
    old.write.format("delta").save(lake.location(RUNS.name))

    before = lake.read(RUNS.name).collect()
    assert {"model_version", "base_run_id"} <= set(before[0].asDict())       # read as null, not missing
    row = before[0].asDict()
    assert row["model_version"] is None
    assert ledger.model_version_of(row) == "v1" and ledger.base_run_of(row) == "r0"

    # A new stage row adds the columns to the old table and carries its state typed.
    with ledger.stage(lake, "r2", "plan", batch_id="k2") as rec:
        rec.model_version, rec.base_run_id = "v2", "r1"
        rec.message = "a human note"
    rows = {r["run_id"]: r.asDict() for r in lake.read(RUNS.name).collect()}
    assert {f.name for f in spark.read.format("delta").load(lake.location(RUNS.name)).schema.fields} >= {
        "model_version", "base_run_id"}
    assert (rows["r2"]["model_version"], rows["r2"]["base_run_id"]) == ("v2", "r1")
    assert ledger.model_version_of(rows["r2"]) == "v2" and ledger.base_run_of(rows["r2"]) == "r1"
    assert ledger.model_version_of(rows["r1"]) == "v1"                        # the old row still reads
    assert lake.read(RUNS.name).where(F.col("model_version") == "v2").count() == 1


def test_message_fields_are_whole_keys():
    assert ledger.message_field("model_version=v1 base=r0", "base") == "r0"
    assert ledger.message_field("model_version=v1", "base") is None
    assert ledger.message_field("xbase=r9 base=r1", "base") == "r1"
    assert ledger.model_version_of(None) is None


def test_the_ledger_copy_is_the_table_and_follows_other_writers(spark, tmp_path):
    """ledger.rows keeps ops.runs' rows in this process, updated by its own writes: what it holds
    is what a fresh read of the table gives; a commit by another writer (a second Lake, as another
    process) is seen; asking again while the table has not moved runs no Spark job."""
    root = str(tmp_path / "lake")
    lake, other = Lake(spark, root), Lake(spark, root)
    assert ledger.succeeded(lake, "r1", "train") is None                      # no table yet
    with ledger.stage(lake, "r1", "train", input_versions={"silver.persons": 3}, mark_running=True) as rec:
        rec.row_counts["pairs"] = 7
        rec.model_version = "v1"
    with ledger.stage(lake, "r1", "predict") as rec:
        rec.output_versions = {"gold.pairs": 2}

    def key(r):
        return r["run_id"], r["stage"]

    fresh = sorted((r.asDict(recursive=True) for r in Lake(spark, root).read(RUNS.name).collect()), key=key)
    assert sorted(ledger.rows(lake), key=key) == fresh                        # timestamps, maps and all
    assert [r["status"] for r in fresh] == ["succeeded", "succeeded"]        # the running row was replaced
    assert ledger.succeeded(lake, "r1", "train")["row_counts"] == {"pairs": 7}

    sc = spark.sparkContext
    sc.setJobGroup("ledger-copy", "ledger-copy")
    try:
        assert ledger.succeeded(lake, "r1", "predict")["output_versions"] == {"gold.pairs": 2}
        assert ledger.select(lake, stage="train")[0]["model_version"] == "v1"
    finally:
        sc.setLocalProperty("spark.jobGroup.id", None)
    assert len(sc.statusTracker().getJobIdsForGroup("ledger-copy")) == 0

    with ledger.stage(other, "r2", "plan") as rec:                            # another writer
        rec.message = "model_version=v1"
    assert ledger.succeeded(lake, "r2", "plan")["message"] == "model_version=v1"
    with ledger.stage(lake, "r1", "train") as rec:                            # a forced rerun replaces its row
        rec.row_counts["pairs"] = 8
    assert ledger.succeeded(other, "r1", "train")["row_counts"] == {"pairs": 8}
    assert len(ledger.select(lake, run_id="r1", stage="train")) == 1
