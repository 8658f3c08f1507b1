"""`make bench` (`python bench/harness.py`): padan's pipeline timed stage by stage on generated data, side by side with plain
Splink 5 on DuckDB and plain Splink 5 on Spark over the same standardised records and the same
model (comparisons, blocking rules, training rules), each scored against the generator's truth.

    results = run_bench(spark, cfg, records=100_000, work_dir="/tmp/padan-bench")
    path = write_result(results, "bench/results")
    update_docs("bench/results", "docs/BENCHMARKS.md")

The harness lives beside padan, not in it: `make package` ships neither it nor the generator.

A benchmark result holds aggregates only: seconds, row and pair counts, memory, accuracy.
While a step runs, a heartbeat line every `heartbeat` seconds names the system, the step, the
elapsed time, the rows it works on, Spark's task progress and the memory of the driver and the JVM.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import platform
import re
import shutil
import subprocess
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

logger = logging.getLogger(__name__)

P3KE_SHARE = 0.6
SYSTEMS = ("padan", "splink_duckdb", "splink_spark")
MiB = 1024 * 1024


# ---------------------------------------------------------------- sizes

def parse_size(text: str | int) -> int:
    """'100k' -> 100000, '1M' -> 1000000, '2.5M', '600' -> 600."""
    if isinstance(text, int):
        return text
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmM]?)\s*", str(text))
    if not m:
        raise ValueError(f"size must look like 600, 100k, 1M or 10M, not {text!r}")
    mult = {"": 1, "k": 1_000, "m": 1_000_000}[m.group(2).lower()]
    return int(round(float(m.group(1)) * mult))


def size_label(n: int) -> str:
    for unit, div in (("M", 1_000_000), ("k", 1_000)):
        if n >= div and n % div == 0:
            return f"{n // div}{unit}"
    return str(n)


# ---------------------------------------------------------------- memory and progress

def _jvm_processes():
    import psutil

    me = psutil.Process()
    return [p for p in me.children(recursive=True) if "java" in (p.name() or "")]


def worker_cpu_seconds() -> float:
    """CPU-seconds used so far by the Spark JVM's Python workers (the `mapInArrow` generator runs in
    them): every live non-JVM descendant of this process's JVMs, with the CPU of the children each
    has waited for (PySpark's daemon forks the workers and reaps them)."""
    total = 0.0
    for jvm in _jvm_processes():
        try:
            kids = jvm.children(recursive=True)
        except Exception:
            continue
        for p in kids:
            try:
                t = p.cpu_times()
                total += t.user + t.system + t.children_user + t.children_system
            except Exception:
                pass
    return total


def jvm_cpu_seconds() -> float:
    """CPU-seconds (user + system, all threads) the Spark JVM(s) of this process have used so far."""
    total = 0.0
    for p in _jvm_processes():
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except Exception:
            pass
    return total


@dataclass
class StepRecord:
    system: str
    name: str
    rows: int | None = None
    seconds: float = 0.0
    peak_driver_rss_mib: float = 0.0
    peak_jvm_rss_mib: float = 0.0
    jvm_cpu_seconds: float | None = None
    driver_cpu_seconds: float | None = None
    spark_jobs: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        d = {"seconds": round(self.seconds, 3), "rows": self.rows,
             "peak_driver_rss_mib": round(self.peak_driver_rss_mib), "peak_jvm_rss_mib": round(self.peak_jvm_rss_mib)}
        if self.jvm_cpu_seconds is not None:
            d["jvm_cpu_seconds"] = round(self.jvm_cpu_seconds, 1)
        if self.driver_cpu_seconds is not None:
            d["driver_cpu_seconds"] = round(self.driver_cpu_seconds, 1)
        if self.spark_jobs is not None:
            d["spark_jobs"] = self.spark_jobs
        d.update(self.extra)
        return d


class Monitor:
    """Polls the driver's (this Python process) and the JVM's resident memory, keeps peaks per step
    and overall, and logs a heartbeat while a step runs. Use as a context manager."""

    def __init__(self, spark=None, *, heartbeat: float = 30.0, poll: float = 0.5):
        import psutil

        self.spark = spark
        self.heartbeat = heartbeat
        self.poll = poll
        self._me = psutil.Process()
        self._jvms: list = []
        self._current: StepRecord | None = None
        self._started = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.peak_driver_rss_mib = 0.0
        self.peak_jvm_rss_mib = 0.0
        self.steps: list[StepRecord] = []

    def __enter__(self) -> "Monitor":
        self._thread = threading.Thread(target=self._loop, name="padan-bench-monitor", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)

    def sample(self) -> tuple[float, float]:
        driver = self._me.memory_info().rss / MiB
        jvm = 0.0
        if not self._jvms or not all(p.is_running() for p in self._jvms):
            try:
                self._jvms = _jvm_processes()
            except Exception:  # a process may end while we look
                self._jvms = []
        for p in self._jvms:
            try:
                jvm += p.memory_info().rss / MiB
            except Exception:
                pass
        self.peak_driver_rss_mib = max(self.peak_driver_rss_mib, driver)
        self.peak_jvm_rss_mib = max(self.peak_jvm_rss_mib, jvm)
        cur = self._current
        if cur is not None:
            cur.peak_driver_rss_mib = max(cur.peak_driver_rss_mib, driver)
            cur.peak_jvm_rss_mib = max(cur.peak_jvm_rss_mib, jvm)
        return driver, jvm

    def _spark_progress(self) -> str:
        if self.spark is None:
            return ""
        try:
            tracker = self.spark.sparkContext.statusTracker()
            done = total = 0
            for sid in tracker.getActiveStageIds():
                info = tracker.getStageInfo(sid)
                if info:
                    done += info.numCompletedTasks
                    total += info.numTasks
            return f" spark tasks {done}/{total}" if total else ""
        except Exception:
            return ""

    def _loop(self) -> None:
        last_beat = time.monotonic()
        while not self._stop.wait(self.poll):
            try:
                driver, jvm = self.sample()
            except Exception:
                continue
            cur = self._current
            now = time.monotonic()
            if cur is not None and now - last_beat >= self.heartbeat:
                last_beat = now
                rows = f" rows {cur.rows:,}" if cur.rows is not None else ""
                logger.info("bench: %s %s running %.0fs%s%s; driver %.0f MiB, jvm %.0f MiB", cur.system, cur.name,
                            now - self._started, rows, self._spark_progress(), driver, jvm)

    def _cpu(self) -> tuple[float, float]:
        """CPU-seconds (user + system, all threads) used so far by the JVM(s) and by this Python
        process (DuckDB runs inside it)."""
        t = self._me.cpu_times()
        return jvm_cpu_seconds(), t.user + t.system

    @contextmanager
    def step(self, system: str, name: str, rows: int | None = None) -> Iterator[StepRecord]:
        rec = StepRecord(system, name, rows)
        self._current, self._started = rec, time.monotonic()
        logger.info("bench: %s %s started%s", system, name, f" (rows {rows:,})" if rows is not None else "")
        group = f"bench-{system}-{name}"
        sc = self.spark.sparkContext if self.spark is not None else None
        if sc is not None:
            sc.setJobGroup(group, group)
        jvm0, drv0 = self._cpu()
        try:
            self.sample()
            yield rec
        finally:
            rec.seconds = time.monotonic() - self._started
            jvm1, drv1 = self._cpu()
            rec.jvm_cpu_seconds, rec.driver_cpu_seconds = jvm1 - jvm0, drv1 - drv0
            if sc is not None:
                rec.spark_jobs = len(sc.statusTracker().getJobIdsForGroup(group))
                sc.setJobGroup("bench-other", "bench-other")
            self.sample()
            self._current = None
            self.steps.append(rec)
            logger.info("bench: %s %s done in %.1fs%s; JVM CPU %.1fs, driver CPU %.1fs, %s Spark jobs; "
                        "peak driver %.0f MiB, jvm %.0f MiB", system, name,
                        rec.seconds, f" (rows {rec.rows:,})" if rec.rows is not None else "",
                        rec.jvm_cpu_seconds, rec.driver_cpu_seconds, rec.spark_jobs,
                        rec.peak_driver_rss_mib, rec.peak_jvm_rss_mib)

    def system_summary(self, system: str) -> dict[str, Any]:
        recs = [r for r in self.steps if r.system == system]
        return {"steps": {r.name: r.as_dict() for r in recs},
                "peak_driver_rss_mib": round(max((r.peak_driver_rss_mib for r in recs), default=0)),
                "peak_jvm_rss_mib": round(max((r.peak_jvm_rss_mib for r in recs), default=0))}


# ---------------------------------------------------------------- a work folder's config

def work_config(work: Path, spark: dict[str, Any]):
    """The base config over a benchmark work folder: its lake in WORK/lake (checkpoints in
    WORK/checkpoints), the extracts in WORK/data/p3ke and WORK/data/prakerja, `spark` settings."""
    from padan import config

    data = work / "data"
    return config.load(env="base", overrides={
        "lake": {"root": str(work / "lake"), "checkpoint_dir": str(work / "checkpoints")},
        "sources": {"p3ke": {"path": str(data / "p3ke")}, "prakerja": {"path": str(data / "prakerja")}},
        "spark": spark})


# ---------------------------------------------------------------- machine

def machine_info(spark=None) -> dict[str, Any]:
    import psutil

    def version(dist: str) -> str | None:
        from importlib.metadata import PackageNotFoundError, version as v

        try:
            return v(dist)
        except PackageNotFoundError:
            return None

    java = None
    try:
        out = subprocess.run(["java", "-version"], capture_output=True, text=True, timeout=30)
        java = (out.stderr or out.stdout).splitlines()[0].strip()
    except Exception:
        pass
    info = {
        "cores": os.cpu_count(), "ram_gib": round(psutil.virtual_memory().total / 1024**3, 1),
        "cpu": _cpu_model(), "os": platform.platform(), "python": platform.python_version(), "java": java,
        "spark": spark.version if spark is not None else version("pyspark"), "splink": version("splink"),
        "duckdb": version("duckdb"), "delta_spark": version("delta-spark"),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }
    if spark is not None:
        conf = spark.sparkContext.getConf()
        info["spark_master"] = spark.sparkContext.master
        info["spark_driver_memory"] = conf.get("spark.driver.memory", None)
        info["spark_shuffle_partitions"] = spark.conf.get("spark.sql.shuffle.partitions")
    return info


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


# ---------------------------------------------------------------- padan

def _bench_config(cfg, work: Path):
    return cfg.with_overrides({
        "lake": {"root": str(work / "lake")},
        "sources": {"p3ke": {"path": str(work / "data" / "p3ke")}, "prakerja": {"path": str(work / "data" / "prakerja")}},
    })


def run_padan(spark, cfg, mon: Monitor, *, truth_path: str, run_date: str) -> dict[str, Any]:
    """padan's stages as `padan pipeline --train` runs them, then `padan evaluate`."""
    from padan.stages import (Ctx, link_run_id, run_cluster, run_evaluate, run_ingest, run_marts, run_predict,
                              run_train)

    ctx = Ctx.create(spark, cfg, force=True, run_date=run_date)
    ingest = {}
    for source in sorted(cfg.sources):
        with mon.step("padan", f"ingest_{source}") as st:
            r = run_ingest(ctx, source)
            st.rows = r.rows_read
            st.extra.update(standardised=r.rows_standardised, rejected=r.rows_rejected)
            ingest[source] = r
    records = sum(r.rows_standardised for r in ingest.values())
    with mon.step("padan", "train", rows=records) as st:
        version = run_train(ctx)
        st.extra["m_method"] = cfg.model.training.m_method
    with mon.step("padan", "predict", rows=records) as st:
        run_id = link_run_id(ctx, version)
        pairs = run_predict(ctx, run_id, version)
        st.extra["pairs_kept"] = pairs
    with mon.step("padan", "cluster", rows=records) as st:
        counts = run_cluster(ctx, run_id)
        st.extra["persons"] = counts.get("persons")
    with mon.step("padan", "marts", rows=records) as st:
        marts = run_marts(ctx, run_id)
        st.extra["persons_both"] = marts.get("persons_both")
    with mon.step("padan", "evaluate", rows=records):
        rows = run_evaluate(ctx, run_id, truth_path)
    threshold = cfg.link.threshold_match_probability
    pair = next(r for r in rows if r["kind"] == "pairwise" and r["is_configured_threshold"])
    best = next(r for r in rows if r["is_best_f1"])
    cp = next(r for r in rows if r["kind"] == "cluster_pairwise")
    cb = next(r for r in rows if r["kind"] == "cluster_bcubed")
    accuracy = {"threshold": threshold, "pairwise_precision": pair["precision"], "pairwise_recall": pair["recall"],
                "pairwise_f1": pair["f1"], "best_f1": best["f1"], "best_f1_threshold": best["threshold"],
                "cluster_pairwise_precision": cp["precision"], "cluster_pairwise_recall": cp["recall"],
                "cluster_pairwise_f1": cp["f1"], "bcubed_precision": cb["precision"], "bcubed_recall": cb["recall"],
                "bcubed_f1": cb["f1"]}
    return {"ctx": ctx, "records": records, "pairs_kept": pairs, "persons": counts.get("persons"),
            "accuracy": accuracy, "model_version": version}


# ---------------------------------------------------------------- plain Splink

def _splink_training_and_linking(linker, mon: Monitor, system: str, model_cfg, *, records: int,
                                 min_probability: float, threshold: float):
    """Plain Splink, its own defaults: prior from the same deterministic rules, u by random sampling
    with the same max_pairs, m by EM over the same blocking rules, predict, connected components."""
    tr = model_cfg.training
    rules = [{"blocking_rule": r, "sql_dialect": "spark"} for r in tr.prior_rules]
    with mon.step(system, "prior", rows=records):
        linker.training.estimate_probability_two_random_records_match(rules, recall=tr.prior_recall)
    with mon.step(system, "u", rows=records) as st:
        linker.training.estimate_u_using_random_sampling(max_pairs=tr.u_max_pairs, seed=tr.u_seed)
        st.extra["max_pairs"] = tr.u_max_pairs
    with mon.step(system, "em", rows=records) as st:
        for rule in tr.em_blocking_rules:
            linker.training.estimate_parameters_using_expectation_maximisation(
                {"blocking_rule": rule, "sql_dialect": "spark"})
        st.extra["rules"] = len(tr.em_blocking_rules)
    with mon.step(system, "predict", rows=records) as st:
        predictions = linker.inference.predict(threshold_match_probability=min_probability)
        st.extra["pairs_kept"] = _count(predictions)
    with mon.step(system, "cluster", rows=records) as st:
        clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
            predictions, threshold_match_probability=threshold)
        st.extra["persons"] = _count(clusters, distinct="cluster_id")
    return predictions, clusters


