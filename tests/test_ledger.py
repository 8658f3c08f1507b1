"""The run ledger's typed state: model version and base run in columns of ops.runs, read the same
way from a lake written before those columns existed (whose rows carried them in the message)."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import functions as F

from padan import ledger
from padan.lake import Lake
from padan.tables import RUNS, RUNS_CHECKPOINT_INTERVAL

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
    # ... and the ledger's checkpoint interval, which the old table did not have (Lake._upgrade)
    detail = spark.sql(f"DESCRIBE DETAIL delta.`{lake.location(RUNS.name)}`").first()
    assert detail["properties"].get("delta.checkpointInterval") == str(RUNS_CHECKPOINT_INTERVAL)


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


def _jobs(spark, group: str, fn) -> int:
    sc = spark.sparkContext
    sc.setJobGroup(group, group)
    try:
        fn()
    finally:
        sc.setLocalProperty("spark.jobGroup.id", None)
    return len(sc.statusTracker().getJobIdsForGroup(group))


def test_a_stage_replaces_its_own_running_row_without_a_scan(spark, tmp_path):
    """A stage that marks itself `running` (a blind append) ends by replacing that row in one
    commit that removes the append's file (Lake.replace_own_append): no snapshot, no scan. The
    table then holds one row per (run, stage), as after the slice overwrite; each version shows
    what it should (the `running` row, then its end); a commit by another writer in between, or a
    failure, still ends with one row for the stage."""
    root = str(tmp_path / "lake")
    lake, other = Lake(spark, root), Lake(spark, root)
    with ledger.stage(lake, "r1", "ingest") as rec:                          # creates ops.runs
        rec.row_counts["rows"] = 3
    seen = {}
    sc = spark.sparkContext

    def cluster():
        with ledger.stage(lake, "r1", "cluster", input_versions={"gold.clusters": -1}, mark_running=True) as rec:
            sc.setJobGroup("ledger-own-row-body", "the stage's body")     # its reads are not the ledger's
            seen["version"] = lake.version(RUNS.name)
            seen["during"] = [(r["stage"], r["status"]) for r in Lake(spark, root).read(RUNS.name).collect()]
            rec.row_counts["persons"] = 5
            sc.setJobGroup("ledger-own-row", "ledger-own-row")

    detail = spark.sql(f"DESCRIBE DETAIL delta.`{lake.location(RUNS.name)}`").first()
    assert detail["properties"].get("delta.checkpointInterval") == str(RUNS_CHECKPOINT_INTERVAL)  # created so
    assert ledger.succeeded(lake, "r1", "cluster") is None    # the runner's skip check: reads the rows once
    jobs = _jobs(spark, "ledger-own-row", cluster)
    assert sorted(seen["during"]) == [("cluster", "running"), ("ingest", "succeeded")]
    assert jobs <= 3          # the running row's append, the new row's write (a slice overwrite: 9)
    after = spark.read.format("delta").load(lake.location(RUNS.name))
    rows = sorted((r["stage"], r["status"], r["row_counts"].get("persons")) for r in after.collect())
    assert rows == [("cluster", "succeeded", 5), ("ingest", "succeeded", None)]
    assert lake.version(RUNS.name) == seen["version"] + 1                    # one commit
    (op,) = spark.sql(f"DESCRIBE HISTORY delta.`{lake.location(RUNS.name)}` LIMIT 1").select(
        "operation", "operationParameters").collect()
    assert op["operation"] == "WRITE" and op["operationParameters"]["mode"] == "Overwrite"
    assert "cluster" in op["operationParameters"]["predicate"]
    running = Lake(spark, root).read(RUNS.name, version=seen["version"]).where(F.col("stage") == "cluster")
    assert [r["status"] for r in running.collect()] == ["running"]          # time travel sees the running row
    fresh = [r.asDict(recursive=True) for r in after.collect()]
    assert sorted(ledger.rows(lake), key=lambda r: r["stage"]) == sorted(fresh, key=lambda r: r["stage"])

    # another writer commits while the stage runs: the row's slice is replaced as before
    with ledger.stage(lake, "r2", "cluster", mark_running=True) as rec:
        with ledger.stage(other, "r2", "plan"):
            pass
        rec.row_counts["persons"] = 6
    # a failing stage records its failure in place of its running row
    try:
        with ledger.stage(lake, "r3", "cluster", mark_running=True):
            raise ValueError("boom")
    except ValueError:
        pass
    final = [(r["run_id"], r["stage"], r["status"]) for r in Lake(spark, root).read(RUNS.name).collect()]
    assert sorted(final) == [("r1", "cluster", "succeeded"), ("r1", "ingest", "succeeded"),
                             ("r2", "cluster", "succeeded"), ("r2", "plan", "succeeded"),
                             ("r3", "cluster", "failed")]


def test_replace_own_append_refuses_what_is_not_its_own_newest_append(spark, tmp_path):
    """Lake.replace_own_append writes nothing unless the newest commit is the tagged append and its
    files' statistics put every row in the slice."""
    lake = Lake(spark, str(tmp_path / "lake"))
    with ledger.stage(lake, "r0", "ingest"):
        pass
    row = ledger._row_dict(ledger.StageRecord("r1", "cluster"), "running", dt.datetime(2026, 1, 1), None, None)
    df = spark.createDataFrame([row], RUNS.ddl)
    version = lake.version(RUNS.name)
    tag = lake.insert_absent(df, RUNS, read_version=version)
    assert tag is not None and lake.version(RUNS.name) == version + 1
    assert not lake.replace_own_append(df, RUNS, tag="padan-write:other", slice_values={"run_id": "r1", "stage": "cluster"})
    assert not lake.replace_own_append(df, RUNS, tag=tag, slice_values={"run_id": "r1", "stage": "train"})
    assert lake.version(RUNS.name) == version + 1                            # nothing written
    with ledger.stage(Lake(spark, lake.root), "r0", "train"):                # a newer commit
        pass
    assert not lake.replace_own_append(df, RUNS, tag=tag, slice_values={"run_id": "r1", "stage": "cluster"})
    assert lake.version(RUNS.name) == version + 2
