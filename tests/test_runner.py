"""The one runner every stage goes through (padan.stages.runner), on a real lake: a stage that
succeeded is skipped unless forced, its ledger row records the versions of exactly the tables it
declares, a failure is recorded without hiding the error, what `prepare` refuses writes nothing, a
stage that resumes starts a retry from the versions its first attempt recorded, and a run's steps
stop at a fault point."""

from __future__ import annotations

import pytest
from pyspark.sql import functions as F

from padan.stages.runner import BRONZE, NO_TABLE, Ctx, FaultInjected, Stage, row_counts, run_stage, run_steps
from padan.tables import QUALITY, RUNS

WRITES_QUALITY = Stage("toy", ("silver.persons",), (QUALITY.name,), "writes one quality row")


@pytest.fixture
def ctx(spark, cfg):
    return Ctx.create(spark, cfg)


def _write_quality(ctx: Ctx, run_id: str, value: float) -> None:
    rows = ctx.spark.createDataFrame([(run_id, "toy", run_id, "rows", None, value)], QUALITY.ddl)
    ctx.lake.overwrite(rows, QUALITY, replace_where=F.col("source") == "toy")


def _ledger(ctx: Ctx, run_id: str, stage: str = "toy") -> dict:
    (row,) = ctx.lake.read(RUNS.name).where((F.col("run_id") == run_id) & (F.col("stage") == stage)).collect()
    return row.asDict(recursive=True)


def test_a_stage_records_its_declared_writes_and_is_skipped_until_forced(ctx):
    calls = []

    def body(rec):
        calls.append(1)
        _write_quality(ctx, "r1", float(len(calls)))
        rec.row_counts["rows"] = len(calls)
        return dict(rec.row_counts)

    assert run_stage(ctx, WRITES_QUALITY, "r1", body, done=row_counts) == {"rows": 1}
    row = _ledger(ctx, "r1")
    assert row["status"] == "succeeded" and row["row_counts"] == {"rows": 1}
    assert row["output_versions"] == {QUALITY.name: ctx.lake.version(QUALITY.name)}
    assert row["input_versions"] == {}                     # a stage that does not resume records none

    version = ctx.lake.version(RUNS.name)
    assert run_stage(ctx, WRITES_QUALITY, "r1", body, done=row_counts) == {"rows": 1}     # skipped
    assert len(calls) == 1 and ctx.lake.version(RUNS.name) == version

    # `done` returning None: the earlier row cannot stand for a result, so the stage runs again.
    assert run_stage(ctx, WRITES_QUALITY, "r1", body, done=lambda row: None) == {"rows": 2}
    forced = Ctx(ctx.spark, ctx.cfg, ctx.lake, force=True)
    assert run_stage(forced, WRITES_QUALITY, "r1", body, done=row_counts) == {"rows": 3}
    assert _ledger(ctx, "r1")["output_versions"] == {QUALITY.name: ctx.lake.version(QUALITY.name)}

    always = Stage("toy_always", (), (), "runs every time", skip=False)
    run_stage(ctx, always, "r1", lambda rec: None, done=row_counts)
    run_stage(ctx, always, "r1", lambda rec: calls.append(1), done=row_counts)
    assert len(calls) == 4 and _ledger(ctx, "r1", "toy_always")["output_versions"] == {}


def test_a_failure_is_recorded_and_raised_and_prepare_stops_before_any_write(ctx):
    def fails(rec):
        rec.row_counts["rows"] = 7
        raise ValueError("a value that must not reach the ledger")

    with pytest.raises(ValueError):
        run_stage(ctx, WRITES_QUALITY, "r2", fails, done=row_counts)
    row = _ledger(ctx, "r2")
    assert row["status"] == "failed" and row["message"] == "ValueError" and row["output_versions"] == {}
    assert row["row_counts"] == {"rows": 7}

    version = ctx.lake.version(RUNS.name)

    def refuse():
        raise RuntimeError("contract")

    with pytest.raises(RuntimeError):
        run_stage(ctx, WRITES_QUALITY, "r3", lambda rec, x: None, prepare=refuse)
    assert ctx.lake.version(RUNS.name) == version          # no ledger row: nothing was written
    got = run_stage(ctx, WRITES_QUALITY, "r4", lambda rec, a, b: (a, b), prepare=lambda: ("a", "b"))
    assert got == ("a", "b")


def test_a_resuming_stage_retries_from_the_versions_its_first_attempt_recorded(ctx):
    resumes = Stage("toy_resume", (QUALITY.name,), (QUALITY.name,), "rebuilds from its table", resumes=(QUALITY.name,))
    seen = []

    def first(rec):
        seen.append(dict(rec.input_versions))
        # A `running` row with the starting versions is in the ledger before the body writes.
        assert _ledger(ctx, "r5", "toy_resume")["status"] == "running"
        _write_quality(ctx, "r5", 1.0)
        raise FaultInjected("toy")       # as a kill mid-stage would, after the write

    with pytest.raises(FaultInjected):
        run_stage(ctx, resumes, "r5", first)
    assert seen == [{QUALITY.name: NO_TABLE}]              # the table did not exist when it started
    assert ctx.lake.exists(QUALITY.name)

    def retry(rec):
        seen.append(dict(rec.input_versions))
        _write_quality(ctx, "r5", 2.0)

    run_stage(ctx, resumes, "r5", retry)
    assert seen[1] == {QUALITY.name: NO_TABLE}             # not the version the first attempt wrote
    row = _ledger(ctx, "r5", "toy_resume")
    assert row["status"] == "succeeded" and row["input_versions"] == {QUALITY.name: NO_TABLE}

    run_stage(ctx, resumes, "r6", retry)                   # a new run starts from the current version
    assert seen[2] == {QUALITY.name: row["output_versions"][QUALITY.name]}


def test_a_stage_outside_the_ledger_only_runs(ctx):
    outside = Stage("toy_outside", (), (QUALITY.name,), "not recorded", ledger=False)
    assert run_stage(ctx, outside, "r7", lambda rec: rec) is None
    assert ctx.lake.read(RUNS.name).where(F.col("run_id") == "r7").count() == 0


def test_declared_bronze_is_the_sources_table():
    stage = Stage("toy_bronze", (), (BRONZE, QUALITY.name), "bronze and quality")
    assert stage.tables("p3ke") == ["bronze.p3ke", QUALITY.name]


def test_run_steps_stop_at_a_fault_point_between_two_stages(monkeypatch):
    a, b = Stage("a", (), (), "first"), Stage("b", (), (), "second")
    done = []
    steps = ((a, lambda ctx, state: done.append("a")), (b, lambda ctx, state: done.append("b")))
    run_steps(None, "toy", steps, None)
    assert done == ["a", "b"]
    monkeypatch.setenv("PADAN_FAULT_AT", "raise:toy:after-a")
    with pytest.raises(FaultInjected) as exc:
        run_steps(None, "toy", steps, None)
    assert exc.value.args == ("toy:after-a",) and done == ["a", "b", "a"]