def _count(sdf, distinct: str | None = None) -> int:
    """Rows (or distinct values) of a Splink result frame, in its own engine."""
    expr = f"count(DISTINCT {distinct})" if distinct else "count(*)"
    sql = f"SELECT {expr} AS n FROM {sdf.physical_name}"
    try:
        return int(sdf.db_api._execute_sql_against_backend(sql).fetchall()[0][0])   # DuckDB relation
    except AttributeError:
        return int(sdf.db_api._execute_sql_against_backend(sql).first()[0])      # Spark DataFrame


def run_splink_duckdb(silver_path: str, settings: dict[str, Any], model_cfg, mon: Monitor, *, sources: list[str],
                      work: Path, min_probability: float, threshold: float) -> dict[str, Any]:
    import duckdb
    from splink import DuckDBAPI, Linker

    system = "splink_duckdb"
    con = duckdb.connect(str(work / "splink_duckdb.db"))
    db_api = DuckDBAPI(connection=con)
    cols = [c for c in _columns(settings, model_cfg) if c != "source_dataset"]
    with mon.step(system, "load") as st:
        tables = []
        for src in sources:   # every result fetched to the end: Splink shares the connection
            con.execute(f"CREATE OR REPLACE TABLE in_{src} AS SELECT {', '.join(cols)} "
                        f"FROM read_parquet('{silver_path}/*.parquet') WHERE source_dataset = '{src}'").fetchall()
            tables.append(db_api.register(f"in_{src}", dataset_display_name=src))
        st.rows = sum(int(con.execute(f"SELECT count(*) FROM in_{s}").fetchall()[0][0]) for s in sources)
    records = st.rows
    from padan.model.splink_io import duckdb_settings

    linker = Linker(tables, duckdb_settings(settings), log_level=None)
    predictions, clusters = _splink_training_and_linking(linker, mon, system, model_cfg, records=records,
                                                         min_probability=min_probability, threshold=threshold)
    out = {"pairs": str(work / "splink_duckdb_pairs.parquet"), "clusters": str(work / "splink_duckdb_clusters.parquet")}
    con.execute(f"COPY (SELECT unique_id_l, unique_id_r, match_probability FROM {predictions.physical_name}) "
                f"TO '{out['pairs']}' (FORMAT parquet)").fetchall()
    con.execute(f"COPY (SELECT unique_id, cluster_id AS person_id FROM {clusters.physical_name}) "
                f"TO '{out['clusters']}' (FORMAT parquet)").fetchall()
    con.close()
    return {"records": records, "outputs": out}


