"""The fixed cost of a small run (issue 16: the 5,000-row demo): `padan demo` stage by stage.

Starts one Spark session as `padan demo` does (config `base`, the demo's extracts and u_max_pairs),
on a FRESH lake in WORK/lake (removed first; the generated extracts in WORK/data are reused when
there), then runs the demo's steps one by one as `padan.stages.run_pipeline` and `padan demo` do:
generate, ingest per source, train, plan, predict, cluster, cluster_thresholds, marts,
report_html. Per step: wall seconds, JVM CPU-seconds (utime + stime of the driver JVM from /proc:
local mode runs every task in it) and Spark jobs (status tracker, by job group). Also the session
start. Writes bench/results/<date>-fixed-cost-<records>.json.

    PYTHONPATH=src .venv/bin/python bench/fixed_cost.py --records 5000 --work /tmp/bench-fixed
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--records", type=int, default=5000, help="records generated (60%% P3KE, 40%% Prakerja)")
    p.add_argument("--work", required=True)
    p.add_argument("--driver-memory", default="3g")
    p.add_argument("--master", default="local[2]")
    p.add_argument("--shuffle-partitions", type=int, default=2)
    p.add_argument("--label", default="", help="a name for this measurement in the results file")
    p.add_argument("--results", default="bench/results")
    p.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE",
                   help="a Spark SQL setting for the session (repeatable), e.g. spark.sql.adaptive.enabled=false")
    p.add_argument("--java-options", default="", help="extra options for the driver JVM (an experiment: "
                   "appended to padan's spark.driver.extraJavaOptions)")
    p.add_argument("--event-log", default=None, help="a folder for Spark's event log (job descriptions per step; "
                   "bench/event_log.py lists each step's SQL executions and jobs from it)")
    args = p.parse_args(argv)
    if args.event_log:
        os.makedirs(args.event_log, exist_ok=True)
        os.environ["PYSPARK_SUBMIT_ARGS"] = (f"--conf spark.eventLog.enabled=true --conf spark.eventLog.dir={args.event_log} "
                                             "pyspark-shell")

    from engine import jvm_cpu_seconds, measured
    from harness import machine_info

    from padan import config
    from padan import stages
    from padan.demo import ensure_demo_extracts
    from padan.spark import spark_from_config

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)   # the generator's workers need numpy
    if args.java_options:
        import padan.spark as padan_spark

        plain = padan_spark.local_session_conf

        def with_options(**kw):
            conf = plain(**kw)
            conf["spark.driver.extraJavaOptions"] += " " + args.java_options
            return conf

        padan_spark.local_session_conf = with_options
    work = Path(args.work).resolve()
    data, lake = work / "data", work / "lake"
    shutil.rmtree(lake, ignore_errors=True)
    shutil.rmtree(work / "checkpoints", ignore_errors=True)
    base = config.load(env="base")
    p3ke_rows = int(args.records * 0.6)
    cfg = config.load(env="base", overrides={
        "lake": {"root": str(lake), "checkpoint_dir": str(work / "checkpoints")},
        "sources": {"p3ke": {"path": str(data / "p3ke")}, "prakerja": {"path": str(data / "prakerja")}},
        "model": {"training": {"u_max_pairs": base.demo.u_max_pairs}},
        "spark": {"driver_memory": args.driver_memory, "master": args.master,
                  "shuffle_partitions": args.shuffle_partitions,
                  "conf": dict(c.split("=", 1) for c in args.conf)}})
    load0 = [round(x, 2) for x in os.getloadavg()]
    t0 = time.monotonic()
    spark = spark_from_config(cfg, "padan-bench-fixed")
    steps: dict[str, dict] = {"session_start": {"wall_s": round(time.monotonic() - t0, 1),
                                                "jvm_cpu_s": round(jvm_cpu_seconds(spark), 1), "spark_jobs": 0}}

    def step(name, fn):
        out, wall, cpu, jobs = measured(spark, f"fixed-{name}", fn)
        steps[name] = {"wall_s": wall, "jvm_cpu_s": cpu, "spark_jobs": jobs}
        print(f"{name:20} {wall:7.1f} s {cpu:7.1f} CPU-s {jobs:5d} jobs", flush=True)
        return out

    d = base.demo
    step("generate", lambda: ensure_demo_extracts(spark, str(data), p3ke_rows=p3ke_rows,
                                                  prakerja_rows=args.records - p3ke_rows, seed=d.seed,
                                                  profile=d.profile))
    pipeline_t0, pipeline_cpu0 = time.monotonic(), jvm_cpu_seconds(spark)
    ctx = stages.Ctx.create(spark, cfg, run_date=dt.date.today().isoformat())
    for s in sorted(cfg.sources):
        step(f"ingest_{s}", lambda s=s: stages.run_ingest(ctx, s))
    version = step("train", lambda: stages.run_train(ctx))
    run_id = step("plan", lambda: stages.link_run_id(ctx, version))
    pairs = step("predict", lambda: stages.run_predict(ctx, run_id, version))
    step("cluster", lambda: stages.run_cluster(ctx, run_id))
    step("cluster_thresholds", lambda: stages.run_cluster_thresholds(ctx, run_id))
    marts = step("marts", lambda: stages.run_marts(ctx, run_id))
    step("report_html", lambda: stages.run_report_html(ctx, run_id))
    total = {"wall_s": round(time.monotonic() - pipeline_t0, 1),
             "jvm_cpu_s": round(jvm_cpu_seconds(spark) - pipeline_cpu0, 1),
             "spark_jobs": sum(v["spark_jobs"] for k, v in steps.items() if k not in ("session_start", "generate"))}
    print(f"{'pipeline (no gen.)':20} {total['wall_s']:7.1f} s {total['jvm_cpu_s']:7.1f} CPU-s "
          f"{total['spark_jobs']:5d} jobs; pairs {pairs}, persons {marts.get('persons')}", flush=True)
    result = {"kind": "fixed-cost", "label": args.label, "conf": args.conf, "java_options": args.java_options,
              "records": args.records,
              "started_at": dt.datetime.now().isoformat(timespec="seconds"), "machine": machine_info(spark),
              "load_average_at_start": load0, "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
              "steps": steps, "pipeline": total, "pairs": pairs, "persons": marts.get("persons")}
    out = Path(args.results) / f"{dt.date.today().isoformat()}-fixed-cost-{args.records}{'-' + args.label if args.label else ''}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=str))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
