"""Incremental linking: an initial load plus increments ends in the same partition of records into
persons as one full run over all the data; a batch run twice changes nothing; a run killed between
its pairs and its clusters, rerun, ends as a run that never failed; exit codes fit a scheduler."""

from __future__ import annotations

import json
import os
from pathlib import Path

import deltalake
import pandas as pd
import pytest
from pyspark.sql import functions as F

from padan import stages
from padan.tables import CLUSTERS, ID_CHANGES, PAIRS, PERSON_PROFILE, PERSONS, RUNS
from tests.conftest import install_extracts, install_test_model
from tests.test_stages import ledger_matches_declaration

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.integration


def _split_csv(folder: Path, out: Path, name: str, shares: list[float]) -> list[Path]:
    """Cut a generated extract (Spark CSV part files) into batches: out/<name>_<i>/part.csv, and
    the same rows again as the files of one snapshot folder out/<name>_all/."""
    frames = [pd.read_csv(f, dtype=str, keep_default_na=False) for f in sorted(folder.glob("part-*.csv"))]
    df = pd.concat(frames, ignore_index=True)
    cuts, start, paths = [], 0, []
    for i, share in enumerate(shares):
        end = len(df) if i == len(shares) - 1 else start + round(share * len(df))
        cuts.append(df.iloc[start:end])
        start = end
    (out / f"{name}_all").mkdir(parents=True)
    for i, part in enumerate(cuts):
        d = out / f"{name}_{i}"
        d.mkdir(parents=True)
        part.to_csv(d / "part.csv", index=False)
        part.to_csv(out / f"{name}_all" / f"part_{i}.csv", index=False)
        paths.append(d)
    return paths


def _cfg(root: Path, lake: str, p3ke: Path, prakerja: Path):
    from padan import config

    return config.load(env="base", conf_dir=REPO / "conf", overrides={
        "lake": {"root": str(root / lake)},
        "sources": {"p3ke": {"path": str(p3ke)}, "prakerja": {"path": str(prakerja)}},
    })


def _partition(ctx) -> set[frozenset]:
    rows = ctx.lake.read(CLUSTERS.name).groupBy("person_id").agg(F.collect_list("unique_id").alias("ids")).collect()
    return {frozenset(r["ids"]) for r in rows}


def _contents(ctx, table: str, where=None) -> list[tuple]:
    df = ctx.lake.read(table)
    if where is not None:
        df = df.where(where)
    return sorted(tuple(str(v) for v in r) for r in df.collect())


@pytest.fixture(scope="module")
def world(spark, tmp_path_factory):
    """Lake A: P3KE batch 0 + Prakerja batch 0 linked in full, then Prakerja batch 1 added, then
    P3KE batch 1 added by a run interrupted after its pairs and rerun. Returns what the tests need."""
    from padan.stages import Ctx, FaultInjected, run_increment, run_pipeline

    root = tmp_path_factory.mktemp("increment")
    install_extracts("increment", root / "gen")
    p3ke = _split_csv(root / "gen" / "p3ke", root / "batches", "p3ke", [0.8, 0.2])
    prakerja = _split_csv(root / "gen" / "prakerja", root / "batches", "prakerja", [0.6, 0.4])

    cfg_a = _cfg(root, "lake_a", p3ke[0], prakerja[0])
    ctx_a = Ctx.create(spark, cfg_a, run_date="2026-11-28")
    install_test_model(ctx_a.lake)       # the pinned model: these tests are about increments, not training
    base = run_pipeline(ctx_a)
    inc1 = run_increment(ctx_a, "prakerja", path=str(prakerja[1]))

    # The second increment dies after writing its pairs, before its clusters. The fault point sits
    # between two stages, so raising there leaves the lake and the ledger as a kill would (no stage
    # is open to record anything on the way out); a real kill -9 of a CLI process mid-stage is
    # test_pipeline's. In-process, it costs no second JVM.
    os.environ["PADAN_FAULT_AT"] = "raise:increment:after-predict"
    try:
        run_increment(ctx_a, "p3ke", path=str(p3ke[1]))
        killed = None
    except FaultInjected as exc:
        killed = exc
    finally:
        del os.environ["PADAN_FAULT_AT"]
    ledger_after_kill = {(r["stage"], r["status"]) for r in ctx_a.lake.read(RUNS.name).collect()}
    clusters_after_kill = ctx_a.lake.version(CLUSTERS.name)
    inc2 = run_increment(ctx_a, "p3ke", path=str(p3ke[1]))
    return dict(root=root, ctx=ctx_a, base=base, inc1=inc1, inc2=inc2, killed=killed,
                ledger_after_kill=ledger_after_kill, clusters_after_kill=clusters_after_kill,
                p3ke=p3ke, prakerja=prakerja)