def run_splink_spark(spark, silver_path: str, settings: dict[str, Any], model_cfg, mon: Monitor, *,
                     sources: list[str], min_probability: float, threshold: float) -> dict[str, Any]:
    from pyspark.sql import functions as F
    from splink import Linker, SparkAPI

    system = "splink_spark"
    db_api = SparkAPI(spark_session=spark)           # Splink's defaults (break_lineage_method, partitions)
    cols = [c for c in _columns(settings, model_cfg) if c != "source_dataset"]
    with mon.step(system, "load") as st:
        silver = spark.read.parquet(silver_path)
        tables = [db_api.register(silver.where(F.col("source_dataset") == src).select(*cols),
                                  dataset_display_name=src, table_name=f"bench_in_{src}_{int(time.time())}")
                  for src in sources]
        st.rows = silver.count()
    records = st.rows
    linker = Linker(tables, settings, log_level=None)
    predictions, clusters = _splink_training_and_linking(linker, mon, system, model_cfg, records=records,
                                                         min_probability=min_probability, threshold=threshold)
    pairs = predictions.as_spark_dataframe().select("unique_id_l", "unique_id_r", "match_probability")
    assign = clusters.as_spark_dataframe().select("unique_id", F.col("cluster_id").alias("person_id"))
    return {"records": records, "pairs_df": pairs, "clusters_df": assign}


