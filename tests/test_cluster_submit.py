"""A real Spark standalone cluster on loopback: start it, submit the whole pipeline to it through
`make submit` (padan shipped as the --py-files zip a cluster gets), check that the lake holds what
local mode wrote from the same inputs and model, stop it."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from tests.conftest import PIPELINE_P3KE_ROWS, PIPELINE_PRAKERJA_ROWS

REPO = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.cluster, pytest.mark.submit]


def make_submit(tmp_path, *, job: str, args: list[str], env_extra: dict, master: str = "local[2]",
                submit_conf: list[str] = ()) -> subprocess.CompletedProcess:
    """`make submit` exactly as a user types it (which runs `make package` first), into a
    temporary dist folder: a broken packaging or submit path fails here."""
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", **env_extra}
    conf = ["--conf", "spark.sql.shuffle.partitions=2", "--conf", "spark.ui.enabled=false",
            "--conf", "spark.databricks.delta.snapshotPartitions=2",
            # (`make -C` runs spark-submit in the checkout: Spark's default ./spark-warehouse would land there)
            "--conf", f"spark.sql.warehouse.dir={tmp_path / 'spark-warehouse'}", *submit_conf]
    cmd = ["make", "--no-print-directory", "-C", str(REPO), "submit", f"DIST={tmp_path / 'dist'}",
           f"SUBMIT_JOB={job}", f"SUBMIT_MASTER={master}", "ENV=base", f"SUBMIT_CONF={' '.join(conf)}",
           f"ARGS={' '.join(args)}"]
    return subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=900)


def _assert_shipped_package(dist: Path) -> None:
    """The wheel `make package` built holds the code and its data files, and the --py-files zip
    spark-submit shipped holds the same modules."""
    wheel = next(dist.glob("padan-*.whl"))
    with zipfile.ZipFile(wheel) as whl, zipfile.ZipFile(dist / "padan_pyfiles.zip") as pyfiles:
        in_wheel = {n for n in whl.namelist() if n.startswith("padan/")}
        assert "padan/cli.py" in in_wheel and "padan/reference/provinces.csv" in in_wheel
        assert "padan/report/templates/report.html.j2" in in_wheel      # the report's template ships
        assert {n for n in pyfiles.namelist() if n.endswith(".py")} == {n for n in in_wheel if n.endswith(".py")}
        assert set(pyfiles.namelist()) >= {n for n in in_wheel if not n.startswith("padan-")}


@pytest.fixture
def standalone(tmp_path):
    env = {**os.environ, "PADAN_CLUSTER_DIR": str(tmp_path / "cluster"), "PADAN_MASTER_PORT": "7177",
           "PADAN_MASTER_UI_PORT": "8180", "VENV": str(Path(sys.executable).parent.parent),
           "PYSPARK_PYTHON": sys.executable}
    up = subprocess.run([str(REPO / "scripts" / "cluster.sh"), "up", "2"], env=env, capture_output=True, text=True,
                        timeout=180)
    if up.returncode != 0:
        subprocess.run([str(REPO / "scripts" / "cluster.sh"), "down"], env=env, timeout=60)
        pytest.fail(f"cluster did not start: {up.stderr[-2000:]}")
    yield "spark://127.0.0.1:7177"
    down = subprocess.run([str(REPO / "scripts" / "cluster.sh"), "down"], env=env, capture_output=True, text=True,
                          timeout=120)
    assert down.returncode == 0
    assert not list((tmp_path / "cluster").glob("*.pid"))


def test_pipeline_on_the_cluster_equals_local_mode(standalone, tmp_path, pipeline_run):
    """`make submit` of the whole pipeline to the standalone cluster (two workers, one core each)
    on the committed extracts, scored with the model the local pipeline fixture trained: the same
    candidate pairs with the same match weights, the same partition of records into persons and
    the same overlap mart as local mode. Stages whose results could depend on partitioning
    (record keys, the engine's joins, connected components, id minting) run across executors here."""
    from padan import ledger
    from padan.lake import Lake
    from padan.model.store import copy_model

    ctx, result, _ = pipeline_run
    lake = tmp_path / "lake"
    cfg = ctx.cfg.with_overrides({"lake": {"root": str(lake)}})
    copy_model(ctx.lake, Lake.from_config(ctx.spark, cfg.lake), result.model_version)
    warehouse_before = (REPO / "spark-warehouse").exists()
    proc = make_submit(tmp_path, job="pipeline", master=standalone,
                       args=["--conf-dir", str(REPO / "conf"), "--run-date", ctx.run_date],
                       env_extra={"PADAN_P3KE_PATH": ctx.cfg.sources["p3ke"].path,
                                  "PADAN_PRAKERJA_PATH": ctx.cfg.sources["prakerja"].path,
                                  "PADAN_LAKE_ROOT": str(lake),
                                  "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable},
                       submit_conf=["--total-executor-cores", "2", "--executor-memory", "1g",
                                    "--conf", f"spark.pyspark.python={sys.executable}"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "spark://127.0.0.1:7177" in proc.stderr      # the job ran on the cluster, not local
    assert (REPO / "spark-warehouse").exists() == warehouse_before      # nothing left in the checkout
    assert "padan_pyfiles.zip" in proc.stderr          # the package came from the shipped zip
    _assert_shipped_package(tmp_path / "dist")
    # The workers started the executors with the class archive `make setup` built (make submit
    # passes it on: same JVM and class path on this machine).
    launches = [line for log in (tmp_path / "cluster").glob("worker-*.log")
                for line in log.read_text(errors="replace").splitlines() if "Launch command" in line]
    assert launches and all("-XX:SharedArchiveFile=" in line for line in launches)
    assert list((lake / "_tmp").iterdir()) == []        # the job's run folder (padan.scratch) is gone

    there = Lake.from_config(ctx.spark, cfg.lake)
    used = {r["model_version"] for r in there.read("ops.runs").where(F.col("stage") == "predict").collect()}
    assert used == {result.model_version}                # scored with the copied model, not a new one
    assert there.read("silver.persons").count() == ctx.lake.read("silver.persons").count()
    assert (there.read("ops.rejects").count() + there.read("silver.persons").count()
            == PIPELINE_P3KE_ROWS + PIPELINE_PRAKERJA_ROWS)

    def pairs(lk, where=None):
        df = lk.read("gold.pairs")
        df = df if where is None else df.where(where)
        return sorted((r[0], r[1], round(r[2], 9)) for r in
                      df.select("unique_id_l", "unique_id_r", "match_weight").collect())

    local_pairs = pairs(ctx.lake, F.col("run_id") == result.run_id)
    assert len(local_pairs) > 100
    assert pairs(there) == local_pairs

    def partition(lk, version=None):
        rows = lk.read("gold.clusters", version=version).groupBy("person_id").agg(F.collect_set("unique_id").alias("ids")).collect()
        return {frozenset(r["ids"]) for r in rows}

    # The clusters the fixture's run wrote (the table version its ledger row records: other tests
    # of the group may relink the same lake).
    done = ledger.succeeded(ctx.lake, result.run_id, "cluster")
    local = partition(ctx.lake, int(done["output_versions"]["gold.clusters"]))
    assert any(len(p) > 1 for p in local)
    assert partition(there) == local

    def overlap(lk, where=None):
        df = lk.read("gold.overlap_by_region")
        df = df if where is None else df.where(where)
        return sorted(tuple(str(v) for v in r) for r in df.drop("run_id").collect())

    local_overlap = overlap(ctx.lake, F.col("run_id") == result.run_id)
    assert local_overlap and overlap(there) == local_overlap