@pytest.fixture(scope="module")
def full(spark, world):
    """Lake B: the same records in one full run, scored with lake A's model version."""
    from padan.model.store import copy_model
    from padan.stages import Ctx, link_run_id, run_cluster, run_ingest, run_predict

    root = world["root"]
    cfg_b = _cfg(root, "lake_b", root / "batches" / "p3ke_all", root / "batches" / "prakerja_all")
    cfg_b = cfg_b.with_overrides({"link": {"model_version": world["base"].model_version}})
    ctx_b = Ctx.create(spark, cfg_b, run_date="2026-11-28")
    copy_model(world["ctx"].lake, ctx_b.lake, world["base"].model_version)
    for s in ("p3ke", "prakerja"):
        run_ingest(ctx_b, s)
    run_id = link_run_id(ctx_b, world["base"].model_version)
    run_predict(ctx_b, run_id, world["base"].model_version)
    run_cluster(ctx_b, run_id)
    return ctx_b, run_id


def test_increments_add_records_and_link_them(world):
    ctx, inc1, inc2 = world["ctx"], world["inc1"], world["inc2"]
    persons = ctx.lake.read(PERSONS.name)
    assert ctx.lake.read(CLUSTERS.name).count() == persons.count()          # every record has a person
    assert ctx.lake.read(CLUSTERS.name).select("unique_id").distinct().count() == persons.count()
    for inc in (inc1, inc2):
        assert inc.ingest.rows_standardised > 0 and inc.pairs > 0
        assert inc.cluster["touched_persons"] > 0                           # it linked to existing people
        assert inc.cluster["new_records"] == inc.ingest.rows_standardised
        assert inc.base_run_id and inc.run_id != inc.base_run_id
    assert inc2.base_run_id == inc1.run_id
    # The batch was compared with the records sharing a blocking key with it, not with the whole lake.
    for inc in (inc1, inc2):
        counts = (ctx.lake.read(RUNS.name).where((F.col("run_id") == inc.run_id) & (F.col("stage") == "predict")
                                                 & (F.col("status") == "succeeded")).first()["row_counts"])
        existing = persons.where(~((F.col("batch_id") == inc.ingest.batch_id))).count()
        assert counts["new_records"] == inc.ingest.rows_standardised
        assert 0 < counts["existing_compared"] < existing / 2
    # Rows of persons the batch did not touch keep the run that last wrote them.
    runs = {r[0] for r in ctx.lake.read(CLUSTERS.name).select("run_id").distinct().collect()}
    assert world["base"].run_id in runs and inc2.run_id in runs
    # The re-clustered records counted (from the MERGE's metrics) are the rows the last batch wrote.
    assert inc2.cluster["records_reclustered"] == \
        ctx.lake.read(CLUSTERS.name).where(F.col("run_id") == inc2.run_id).count() > 0
    # The tables the increments MERGEd into still open with the Python `deltalake` reader (what
    # pandas and Polars users have), with the same rows as Spark reads, and every clusters row
    # carries its source's own record key.
    for table in (CLUSTERS.name, PERSON_PROFILE.name):
        opened = deltalake.DeltaTable(ctx.lake.location(table)).to_pyarrow_table()
        assert opened.num_rows == ctx.lake.read(table).count(), table
    clusters = deltalake.DeltaTable(ctx.lake.location(CLUSTERS.name)).to_pandas()
    assert (clusters.source_dataset + ":" + clusters.record_key == clusters.unique_id).all()
    # Each increment stage recorded in the ledger exactly the tables padan.stages declares for it.
    runs = [inc1.run_id, inc2.run_id, inc1.ingest.batch_id, inc2.ingest.batch_id]
    assert ledger_matches_declaration(ctx.lake, runs, stages.INCREMENT) >= 10