def _columns(settings: dict[str, Any], model_cfg) -> list[str]:
    from padan.model.settings import model_columns

    return model_columns(model_cfg)


def accuracy_of(pairs, assignments, truth, threshold: float) -> dict[str, float]:
    """Pairwise P/R/F1 at `threshold` and cluster metrics, with padan.evaluate.metrics."""
    from padan.evaluate.metrics import cluster_metrics, pair_metrics_by_threshold

    curve = pair_metrics_by_threshold(pairs, truth, [threshold, 0.5, 0.99])
    pair = curve[0]
    cm = cluster_metrics(assignments, truth)
    return {"threshold": threshold, "pairwise_precision": pair["precision"], "pairwise_recall": pair["recall"],
            "pairwise_f1": pair["f1"], "best_f1": max(r["f1"] for r in curve),
            "best_f1_threshold": max(curve, key=lambda r: r["f1"])["threshold"],
            "cluster_pairwise_precision": cm.pairwise_precision, "cluster_pairwise_recall": cm.pairwise_recall,
            "cluster_pairwise_f1": cm.pairwise_f1, "bcubed_precision": cm.bcubed_precision,
            "bcubed_recall": cm.bcubed_recall, "bcubed_f1": cm.bcubed_f1}


# ---------------------------------------------------------------- the whole benchmark

# Steps that make up each system's linking time (same work: train on the standardised records,
# score the blocked pairs, cluster) and its whole time.
LINK_STEPS = {"padan": ("train", "predict", "cluster"),
              "splink_duckdb": ("load", "prior", "u", "em", "predict", "cluster"),
              "splink_spark": ("load", "prior", "u", "em", "predict", "cluster")}
PIPELINE_STEPS = {"padan": ("ingest_p3ke", "ingest_prakerja", "train", "predict", "cluster", "marts")}


