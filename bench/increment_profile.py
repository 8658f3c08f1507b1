"""Jobs and JVM CPU-seconds per stage of a full run and of increments on the tests' small extracts.

The tests' `increment` extracts (tests/conftest.py), the pinned test model: a full run over 80% of
the P3KE and 60% of the Prakerja rows (about 2,200 records), then two increments (the other 40% of
Prakerja, then the other 20% of P3KE), as tests/test_increment.py runs them. Each ledger stage runs
in its own Spark job group `<run>-<stage>` (run: pipeline, inc1, inc2), so with `--event-log DIR`
`python bench/event_log.py DIR/<app> --group inc1-cluster --jobs` lists a stage's queries and jobs.

    PYTHONPATH=src python bench/increment_profile.py --work /tmp/incprof [--event-log DIR] [--json OUT]

One Spark session: local[2], driver 3g, 2 shuffle partitions, UI off (the test suite's settings).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", required=True, help="a scratch folder (emptied first)")
    p.add_argument("--event-log", default=None, help="a folder for Spark's event log")
    p.add_argument("--json", default=None, help="write the per-stage figures here")
    p.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE",
                   help="a Spark setting for the session (repeatable; overrides padan's local settings)")
    args = p.parse_args(argv)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    sys.path.insert(0, str(ROOT))
    from pyspark.sql import SparkSession

    from padan import ledger
    from padan.spark import local_session_conf
    from padan.stages import Ctx, run_increment, run_pipeline
    from tests.conftest import install_extracts, install_test_model
    from tests.test_increment import _cfg, _split_csv

    root = Path(args.work)
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    conf = local_session_conf(master="local[2]", app_name="increment-profile", driver_memory="3g", ui_enabled=False,
                              shuffle_partitions=2, warehouse_dir=str(root / "wh"))
    b = SparkSession.builder
    conf.update(kv.split("=", 1) for kv in args.conf)
    for k, v in conf.items():
        b = b.config(k, v)
    if args.event_log:
        os.makedirs(args.event_log, exist_ok=True)
        b = b.config("spark.eventLog.enabled", "true").config("spark.eventLog.dir", args.event_log)
    spark = b.config("spark.default.parallelism", "2").getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    spark.sparkContext.setCheckpointDir(str(root / "ck"))
    sc = spark.sparkContext

    def cpu() -> float:
        pid = sc._jvm.ProcessHandle.current().pid()
        with open(f"/proc/{pid}/stat") as fh:
            f = fh.read().split(")")[1].split()
        return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")

    def jobs() -> int:
        return sum(len(sc.statusTracker().getJobIdsForGroup(g)) for g in [None, *groups])

    groups: dict[str, None] = {}      # job groups used so far, in order
    current = {"run": "setup"}
    figures: dict[str, dict] = {}
    original = ledger.stage

    @contextlib.contextmanager
    def traced(lake, run_id, name, **kw):
        group = f"{current['run']}-{name}"
        while group in groups:        # a stage run twice in one run (ingest of each source)
            group += "+"
        groups[group] = None
        sc.setJobGroup(group, group)
        c0, j0, t0 = cpu(), jobs(), time.time()
        try:
            with original(lake, run_id, name, **kw) as rec:
                yield rec
        finally:
            n = len(sc.statusTracker().getJobIdsForGroup(group))
            figures.setdefault(current["run"], {})[group.split("-", 1)[1]] = {
                "wall_s": round(time.time() - t0, 1), "jvm_cpu_s": round(cpu() - c0, 1), "jobs": n}
            print(f"  {group:24s} wall {time.time() - t0:6.1f} s  JVM CPU {cpu() - c0:6.1f} s  jobs {n:4d}"
                  f"  (all jobs since stage start {jobs() - j0})", flush=True)
            sc.setJobGroup(f"{current['run']}-between", "between stages")
            groups[f"{current['run']}-between"] = None

    ledger.stage = traced
    install_extracts("increment", root / "gen")
    p3ke = _split_csv(root / "gen" / "p3ke", root / "batches", "p3ke", [0.8, 0.2])
    pk = _split_csv(root / "gen" / "prakerja", root / "batches", "prakerja", [0.6, 0.4])
    ctx = Ctx.create(spark, _cfg(root, "lake_a", p3ke[0], pk[0]), run_date="2026-11-28")
    install_test_model(ctx.lake)
    runs = [("pipeline", lambda: run_pipeline(ctx)),
            ("inc1", lambda: run_increment(ctx, "prakerja", path=str(pk[1]))),
            ("inc2", lambda: run_increment(ctx, "p3ke", path=str(p3ke[1])))]
    for name, f in runs:
        current["run"] = name
        sc.setJobGroup(f"{name}-between", "between stages")
        groups[f"{name}-between"] = None
        t, c, j = time.time(), cpu(), jobs()
        f()
        total = {"wall_s": round(time.time() - t, 1), "jvm_cpu_s": round(cpu() - c, 1), "jobs": jobs() - j}
        figures.setdefault(name, {})["total"] = total
        print(f"{name}: wall {total['wall_s']} s, JVM CPU {total['jvm_cpu_s']} s, jobs {total['jobs']}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"app": sc.applicationId, "figures": figures}, indent=1) + "\n")
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
