"""Ingest cost per source next to a floor measured in the same JVM.

For each source (P3KE, Prakerja): the floor is Spark reading the same CSV files (header, every
column a string) and writing them unchanged to a new Delta table; then `run_ingest` of the same
files into a fresh lake (contract check, bronze, standardisation, silver.persons, ops.rejects,
quality profile, ledger). Reports wall seconds, JVM CPU-seconds (the whole local JVM: driver and
executor threads), Spark jobs, rows per second and rows per CPU-second, and the ratio to the floor;
the CPU-seconds split by JVM thread kind: Spark tasks, the JIT compiler, garbage collection, other
(driver planning, Delta commits).

The CSV extracts are made once with `padan_synth.write_extracts` and
reused: keep them outside the repository.

    PYTHONPATH=src .venv/bin/python bench/ingest.py --data /tmp/ingest-bench/100k --rows 100000 \
        --out bench/results/<date>-ingest-100k.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCES = ("p3ke", "prakerja")


def session(driver_memory: str, cores: int, java_opts: str = ""):
    from pyspark.sql import SparkSession

    from padan.spark import local_session_conf

    conf = local_session_conf(master=f"local[{cores}]", app_name="padan-bench-ingest", driver_memory=driver_memory,
                              ui_enabled=False, shuffle_partitions=cores,
                              warehouse_dir=tempfile.mkdtemp(prefix="padan-bench-wh-"))
    if java_opts:
        conf["spark.driver.extraJavaOptions"] = f"{conf.get('spark.driver.extraJavaOptions', '')} {java_opts}".strip()
    builder = SparkSession.builder
    for k, v in conf.items():
        builder = builder.config(k, v)
    spark = builder.config("spark.default.parallelism", str(cores)).getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


THREAD_KINDS = {"spark_tasks": ("Executor task",), "jit_compiler": ("C1 Compiler", "C2 Compiler"),
                "gc": ("GC Thread", "G1 ")}
"""JVM thread name prefixes per kind of work (HotSpot, G1; Spark's task threads). The rest ('other'):
the driver's planning and Delta commits (py4j threads), schedulers, listeners."""


class Meter:
    """Wall seconds, JVM process CPU-seconds and Spark jobs of one block."""

    def __init__(self, spark, name: str):
        self.spark, self.name = spark, name
        self.pid = int(spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid())

    def _cpu(self) -> float:
        """CPU-seconds (user + system, all threads) of the JVM process, from /proc (Linux)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def _poll(self) -> None:
        """CPU-seconds per JVM thread (`/proc/<pid>/task/*/stat`), read every half second while the
        block runs: Spark's task threads end after a minute idle, and a thread's CPU is kept as last
        read (a thread that ended within half a second of a read loses that bit to 'other')."""
        while True:
            self._read_threads()
            if self._stop.wait(0.5):
                self._read_threads()
                return

    def _read_threads(self, first: bool = False) -> None:
        for stat in Path(f"/proc/{self.pid}/task").glob("*/stat"):
            try:
                text = stat.read_text()
            except OSError:
                continue
            name = text[text.index("(") + 1:text.rindex(")")]
            fields = text.rsplit(")", 1)[1].split()
            cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            # a thread started inside the block counts from zero
            start = self._seen[stat.parent.name][2] if stat.parent.name in self._seen else (cpu if first else 0.0)
            self._seen[stat.parent.name] = (name, cpu, start)

    def _threads(self) -> dict[str, float]:
        """CPU-seconds per kind of thread used inside the block (first read at the start)."""
        out = {k: 0.0 for k in THREAD_KINDS}
        for name, cpu, start in self._seen.values():
            kind = next((k for k, prefixes in THREAD_KINDS.items() if name.startswith(prefixes)), None)
            if kind:
                out[kind] += cpu - start
        return out

    def __enter__(self):
        self.spark.sparkContext.setJobGroup(self.name, self.name)
        self._seen: dict[str, tuple[str, float, float]] = {}   # thread id -> (name, CPU-s last read, at first read)
        self._read_threads(first=True)
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll, daemon=True)
        self._poller.start()
        self.cpu0, self.t0 = self._cpu(), time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.t0
        self.cpu = self._cpu() - self.cpu0
        self._stop.set()
        self._poller.join()
        self.threads = self._threads()
        self.jobs = len(self.spark.sparkContext.statusTracker().getJobIdsForGroup(self.name))
        self.spark.sparkContext.setJobGroup("bench-other", "bench-other")
        return False

    def result(self, rows: int) -> dict:
        return {"wall_s": round(self.wall, 1), "jvm_cpu_s": round(self.cpu, 1), "spark_jobs": self.jobs, "rows": rows,
                "rows_per_s": round(rows / self.wall) if self.wall else None,
                "rows_per_cpu_s": round(rows / self.cpu) if self.cpu else None,
                "cpu_s_by_thread": {**{k: round(v, 1) for k, v in self.threads.items()},
                                    "other": round(self.cpu - sum(self.threads.values()), 1)}}


def floor(spark, source: str, data: Path, out: Path) -> dict:
    with Meter(spark, f"floor-{source}") as m:
        df = spark.read.option("header", True).option("encoding", "UTF-8").csv(str(data / source))
        df.write.format("delta").mode("overwrite").save(str(out / f"floor-{source}"))
    rows = spark.read.format("delta").load(str(out / f"floor-{source}")).count()
    return m.result(rows)


def generated_methods(spark) -> dict:
    """The largest method Spark has generated in this JVM so far (bytes of bytecode) and how many
    of the sampled generated methods are above 8,000 bytes (HotSpot leaves such a method
    interpreted unless -XX:-DontCompileHugeMethods). From Spark's codegen metrics, a sampled
    histogram of every compiled method's size."""
    metrics = spark.sparkContext._jvm.org.apache.spark.metrics.source.CodegenMetrics
    snap = metrics.METRIC_GENERATED_METHOD_BYTECODE_SIZE().getSnapshot()
    return {"max_generated_method_bytes": int(snap.getMax()),
            "generated_methods_over_8000_bytes": sum(1 for v in snap.getValues() if v > 8000)}


def ingest(ctx, source: str, data: Path) -> dict:
    from padan.stages import run_ingest

    with Meter(ctx.spark, f"ingest-{source}") as m:
        r = run_ingest(ctx, source, path=str(data / source), batch_id="bench")
    out = m.result(r.rows_read)
    out.update(standardised=r.rows_standardised, rejected=r.rows_rejected, **generated_methods(ctx.spark))
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="folder with p3ke/ and prakerja/ CSV extracts (made if missing)")
    p.add_argument("--rows", type=int, default=100_000, help="rows per source when the extracts are generated")
    p.add_argument("--work", help="scratch folder for the lakes (default: a temporary folder, removed)")
    p.add_argument("--driver-memory", default="3g")
    p.add_argument("--cores", type=int, default=2)
    p.add_argument("--label", default="", help="a note stored with the result (e.g. 'before', 'after')")
    p.add_argument("--out", help="write the result JSON here")
    p.add_argument("--lookup-min-rows", type=int,
                   help="override padan.stages.ingest.LOOKUP_MIN_ROWS (0: lookups at any size; a huge value: per-row)")
    p.add_argument("--java-opts", default="", help="JVM options added to the driver's (e.g. JIT settings)")
    p.add_argument("--sources", default=",".join(SOURCES), help="comma-separated sources to ingest (default: both)")
    p.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE",
                   help="a Spark SQL setting for the session (repeatable), e.g. "
                        "spark.sql.codegen.methodSplitThreshold=256")
    a = p.parse_args(argv)

    from padan import config

    spark = session(a.driver_memory, a.cores, a.java_opts)
    sources = tuple(x for x in a.sources.split(",") if x)
    for kv in a.conf:
        k, _, v = kv.partition("=")
        spark.conf.set(k, v)
    if a.lookup_min_rows is not None:
        import padan.stages.ingest as stage

        stage.LOOKUP_MIN_ROWS = a.lookup_min_rows
    data = Path(a.data)
    if not all((data / s).exists() for s in SOURCES):
        from padan_synth import write_extracts

        write_extracts(spark, str(data), p3ke_rows=a.rows, prakerja_rows=a.rows, seed=7, profile="typical")
    work = Path(a.work or tempfile.mkdtemp(prefix="padan-bench-ingest-"))
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    try:
        result = {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "label": a.label,
                  "cores": a.cores, "driver_memory": a.driver_memory, "data": str(data), "machine_cores": os.cpu_count(),
                  "load_avg_start": os.getloadavg(), "conf": a.conf, "java_opts": a.java_opts,
                  "lookup_min_rows": a.lookup_min_rows,
                  "floor": {}, "ingest": {}}
        # warm-up (JIT, Delta classes), not measured: the first source's floor would pay for it
        spark.read.option("header", True).csv(str(data / sources[0])).limit(1000).write.format("delta").save(
            str(work / "warm-up"))
        for s in sources:
            result["floor"][s] = floor(spark, s, data, work)
        cfg = config.load(env="base", conf_dir=REPO / "conf", overrides={"lake": {"root": str(work / "lake")}})
        from padan.stages import Ctx

        with Meter(spark, "ctx-create") as m:
            ctx = Ctx.create(spark, cfg, run_date="2026-11-28")
        result["ctx_create"] = m.result(0)
        for s in sources:
            result["ingest"][s] = ingest(ctx, s, data)
            f, i = result["floor"][s], result["ingest"][s]
            i["cpu_x_floor"] = round(i["jvm_cpu_s"] / f["jvm_cpu_s"], 1) if f["jvm_cpu_s"] else None
            i["wall_x_floor"] = round(i["wall_s"] / f["wall_s"], 1) if f["wall_s"] else None
        result["load_avg_end"] = os.getloadavg()
    finally:
        spark.stop()
        if not a.work:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result, indent=1))
    print(f"{'source':10} {'what':7} {'rows':>8} {'wall s':>7} {'cpu s':>7} {'jobs':>5} {'rows/s':>8} {'rows/cpu-s':>10}"
          f"  cpu s: tasks / jit / gc / other")
    for s in sources:
        for what in ("floor", "ingest"):
            r = result[what][s]
            t = r["cpu_s_by_thread"]
            print(f"{s:10} {what:7} {r['rows']:8d} {r['wall_s']:7.1f} {r['jvm_cpu_s']:7.1f} {r['spark_jobs']:5d} "
                  f"{r['rows_per_s']:8d} {r['rows_per_cpu_s']:10d}  {t['spark_tasks']} / {t['jit_compiler']} / "
                  f"{t['gc']} / {t['other']}")
    if a.out:
        Path(a.out).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