def test_initial_load_plus_increments_equals_one_full_run(world, full):
    ctx_a, (ctx_b, run_b) = world["ctx"], full
    runs_a = [world["base"].run_id, world["inc1"].run_id, world["inc2"].run_id]

    def pairs(ctx, runs):
        rows = (ctx.lake.read(PAIRS.name).where(F.col("run_id").isin(runs))
                .select("unique_id_l", "unique_id_r", F.round("match_weight", 6).alias("w")).collect())
        return {(r[0], r[1], r[2]) for r in rows}

    pa, pb = pairs(ctx_a, runs_a), pairs(ctx_b, [run_b])
    # No pair is scored twice: an increment scores only pairs with at least one new record.
    assert len(pa) == ctx_a.lake.read(PAIRS.name).where(F.col("run_id").isin(runs_a)).count()
    assert pa == pb                      # the same pairs with the same weights (pinned term frequencies)
    assert _partition(ctx_a) == _partition(ctx_b)


def test_a_killed_run_rerun_ends_as_if_it_never_failed(world, spark, monkeypatch):
    from padan.stages import Ctx, run_increment
    import padan.stages.cluster as cluster_stage

    assert world["killed"] is not None and world["killed"].args == ("increment:after-predict",)
    stages = world["ledger_after_kill"]
    assert ("predict", "succeeded") in stages
    assert world["clusters_after_kill"] is not None
    ctx = world["ctx"]
    inc2 = world["inc2"]
    assert inc2.ingest.skipped and not inc2.already_done       # the rerun resumed: ingest was done
    before = {t: _contents(ctx, t) for t in (CLUSTERS.name, PERSONS.name, PERSON_PROFILE.name)}
    before[PAIRS.name] = _contents(ctx, PAIRS.name, F.col("run_id") == inc2.run_id)
    before[ID_CHANGES.name] = _contents(ctx, ID_CHANGES.name, F.col("run_id") == inc2.run_id)
    # A forced rerun of the same batch is a run that never failed: it must end in the same state.
    # inc2 re-clustered its small batch on the driver; the rerun takes the Spark path that larger
    # batches take (DRIVER_MAX_ROWS = 0), so the two paths are held to the same rows and changes.
    assert inc2.cluster["clustered_on_driver"] == 1                       # inc2: the driver's path
    monkeypatch.setattr(cluster_stage, "DRIVER_MAX_ROWS", 0)
    forced = Ctx.create(spark, ctx.cfg, force=True, run_date="2026-11-28")
    again = run_increment(forced, "p3ke", path=str(world["p3ke"][1]))
    assert again.cluster["clustered_on_driver"] == 0                      # the rerun: Spark's
    assert again.run_id == inc2.run_id
    after = {t: _contents(ctx, t) for t in (CLUSTERS.name, PERSONS.name, PERSON_PROFILE.name)}
    after[PAIRS.name] = _contents(ctx, PAIRS.name, F.col("run_id") == inc2.run_id)
    after[ID_CHANGES.name] = _contents(ctx, ID_CHANGES.name, F.col("run_id") == inc2.run_id)
    assert after == before


def test_the_same_batch_twice_changes_nothing(world, capsys):
    from padan.cli import main

    ctx = world["ctx"]
    tables = [CLUSTERS.name, PAIRS.name, PERSONS.name, ID_CHANGES.name, PERSON_PROFILE.name]
    versions = ctx.lake.versions(tables)
    contents = {t: _contents(ctx, t) for t in tables}
    code = main(["increment", "--env", "base", "--lake", ctx.cfg.lake.root, "--run-date", "2026-11-28",
                 "--source", "prakerja", "--path", str(world["prakerja"][1])])
    assert code == 0
    out = capsys.readouterr().out
    assert "already processed" in out
    (result,) = [json.loads(line)["padan_result"] for line in out.splitlines() if line.startswith('{"padan_result"')]
    assert result["status"] == "already_processed" and result["command"] == "increment"
    assert ctx.lake.versions(tables) == versions
    assert {t: _contents(ctx, t) for t in tables} == contents


