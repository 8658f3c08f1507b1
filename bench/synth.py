"""Throughput of the synthetic data generator (`padan_synth.write_extracts`).

For each size (rows PER SOURCE): write_extracts of that many P3KE and Prakerja rows plus the truth
table, in the given format, in one local Spark session. Prints and stores wall seconds, rows per
second (both sources together), CPU-seconds of the JVM and of the Python worker processes it
started (the vectorised generator runs in those; /proc via psutil, Linux), and Spark jobs.
`--demo` also times the demo's generation step (`padan demo`: 3,000 P3KE + 2,000 Prakerja rows, CSV).

    PYTHONPATH=src .venv/bin/python bench/synth.py --rows 200000 1000000 --demo \
        --out bench/results/<date>-synth.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def session(driver_memory: str, cores: int):
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)   # the generator's Python workers need numpy

    from padan.spark import local_session_conf

    conf = local_session_conf(master=f"local[{cores}]", app_name="padan-bench-synth", driver_memory=driver_memory,
                              ui_enabled=False, shuffle_partitions=cores,
                              warehouse_dir=tempfile.mkdtemp(prefix="padan-bench-wh-"))
    builder = SparkSession.builder
    for k, v in conf.items():
        builder = builder.config(k, v)
    spark = builder.config("spark.default.parallelism", str(cores)).getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


class Meter:
    """Wall seconds, CPU-seconds of the JVM and of its descendant processes (PySpark's Python
    workers), and Spark jobs of one block."""

    def __init__(self, spark, name: str):
        import psutil

        self.spark, self.name = spark, name
        self.jvm = psutil.Process(int(spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid()))

    def _cpu(self) -> tuple[float, float]:
        import psutil

        t = self.jvm.cpu_times()
        jvm = t.user + t.system
        py = 0.0
        for p in self.jvm.children(recursive=True):
            try:
                c = p.cpu_times()
                py += c.user + c.system + c.children_user + c.children_system
            except psutil.NoSuchProcess:
                pass
        return jvm, py

    def __enter__(self):
        self.spark.sparkContext.setJobGroup(self.name, self.name)
        self.cpu0, self.t0 = self._cpu(), time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.t0
        cpu1 = self._cpu()
        self.jvm_cpu, self.py_cpu = cpu1[0] - self.cpu0[0], cpu1[1] - self.cpu0[1]
        self.jobs = len(self.spark.sparkContext.statusTracker().getJobIdsForGroup(self.name))
        self.spark.sparkContext.setJobGroup("bench-other", "bench-other")
        return False

    def result(self, rows: int) -> dict:
        cpu = self.jvm_cpu + self.py_cpu
        return {"wall_s": round(self.wall, 1), "jvm_cpu_s": round(self.jvm_cpu, 1), "python_cpu_s": round(self.py_cpu, 1),
                "spark_jobs": self.jobs, "rows": rows, "rows_per_s": round(rows / self.wall) if self.wall else None,
                "rows_per_cpu_s": round(rows / cpu) if cpu > 0 else None}


def measure(spark, work: Path, p3ke_rows: int, prakerja_rows: int, fmt: str, name: str, writer: str = "spark") -> dict:
    from padan_synth import write_extracts

    out = work / name
    with Meter(spark, name) as m:
        w = write_extracts(spark, str(out), p3ke_rows=p3ke_rows, prakerja_rows=prakerja_rows, seed=42,
                           profile="typical", fmt=fmt, writer=writer)
    res = m.result(p3ke_rows + prakerja_rows)
    res.update(name=name, p3ke_rows=p3ke_rows, prakerja_rows=prakerja_rows, format=fmt, writer=writer,
               seconds_by_output=w["seconds"],
               bytes_written=sum(f.stat().st_size for f in out.rglob("*") if f.is_file()))
    shutil.rmtree(out, ignore_errors=True)
    return res


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, nargs="*", default=[1_000_000], help="rows PER SOURCE, one run each")
    p.add_argument("--format", choices=["csv", "parquet"], default="parquet")
    p.add_argument("--writer", choices=["spark", "arrow"], default="spark",
                   help="write_extracts(writer=...): Spark's writers, or each task writing its files with pyarrow")
    p.add_argument("--demo", action="store_true", help="also time the demo's generation (3,000 + 2,000 rows, CSV)")
    p.add_argument("--warmup", action="store_true", help="generate 1,000 rows first (JVM/JIT warm-up, not reported)")
    p.add_argument("--driver-memory", default="3g")
    p.add_argument("--cores", type=int, default=2)
    p.add_argument("--label", default="", help="a note stored with the result (e.g. 'old generator')")
    p.add_argument("--work", help="scratch folder (default: a temporary folder, removed)")
    p.add_argument("--out", help="write the result JSON here")
    a = p.parse_args(argv)

    import padan_synth

    spark = session(a.driver_memory, a.cores)
    work = Path(a.work or tempfile.mkdtemp(prefix="padan-bench-synth-"))
    work.mkdir(parents=True, exist_ok=True)
    result = {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "label": a.label,
              "generator": padan_synth.__file__, "cores": a.cores, "driver_memory": a.driver_memory,
              "machine_cores": os.cpu_count(), "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
              "runs": []}
    try:
        if a.warmup:
            measure(spark, work, 1000, 1000, a.format, "warmup")
        if a.demo:
            r = measure(spark, work, 3000, 2000, "csv", "demo")
            result["runs"].append(r)
            print(json.dumps(r), flush=True)
        for n in a.rows:
            r = measure(spark, work, n, n, a.format, f"rows-{n}-{a.writer}", a.writer)
            result["runs"].append(r)
            print(json.dumps(r), flush=True)
    finally:
        if not a.work:
            shutil.rmtree(work, ignore_errors=True)
        spark.stop()
    result["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    print(f"{'run':<22} {'rows':>10} {'wall s':>8} {'JVM cpu s':>10} {'Py cpu s':>9} {'rows/s':>9} {'rows/cpu-s':>11} jobs")
    for r in result["runs"]:
        print(f"{r['name']:<22} {r['rows']:>10,} {r['wall_s']:>8} {r['jvm_cpu_s']:>10} {r['python_cpu_s']:>9} "
              f"{r['rows_per_s'] or 0:>9,} {r['rows_per_cpu_s'] or 0:>11,} {r['spark_jobs']}")
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
