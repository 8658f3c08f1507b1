"""Shared fixtures: one local[2] Spark session with Delta and Splink's jar, a temporary lake."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
os.environ.setdefault("PYSPARK_PYTHON", os.sys.executable)
# Every JVM the tests start (the session below, spark-submit, the standalone cluster, notebook
# kernels, CLI subprocesses) compiles with C1 only: the suite runs many short JVMs on 2 busy cores,
# where C2's compilations cost more CPU than they save (bench/fixed_cost.py at 5,000 records,
# quiet machine: 108.3 -> 72.6 JVM CPU-s for the pipeline, wall 64.1 -> 67.9 s). The code cache is
# enlarged because C1-only code fills the default one (the JVM then stops compiling). Results do
# not depend on it; large runs (make bench) keep the JVM's default.
# They also build Spark's per-expression projections, predicates and orderings interpreted
# (spark.sql.codegen.factoryMode=NO_CODEGEN, read by Spark from the JVM's system properties; whole-
# stage code generation stays on): each of the suite's thousands of small queries otherwise
# compiles its own classes, which costs more than evaluating a few thousand rows. Measured on 52
# tests (ingest, runner, ledger, ids), idle 2-core machine: 367.9 -> 283.8 CPU-s, 178 -> 139 s wall.
# Production keeps Spark's default (code generated, interpreted as fallback); the golden ingest test
# switches it back for its session (tests/test_golden_ingest.py) so that the exact-output check
# runs the generated code a user runs.
os.environ.setdefault("JAVA_TOOL_OPTIONS", "-XX:TieredStopAtLevel=1 -XX:ReservedCodeCacheSize=512m "
                      "-Dspark.sql.codegen.factoryMode=NO_CODEGEN")

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    from pyspark.sql import SparkSession

    from padan.spark import local_session_conf

    conf = local_session_conf(master="local[2]", app_name="padan-tests", driver_memory="3g", ui_enabled=False,
                              shuffle_partitions=2,
                              warehouse_dir=str(tmp_path_factory.mktemp("warehouse")))
    builder = SparkSession.builder
    for key, value in conf.items():
        builder = builder.config(key, value)
    session = builder.config("spark.default.parallelism", "2").getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    session.sparkContext.setCheckpointDir(str(tmp_path_factory.mktemp("checkpoints")))
    yield session
    session.stop()


FIXTURE_EXTRACTS = REPO / "tests" / "fixtures" / "extracts"


def install_extracts(name: str, dest: Path) -> Path:
    """Copy the committed synthetic extract set `name` (scripts/make_test_extracts.py) to `dest`:
    p3ke/ and prakerja/ CSV, truth/ as Parquet (what `padan synth` writes) and the demo manifest.
    Tests read these instead of running the generator, which costs minutes of planning."""
    import pandas as pd

    src = FIXTURE_EXTRACTS / name
    dest.mkdir(parents=True, exist_ok=True)
    for source in ("p3ke", "prakerja"):
        shutil.copytree(src / source, dest / source)
    (dest / "truth").mkdir()
    pd.read_csv(src / "truth.csv", dtype=str).to_parquet(dest / "truth" / "part-00000.parquet", index=False)
    shutil.copy(src / "manifest.json", dest / "manifest.json")
    return dest


PIPELINE_P3KE_ROWS, PIPELINE_PRAKERJA_ROWS = 2000, 1500     # tests/fixtures/extracts/pipeline

# The model the tests pin (scripts/make_test_model.py trains it on the `increment` set with these
# overrides): tests that are not about training install it instead of training.
TEST_MODEL_DIR = REPO / "tests" / "fixtures" / "model"
TEST_MODEL_OVERRIDES = {"model": {"training": {"u_max_pairs": 100000}}}


def install_test_model(lake) -> str:
    """Install the pinned test model into `lake`; returns its version."""
    from padan.model.store import import_model

    (json_path,) = TEST_MODEL_DIR.glob("*.json")
    return import_model(lake, str(json_path))


@pytest.fixture(scope="session")
def pipeline_run(spark, tmp_path_factory):
    """One whole pipeline on the committed synthetic extracts into a temporary lake, shared by the integration
    modules (test_pipeline, test_report_html): (ctx, result, truth)."""
    from padan import config
    from padan.evaluate.metrics import truth_as_unique_ids
    from padan.stages import Ctx, run_pipeline

    root = tmp_path_factory.mktemp("pipeline")
    data = install_extracts("pipeline", root / "data")
    cfg = config.load(env="base", conf_dir=REPO / "conf", overrides={
        "lake": {"root": str(root / "lake")},
        "sources": {"p3ke": {"path": str(data / "p3ke")}, "prakerja": {"path": str(data / "prakerja")}},
        "model": {"training": {"u_max_pairs": 50000}},
    })
    ctx = Ctx.create(spark, cfg, run_date="2026-11-28")
    result = run_pipeline(ctx, train=True)
    truth = truth_as_unique_ids(spark.read.parquet(str(data / "truth")))
    return ctx, result, truth


@pytest.fixture
def cfg(tmp_path):
    """The base config with a temporary lake and demo folder."""
    from padan import config

    return config.load(env="base", conf_dir=REPO / "conf", overrides={
        "lake": {"root": str(tmp_path / "lake")},
        "demo": {"out": str(tmp_path / "data")},
    })


@pytest.fixture
def clean_spark(spark):
    """The session with temp views and cache reset after the test."""
    yield spark
    for table in spark.catalog.listTables():
        if table.isTemporary:
            spark.catalog.dropTempView(table.name)
    spark.catalog.clearCache()


# ---------------------------------------------------------------- parallel runs (pytest-xdist)
# `make test` runs the suite in two worker processes (`-n 2 --dist loadgroup`). Each worker has its
# own Spark session; a whole test file runs in one worker so its module fixtures are built once, and
# the files sharing the session-scoped `pipeline_run` fixture form one group so the pipeline runs
# once. Most of the suite's time is Spark/Delta latency (job scheduling, commits, JVM starts), not
# CPU, so two workers overlap well on two cores. The slowest groups are queued first (longest
# processing time first), so neither worker is left with a long group at the end.
SLOW_FIRST = ["test_notebooks", "test_increment", "pipeline", "test_engine", "test_reliability", "test_pseudonymise", "test_bench", "test_cluster_submit",
              "test_synth", "test_ingest", "test_airflow_dag"]


def _group(item) -> str:
    if "pipeline_run" in getattr(item, "fixturenames", ()):
        return "pipeline"
    return Path(str(item.fspath)).stem


# tryfirst: pytest-xdist's own modifyitems hook turns each item's xdist_group mark into the
# "@group" suffix of its node id, which is what --dist loadgroup schedules by; the marks must be on
# the items before it runs, or every test is scheduled alone and each worker builds the module and
# session fixtures it happens to need (the shared pipeline and increment lakes twice).
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    groups = {}
    for item in items:
        name = _group(item)
        groups.setdefault(name, []).append(item)
        item.add_marker(pytest.mark.xdist_group(name))
    rank = {name: i for i, name in enumerate(SLOW_FIRST)}
    order = sorted(groups, key=lambda g: (rank.get(g, len(rank)), list(groups).index(g)))
    items[:] = [item for g in order for item in groups[g]]



class _GroupCheck:
    """Fails the run when `--dist loadgroup` is not grouping (the marks above are not in the node
    ids xdist schedules by: pytest-xdist#1386 with pytest 9.2, which requirements.lock avoids), so a
    silently ungrouped run, which builds the shared lakes on both workers, cannot pass unnoticed."""

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config, items):
        if getattr(config.option, "loadgroup", False) and items and not all("@" in item.nodeid for item in items):
            raise pytest.UsageError("pytest-xdist --dist loadgroup is not grouping tests by xdist_group "
                                    "(see pytest-xdist#1386); install the versions in requirements.lock")


def pytest_configure(config):
    # declared here too, so a run without xdist (-p no:xdist) does not trip over the marks
    config.addinivalue_line("markers", "xdist_group(name): tests sharing one worker (pytest-xdist)")
    config.pluginmanager.register(_GroupCheck(), "padan-group-check")