def run_bench(spark, cfg, *, records: int, work_dir: str | Path, seed: int = 42, profile: str = "typical",
              systems: tuple[str, ...] = SYSTEMS, heartbeat: float = 30.0, p3ke_share: float = P3KE_SHARE,
              keep_work: bool = False) -> dict[str, Any]:
    """Generate `records` records (P3KE share `p3ke_share`), run padan and plain Splink on them.
    Returns the result dict (aggregates only)."""
    from pyspark.sql import functions as F

    from padan.evaluate.metrics import truth_as_unique_ids
    from padan.model.blocking import count_comparisons
    from padan.model.settings import untrained_settings
    from padan_synth import write_extracts
    from padan.tables import PERSONS

    unknown = set(systems) - set(SYSTEMS)
    if unknown:
        raise ValueError(f"unknown systems {sorted(unknown)}; known: {list(SYSTEMS)}")
    work = Path(work_dir).resolve()
    _clean(work)
    p3ke_rows = int(round(records * p3ke_share))
    prakerja_rows = records - p3ke_rows
    cfg = _bench_config(cfg, work)
    run_date = dt.date.today().isoformat()
    threshold = cfg.link.threshold_match_probability
    min_probability = cfg.link.min_pair_probability
    result: dict[str, Any] = {
        "kind": "bench", "size": size_label(records), "records": records, "p3ke_rows": p3ke_rows,
        "prakerja_rows": prakerja_rows, "profile": profile, "seed": seed,
        "started_at": dt.datetime.now().isoformat(timespec="seconds"), "machine": machine_info(spark),
        "model": {"threshold_match_probability": threshold, "min_pair_probability": min_probability,
                  "u_max_pairs": cfg.model.training.u_max_pairs, "padan_m_method": cfg.model.training.m_method,
                  "blocking_rules": len(cfg.model.blocking_rules),
                  "em_blocking_rules": len(cfg.model.training.em_blocking_rules)},
        "systems": {},
    }
    t_all = time.monotonic()
    with Monitor(spark, heartbeat=heartbeat) as mon:
        with mon.step("data", "synth", rows=records) as st:
            w = write_extracts(spark, str(work / "data"), p3ke_rows=p3ke_rows, prakerja_rows=prakerja_rows, seed=seed,
                               profile=profile, fmt="csv")
            st.extra["format"] = "csv"
        truth_path = w["paths"]["truth"]

        padan = run_padan(spark, cfg, mon, truth_path=truth_path, run_date=run_date)
        ctx = padan.pop("ctx")
        sources = sorted(cfg.sources)

        # The same standardised records for everybody: silver.persons, exported once.
        silver_path = str(work / "silver_persons")
        with mon.step("data", "export_silver") as st:
            cols = _columns({}, cfg.model)
            ctx.lake.read(PERSONS.name).select(*cols, "source_dataset").write.mode("overwrite").parquet(silver_path)
            st.rows = spark.read.parquet(silver_path).count()
        with mon.step("data", "count_candidate_pairs") as st:
            per_rule = count_comparisons(ctx, cfg.model)
            st.rows = sum(n for _, n in per_rule)
        candidates = st.rows
        result["candidate_pairs"] = candidates
        result["candidate_pairs_by_rule"] = [n for _, n in per_rule]

        settings = untrained_settings(cfg.model)
        truth = truth_as_unique_ids(spark.read.parquet(truth_path)).cache()
        outputs: dict[str, Any] = {}
        if "splink_duckdb" in systems:
            outputs["splink_duckdb"] = run_splink_duckdb(silver_path, settings, cfg.model, mon, sources=sources,
                                                         work=work, min_probability=min_probability,
                                                         threshold=threshold)
        if "splink_spark" in systems:
            outputs["splink_spark"] = run_splink_spark(spark, silver_path, settings, cfg.model, mon, sources=sources,
                                                       min_probability=min_probability, threshold=threshold)
        accuracy = {"padan": padan["accuracy"]}
        with mon.step("data", "accuracy_of_baselines"):
            if "splink_duckdb" in outputs:
                o = outputs["splink_duckdb"]["outputs"]
                accuracy["splink_duckdb"] = accuracy_of(spark.read.parquet(o["pairs"]), spark.read.parquet(o["clusters"]),
                                                        truth, threshold)
            if "splink_spark" in outputs:
                o = outputs["splink_spark"]
                accuracy["splink_spark"] = accuracy_of(o["pairs_df"], o["clusters_df"], truth, threshold)
        truth.unpersist()

        for system in ("padan", *[s for s in SYSTEMS if s in outputs]):
            summary = mon.system_summary(system)
            steps = summary["steps"]
            link_s = sum(steps[s]["seconds"] for s in LINK_STEPS[system] if s in steps)
            total_s = sum(v["seconds"] for v in steps.values())
            predict_s = steps["predict"]["seconds"]
            summary.update(
                link_seconds=round(link_s, 2), total_seconds=round(total_s, 2),
                pairs_kept=steps["predict"].get("pairs_kept"), persons=steps["cluster"].get("persons"),
                candidate_pairs_per_second=round(candidates / predict_s) if predict_s else None,
                accuracy=accuracy[system])
            if system == "padan":
                summary["pipeline_seconds"] = round(sum(steps[s]["seconds"] for s in PIPELINE_STEPS["padan"]), 2)
                summary["model_version"] = padan["model_version"]
            result["systems"][system] = summary
        result["data_steps"] = mon.system_summary("data")["steps"]
        result["peak_driver_rss_mib"] = round(mon.peak_driver_rss_mib)
        result["peak_jvm_rss_mib"] = round(mon.peak_jvm_rss_mib)
    result["wall_seconds"] = round(time.monotonic() - t_all, 1)
    result["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    p = result["systems"]["padan"]
    result["ratios"] = {
        f"padan_link_vs_{s}": round(p["link_seconds"] / result["systems"][s]["link_seconds"], 3)
        for s in result["systems"] if s != "padan" and result["systems"][s]["link_seconds"]}
    result["ratios"].update({
        f"padan_pipeline_vs_{s}": round(p["pipeline_seconds"] / result["systems"][s]["link_seconds"], 3)
        for s in result["systems"] if s != "padan" and result["systems"][s]["link_seconds"]})
    if not keep_work:
        _clean(work)
    return result


WORK_ITEMS = ("data", "lake", "silver_persons", "splink_duckdb.db", "splink_duckdb.db.wal",
              "splink_duckdb_pairs.parquet", "splink_duckdb_clusters.parquet")


def _clean(work: Path) -> None:
    """Remove what a benchmark writes into `work` (not the Spark checkpoint folder a session may use)."""
    work.mkdir(parents=True, exist_ok=True)
    for name in WORK_ITEMS:
        p = work / name
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()


# ---------------------------------------------------------------- synth throughput

def run_synth_bench(spark, *, rows_per_source: int, work_dir: str | Path, fmt: str = "parquet", seed: int = 42,
                    profile: str = "typical", heartbeat: float = 30.0, keep_work: bool = False,
                    writer: str = "spark") -> dict[str, Any]:
    """write_extracts of `rows_per_source` rows per source: rows per second, peak memory, the CPU-seconds
    of the JVM and of its Python workers (where the vectorised generator runs)."""
    from padan_synth import write_extracts

    work = Path(work_dir).resolve()
    _clean(work)
    result: dict[str, Any] = {"kind": "synth", "size": size_label(rows_per_source), "rows_per_source": rows_per_source,
                              "format": fmt, "writer": writer, "profile": profile, "seed": seed,
                              "started_at": dt.datetime.now().isoformat(timespec="seconds"),
                              "machine": machine_info(spark)}
    workers0 = worker_cpu_seconds()
    with Monitor(spark, heartbeat=heartbeat) as mon:
        with mon.step("synth", "write_extracts", rows=2 * rows_per_source) as st:
            w = write_extracts(spark, str(work / "data"), p3ke_rows=rows_per_source, prakerja_rows=rows_per_source,
                               seed=seed, profile=profile, fmt=fmt, writer=writer)
    workers = worker_cpu_seconds() - workers0
    secs = st.seconds
    result.update(seconds=round(secs, 1), seconds_by_output=w["seconds"],
                  rows_per_second=round(2 * rows_per_source / secs), peak_driver_rss_mib=round(st.peak_driver_rss_mib),
                  peak_jvm_rss_mib=round(st.peak_jvm_rss_mib), bytes_written=_du(work / "data"),
                  jvm_cpu_seconds=round(st.jvm_cpu_seconds or 0.0, 1), worker_cpu_seconds=round(workers, 1),
                  spark_jobs=st.spark_jobs)
    result["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    if not keep_work:
        _clean(work)
    return result


def _du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


# ---------------------------------------------------------------- results and docs

def write_result(result: dict[str, Any], results_dir: str | Path) -> Path:
    folder = Path(results_dir)
    folder.mkdir(parents=True, exist_ok=True)
    date = result["started_at"][:10]
    name = f"{date}-{result['size']}.json" if result["kind"] == "bench" else \
        f"{date}-synth-{result['size']}-{result['format']}" \
        f"{'-arrow' if result.get('writer') == 'arrow' else ''}.json"
    path = folder / name
    path.write_text(json.dumps(result, indent=2, sort_keys=False) + "\n")
    logger.info("bench: wrote %s", path)
    return path


def load_results(results_dir: str | Path) -> list[dict[str, Any]]:
    out = []
    for p in sorted(Path(results_dir).glob("*.json")):
        try:
            d = json.loads(p.read_text())
        except ValueError:
            continue
        d["_file"] = p.name
        out.append(d)
    return out


def _fmt_s(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:,.0f}" if x >= 100 else f"{x:.1f}"


def _fmt_n(x: int | None) -> str:
    return "-" if x is None else f"{x:,}"


def _fmt_p(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def bench_tables(results: list[dict[str, Any]]) -> str:
    benches = [r for r in results if r.get("kind") == "bench"]
    benches.sort(key=lambda r: (r["records"], r["started_at"]))
    if not benches:
        return "_No benchmark run recorded yet: `make bench`._\n"
    lines = ["### Time (seconds) and speed", "",
             "| result | records | system | steps (s) | link s | whole s | padan ratio (link) | padan pipeline ratio "
             "| candidate pairs/s in predict | pairs kept | peak driver MiB | peak JVM MiB |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in benches:
        p = r["systems"]["padan"]
        for name, s in r["systems"].items():
            steps = ", ".join(f"{k} {_fmt_s(v['seconds'])}" for k, v in s["steps"].items())
            if name == "padan":
                ratio, pratio, whole = "1", "1", s.get("pipeline_seconds")
            else:
                ratio = f"{p['link_seconds'] / s['link_seconds']:.2f}" if s["link_seconds"] else "-"
                pratio = f"{p['pipeline_seconds'] / s['link_seconds']:.2f}" if s["link_seconds"] else "-"
                whole = s["link_seconds"]
            pps = s.get("candidate_pairs_per_second")
            lines.append(
                f"| {r['_file'] if '_file' in r else r['size']} | {r['records']:,} | {name} | {steps} | "
                f"{_fmt_s(s['link_seconds'])} | {_fmt_s(whole)} | {ratio} | {pratio} | "
                f"{'-' if pps is None else f'{pps:,}'} | {s.get('pairs_kept') or 0:,} | "
                f"{s['peak_driver_rss_mib']:,} | {s['peak_jvm_rss_mib']:,} |")
    lines += ["", "### Accuracy against the generator's truth", "",
              "| result | records | system | pairwise P | pairwise R | pairwise F1 | best F1 (threshold) "
              "| cluster P | cluster R | cluster F1 | B-cubed F1 | persons |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in benches:
        for name, s in r["systems"].items():
            a = s["accuracy"]
            lines.append(
                f"| {r.get('_file', r['size'])} | {r['records']:,} | {name} | {_fmt_p(a['pairwise_precision'])} | "
                f"{_fmt_p(a['pairwise_recall'])} | {_fmt_p(a['pairwise_f1'])} | {_fmt_p(a['best_f1'])} "
                f"({a['best_f1_threshold']}) | {_fmt_p(a['cluster_pairwise_precision'])} | "
                f"{_fmt_p(a['cluster_pairwise_recall'])} | {_fmt_p(a['cluster_pairwise_f1'])} | "
                f"{_fmt_p(a['bcubed_f1'])} | {s.get('persons') or 0:,} |")
    costed = [r for r in benches if any("jvm_cpu_seconds" in v for s in r["systems"].values()
                                        for v in s["steps"].values())]
    if costed:
        lines += ["", "### CPU-seconds and Spark jobs per step", "",
                  "JVM CPU-s: the Spark JVM's user + system time over the step (all threads: tasks, planning, GC); "
                  "driver CPU-s: the Python process's (DuckDB runs inside it); jobs: Spark jobs in the step's job "
                  "group. They survive a shared machine better than seconds.", "",
                  "| result | records | system | per step: JVM CPU-s / driver CPU-s / Spark jobs | link JVM+driver CPU-s "
                  "| link Spark jobs |",
                  "|---|---|---|---|---|---|"]
        for r in costed:
            for name, s in r["systems"].items():
                st = s["steps"]
                cells = ", ".join(f"{k} {_fmt_s(v.get('jvm_cpu_seconds'))} / {_fmt_s(v.get('driver_cpu_seconds'))} / "
                                  f"{v.get('spark_jobs', '-')}" for k, v in st.items())
                link = [st[k] for k in LINK_STEPS[name] if k in st]
                cpu = sum((v.get("jvm_cpu_seconds") or 0) + (v.get("driver_cpu_seconds") or 0) for v in link)
                jobs = sum(v.get("spark_jobs") or 0 for v in link)
                lines.append(f"| {r.get('_file', r['size'])} | {r['records']:,} | {name} | {cells} | {_fmt_s(cpu)} "
                             f"| {jobs:,} |")
    lines += ["", "### Machine and data per result", "",
              "| result | cores | RAM GiB | Java | Spark | Splink | DuckDB | driver memory | load avg start / end "
              "| synth s | candidate pairs | wall s |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in benches:
        m = r["machine"]
        la = f"{m['load_average_at_start'][0]} / {m.get('load_average_at_end', ['-'])[0]}"
        lines.append(f"| {r.get('_file', r['size'])} | {m['cores']} | {m['ram_gib']} | {m['java']} | {m['spark']} | "
                     f"{m['splink']} | {m['duckdb']} | {m.get('spark_driver_memory')} | {la} | "
                     f"{_fmt_s(r['data_steps']['synth']['seconds'])} | {r['candidate_pairs']:,} | "
                     f"{_fmt_s(r['wall_seconds'])} |")
    return "\n".join(lines) + "\n"


def synth_table(results: list[dict[str, Any]]) -> str:
    synth = [r for r in results if r.get("kind") == "synth"]
    synth.sort(key=lambda r: (r["rows_per_source"], r["format"], r.get("writer", "spark"), r["started_at"]))
    if not synth:
        return "_No synth throughput recorded yet: `python bench/harness.py --synth-rows N`._\n"
    lines = ["| result | rows per source | rows in total | format (writer) | seconds (p3ke / prakerja / truth) | total s "
             "| rows/s | CPU-s: JVM / Python workers | peak driver MiB | peak JVM MiB | driver memory | written MiB "
             "| load avg start / end |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in synth:
        s = r["seconds_by_output"]
        m = r["machine"]
        lines.append(
            f"| {r.get('_file', r['size'])} | {r['rows_per_source']:,} | {2 * r['rows_per_source']:,} | "
            f"{r['format']} ({r.get('writer', 'spark')}) | "
            f"{_fmt_s(s.get('p3ke'))} / {_fmt_s(s.get('prakerja'))} / {_fmt_s(s.get('truth'))} | {_fmt_s(r['seconds'])} | "
            f"{r['rows_per_second']:,} | {_fmt_s(r.get('jvm_cpu_seconds'))} / {_fmt_s(r.get('worker_cpu_seconds'))} | "
            f"{_fmt_n(r.get('peak_driver_rss_mib'))} | {_fmt_n(r.get('peak_jvm_rss_mib'))} | "
            f"{m.get('spark_driver_memory')} | {_fmt_n(r.get('bytes_written') and r['bytes_written'] // MiB)} | "
            f"{m['load_average_at_start'][0]} / {m.get('load_average_at_end', ['-'])[0]} |")
    return "\n".join(lines) + "\n"


def _replace_block(text: str, name: str, body: str) -> str:
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{body}{end}"
    if start in text and end in text:
        return re.sub(re.escape(start) + r".*?" + re.escape(end), lambda _: block, text, flags=re.DOTALL)
    return text.rstrip("\n") + "\n\n" + block + "\n"


def update_docs(results_dir: str | Path, benchmarks_md: str | Path, synth_md: str | Path | None = None) -> None:
    """Regenerate the tables in docs/BENCHMARKS.md (and the throughput table in docs/SYNTH.md)
    from every result file in `results_dir`."""
    results = load_results(results_dir)
    doc = Path(benchmarks_md)
    text = doc.read_text() if doc.exists() else "# Benchmarks\n"
    text = _replace_block(text, "bench-results", bench_tables(results))
    text = _replace_block(text, "synth-results", synth_table(results))
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(text)
    if synth_md and Path(synth_md).exists():
        s = Path(synth_md).read_text()
        if "THROUGHPUT_TABLE" in s:
            s = s.replace("THROUGHPUT_TABLE", "<!-- synth-results:start -->\n<!-- synth-results:end -->")
        if "<!-- synth-results:start -->" in s:
            Path(synth_md).write_text(_replace_block(s, "synth-results", synth_table(results)))


# ---------------------------------------------------------------- command line

def add_arguments(p) -> None:
    p.add_argument("--size", default="100k", help="records in total across both sources: 100k, 1M, 10M, 600, ... "
                   f"(P3KE {int(P3KE_SHARE * 100)}%%, Prakerja the rest)")
    p.add_argument("--systems", default=",".join(SYSTEMS), help=f"comma-separated subset of {','.join(SYSTEMS)} "
                   "(padan always runs)")
    p.add_argument("--work", default=None, help="work folder for data, lake and engine files "
                   "(default: $PADAN_BENCH_WORK or /tmp/padan-bench); emptied first")
    p.add_argument("--results", default="bench/results", help="folder for <date>-<size>.json")
    p.add_argument("--doc", default="docs/BENCHMARKS.md", help="document whose tables are regenerated ('' for none)")
    p.add_argument("--driver-memory", default=None, help="spark.driver.memory of the local session (e.g. 12g)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--profile", default="typical")
    p.add_argument("--heartbeat", type=float, default=30.0, help="seconds between progress lines")
    p.add_argument("--keep-work", action="store_true", help="keep the generated data, lake and engine files")
    p.add_argument("--synth-rows", default=None, help="measure only the generator: this many rows PER SOURCE")
    p.add_argument("--format", choices=["csv", "parquet"], default="parquet", help="extract format for --synth-rows")
    p.add_argument("--writer", choices=["spark", "arrow"], default="spark",
                   help="for --synth-rows: Spark's writers, or part files written by the tasks with pyarrow "
                        "(local or shared file systems only)")


def cmd_bench(args, cfg) -> int:
    """Run, write the JSON result, regenerate the doc tables, print a summary."""
    from padan.spark import spark_from_config

    work = Path(args.work or os.environ.get("PADAN_BENCH_WORK") or "/tmp/padan-bench").resolve()
    if work.exists():
        shutil.rmtree(work)
    overrides: dict[str, Any] = {"lake": {"root": str(work / "lake"), "checkpoint_dir": str(work / "checkpoints")}}
    if args.driver_memory:
        overrides["spark"] = {"driver_memory": args.driver_memory}
    cfg = cfg.with_overrides(overrides)
    spark = spark_from_config(cfg, "padan-bench")
    if args.synth_rows:
        result = run_synth_bench(spark, rows_per_source=parse_size(args.synth_rows), work_dir=work, fmt=args.format,
                                 seed=args.seed, profile=args.profile, heartbeat=args.heartbeat,
                                 keep_work=args.keep_work, writer=args.writer)
    else:
        systems = ("padan", *[s.strip() for s in args.systems.split(",") if s.strip() and s.strip() != "padan"])
        result = run_bench(spark, cfg, records=parse_size(args.size), work_dir=work, seed=args.seed,
                           profile=args.profile, systems=systems, heartbeat=args.heartbeat, keep_work=args.keep_work)
    result["code"] = _code_state()
    path = write_result(result, args.results)
    if args.doc:
        synth_md = Path(args.doc).parent / "SYNTH.md"
        update_docs(args.results, args.doc, synth_md if synth_md.exists() else None)
    print(summary_text(result))
    print(f"result: {path}")
    return 0


def main(argv=None) -> int:
    import argparse
    import sys

    from padan import config as config_mod
    from padan import logs

    p = argparse.ArgumentParser(prog="bench/harness.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--env", default=None, help="config environment (default: $PADAN_ENV or local)")
    p.add_argument("--conf-dir", default=None, help="config folder (default: the checkout's conf/)")
    add_arguments(p)
    args = p.parse_args(argv)
    # The generator runs numpy inside Spark's Python workers: they must use this interpreter.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    cfg = config_mod.load(env=args.env, conf_dir=args.conf_dir)
    logs.configure_from(cfg.logging)
    return cmd_bench(args, cfg)


def _code_state() -> dict[str, Any]:
    """The commit benchmarked, and whether the working tree had uncommitted changes."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                timeout=10).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                                    text=True, timeout=10).stdout.strip())
        return {"commit": commit or None, "uncommitted_changes": dirty}
    except Exception:
        return {"commit": None, "uncommitted_changes": None}


def summary_text(result: dict[str, Any]) -> str:
    if result["kind"] == "synth":
        return (f"synth {result['rows_per_source']:,} rows per source ({result['format']}, "
                f"{result.get('writer', 'spark')} writer): {result['seconds']:.0f}s, "
                f"{result['rows_per_second']:,} rows/s, JVM CPU {result.get('jvm_cpu_seconds', '-')}s, Python workers' CPU "
                f"{result.get('worker_cpu_seconds', '-')}s, peak driver {result['peak_driver_rss_mib']:,} MiB, "
                f"JVM {result['peak_jvm_rss_mib']:,} MiB")
    lines = [f"bench {result['size']} ({result['records']:,} records, {result['candidate_pairs']:,} candidate pairs)"]
    for name, s in result["systems"].items():
        a = s["accuracy"]
        extra = f" pipeline {s['pipeline_seconds']:.0f}s" if "pipeline_seconds" in s else ""
        lines.append(f"  {name:<14} link {s['link_seconds']:>8.1f}s{extra}  pairwise P/R/F1 "
                     f"{a['pairwise_precision']:.3f}/{a['pairwise_recall']:.3f}/{a['pairwise_f1']:.3f}  "
                     f"peak driver {s['peak_driver_rss_mib']:,} MiB, JVM {s['peak_jvm_rss_mib']:,} MiB")
    for k, v in result["ratios"].items():
        lines.append(f"  {k:<40} {v:.2f}")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
