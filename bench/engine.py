"""Predict with padan's engine and with Splink on Spark: the same records, model and pinned term
frequencies, the same stage (`padan.stages.run_predict`: score, shape, write gold.pairs).

Generates the records (or reuses WORK/data), ingests them into WORK/lake, trains one model version
there with `padan train` unless the lake has one, then runs the predict stage once per engine with
its own run id and reports, per engine: wall seconds, JVM CPU-seconds (utime + stime of the driver
JVM from /proc: local mode runs every task in it), Spark jobs (status tracker, by job group),
pairs written and pairs/s, plus candidate pairs (the blocking rules' union, counted apart).
Checks that both engines wrote the same pairs. Writes bench/results/<date>-engine-<records>.json.

    .venv/bin/python bench/engine.py --records 100000 --work /tmp/bench-engine
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path


def jvm_cpu_seconds(spark) -> float:
    pid = spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid()
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measured(spark, group: str, fn):
    """fn() run under a Spark job group: (result, wall seconds, JVM CPU-seconds, jobs)."""
    sc = spark.sparkContext
    sc.setJobGroup(group, group)
    cpu, t = jvm_cpu_seconds(spark), time.monotonic()
    try:
        out = fn()
    finally:
        sc.setLocalProperty("spark.jobGroup.id", None)
    wall, cpu = time.monotonic() - t, jvm_cpu_seconds(spark) - cpu
    return out, round(wall, 1), round(cpu, 1), len(sc.statusTracker().getJobIdsForGroup(group))


def prepare(args, kind: str):
    """What the engine and training benchmarks share: the config for WORK (args.work, .records,
    .seed, .driver_memory), one Spark session, the records generated into WORK/data unless there,
    ingested into WORK/lake (skipped when done). Returns (spark, cfg, ctx, result dict)."""
    from harness import machine_info, work_config
    from padan.stages import Ctx, run_ingest
    from padan.spark import spark_from_config
    from padan_synth import write_extracts

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)   # the generator's workers need numpy
    work = Path(args.work).resolve()
    data = work / "data"
    p3ke_rows, prakerja_rows = int(args.records * 0.6), args.records - int(args.records * 0.6)
    cfg = work_config(work, {"driver_memory": args.driver_memory})
    spark = spark_from_config(cfg, f"padan-bench-{kind}")
    result: dict = {"kind": kind, "records": args.records, "seed": args.seed,
                    "started_at": dt.datetime.now().isoformat(timespec="seconds"), "machine": machine_info(spark),
                    "load_average_at_start": [round(x, 2) for x in os.getloadavg()], "prepare_seconds": {}}
    t = time.monotonic()
    if not (data / "truth").exists():
        write_extracts(spark, str(data), p3ke_rows=p3ke_rows, prakerja_rows=prakerja_rows, seed=args.seed,
                       profile="typical")
        result["prepare_seconds"]["synth"] = round(time.monotonic() - t, 1)
    ctx = Ctx.create(spark, cfg, run_date=dt.date.today().isoformat())
    for s in ("p3ke", "prakerja"):
        t = time.monotonic()
        run_ingest(ctx, s)
        result["prepare_seconds"][f"ingest_{s}"] = round(time.monotonic() - t, 1)
    return spark, cfg, ctx, result


def parse_args(description: str, argv=None) -> argparse.Namespace:
    """The options every engine benchmark takes (this one and bench/train.py)."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--records", type=int, default=100_000, help="records generated (60%% P3KE, 40%% Prakerja)")
    p.add_argument("--work", required=True, help="folder for data/, lake/ and checkpoints/ (reused when present)")
    p.add_argument("--seed", type=int, default=3)
    p.add_argument("--driver-memory", default="3g")
    p.add_argument("--engines", default="splink,padan")
    p.add_argument("--m-method", default=None, choices=["nik_anchored", "em"], help="bench/train.py: the m method "
                   "(default: the config's)")
    p.add_argument("--results", default="bench/results")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(__doc__.split("\n\n")[0], argv)

    from pyspark.sql import functions as F

    from padan.link import engine
    from padan.model.store import list_versions
    from padan.stages import Ctx, run_predict, run_train
    from padan.tables import PAIRS, PERSONS

    spark, cfg, ctx, result = prepare(args, "engine")
    t = time.monotonic()
    version = list_versions(ctx.lake)[-1] if list_versions(ctx.lake) else run_train(ctx)
    result["prepare_seconds"]["train"] = round(time.monotonic() - t, 1)
    result["model_version"] = version
    persons = ctx.lake.read(PERSONS.name)
    result["silver_records"] = persons.count()

    from padan.model.store import load_model
    from padan.model.tf import load_tf

    settings = load_model(ctx.lake, version)
    tf = load_tf(ctx.lake, version, settings, persons)
    result["candidate_pairs"] = engine.score_within(spark, persons, settings, min_probability=None,
                                                    tf_tables=tf).count()
    result["engines"] = {}
    stamp = dt.datetime.now().strftime("%H%M%S")
    for name in args.engines.split(","):
        run_ctx = Ctx(spark, cfg.with_overrides({"link": {"engine": name}}), ctx.lake, True)
        run_ctx.run_date = ctx.run_date
        run_id = f"bench-engine-{name}-{stamp}"
        pairs, wall, cpu, jobs = measured(spark, run_id, lambda: run_predict(run_ctx, run_id, version))
        one = {"wall_seconds": wall, "jvm_cpu_seconds": cpu, "spark_jobs": jobs, "pairs_written": pairs,
               "candidate_pairs_per_second": round(result["candidate_pairs"] / wall) if wall else None}
        result["engines"][name] = one
        print(json.dumps({name: one}), flush=True)
    names = list(result["engines"])
    if len(names) == 2:
        def keyed(i):
            rid = f"bench-engine-{names[i]}-{stamp}"
            return (ctx.lake.read(PAIRS.name).where(F.col("run_id") == rid)
                    .select("unique_id_l", "unique_id_r", F.col("match_weight").alias(f"w{i}")))
        both = keyed(0).join(keyed(1), ["unique_id_l", "unique_id_r"], "full_outer")
        row = both.select(F.count(F.when(F.col("w0").isNull() | F.col("w1").isNull(), 1)).alias("unmatched"),
                          F.max(F.abs(F.col("w0") - F.col("w1"))).alias("max_diff")).first()
        result["pairs_in_one_engine_only"] = row["unmatched"]
        result["max_match_weight_difference"] = row["max_diff"]
    result["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    out = Path(args.results) / f"{dt.date.today()}-engine-{result['silver_records']}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, default=str) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "machine"}, indent=1, default=str))
    print(f"result: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