def test_scheduler_exit_codes(world, tmp_path, capsys):
    from padan.cli import main

    lake = world["ctx"].cfg.lake.root
    # An unknown source: non-zero, one clear message.
    code = main(["increment", "--env", "base", "--lake", lake, "--source", "dtks", "--path", str(tmp_path)])
    err = capsys.readouterr().err
    assert code != 0 and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("padan increment: unknown source 'dtks'")
    # A batch on a lake that was never linked: non-zero, says what to run first.
    code = main(["increment", "--env", "base", "--lake", str(tmp_path / "empty_lake"), "--source", "prakerja",
                 "--path", str(world["prakerja"][1])])
    err = capsys.readouterr().err
    assert code == 7 and "run the full pipeline first" in err
    # A batch whose records are already in the lake under another batch id: refused before writing.
    code = main(["increment", "--env", "base", "--lake", lake, "--source", "prakerja", "--batch", "resent",
                 "--path", str(world["prakerja"][1])])
    err = capsys.readouterr().err
    assert code == 7 and "already in silver.persons" in err


def test_an_increment_scores_with_the_model_of_the_linked_state(world):
    """A model trained after the full run must not silently score increments (their pairs would not
    be a full run's): `latest` keeps the state's version, a different pinned version is refused."""
    from padan.errors import StateError
    from padan.stages import Ctx, run_increment

    ctx, v = world["ctx"], world["base"].model_version
    newer = "zz-retrained"                                    # sorts last: what 'latest' resolves to
    ctx.lake.write_bytes(f"models/{newer}.json", ctx.lake.read_text(f"models/{v}.json").encode())
    try:
        again = run_increment(ctx, "prakerja", path=str(world["prakerja"][1]))
        assert again.already_done and again.model_version == v
        pinned = Ctx.create(ctx.spark, ctx.cfg.with_overrides({"link": {"model_version": newer}}),
                            run_date="2026-11-28")
        before = {t: ctx.lake.version(t) for t in (PERSONS.name, PAIRS.name, CLUSTERS.name, RUNS.name)}
        with pytest.raises(StateError, match="scored with"):
            run_increment(pinned, "prakerja", path=str(world["prakerja"][1]))
        assert {t: ctx.lake.version(t) for t in before} == before
    finally:
        Path(ctx.lake.path("models", f"{newer}.json")).unlink()


def test_incremental_profiles_and_marts_equal_a_full_recompute(world):
    """The increments rewrote only the profiles of the persons they touched; the profile table and
    the last increment's marts are still exactly what a recompute over all persons gives."""
    from padan.report.marts import overlap_by_region, person_profile
    from padan.tables import OVERLAP_BY_REGION

    ctx, inc2 = world["ctx"], world["inc2"]
    for inc in (world["inc1"], inc2):
        assert inc.marts["profiles_upserted"] > 0 and "profiles_written" not in inc.marts
        assert inc.marts["profiles_upserted"] < inc.marts["persons"]
    fresh = person_profile(ctx.lake.read(CLUSTERS.name), ctx.lake.read(PERSONS.name))
    stored = ctx.lake.read(PERSON_PROFILE.name).drop("run_id")
    cols = sorted(fresh.columns)
    assert sorted(stored.columns) == cols
    assert _rows(stored.select(cols)) == _rows(fresh.select(cols))
    mart = ctx.lake.read(OVERLAP_BY_REGION.name).where(F.col("run_id") == inc2.run_id).drop("run_id")
    again = overlap_by_region(fresh, inc2.run_id).drop("run_id")
    assert _rows(mart) == _rows(again.select(mart.columns))


def _rows(df) -> list[tuple]:
    return sorted(tuple(str(v) for v in r) for r in df.collect())
