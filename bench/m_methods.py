"""How should m be estimated? padan's NIK-anchored labels against Splink's EM, on the same records.

For each method: train (seconds per step: prior, u, m), predict with that model version (its own run
id), cluster, evaluate against the truth (pairwise precision/recall/F1 at the configured threshold,
best F1, average precision of the ranking, cluster and B-cubed metrics). Same silver records, same
comparisons, blocking rules and u sample for both; only the m step differs.

    # on a kept bench lake (python bench/harness.py --keep-work --work DIR):
    .venv/bin/python bench/m_methods.py --work DIR
    # or generate and ingest first:
    .venv/bin/python bench/m_methods.py --work DIR --p3ke-rows 250000 --prakerja-rows 250000 --profile hard

Writes bench/results/<date>-m-methods-<profile>-<records>.json (aggregates only) and prints it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import time
from pathlib import Path


def average_precision(pairs, truth) -> dict:
    """Average precision of pairs ranked by match weight; `ap_all` divides by every true pair in the
    truth (pairs never scored count as missed), `ap_scored` by the true pairs among the scored."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    t = truth.select(F.col("unique_id").alias("u"), F.col("true_id").alias("t"))
    y = (pairs.join(t.withColumnRenamed("u", "unique_id_l").withColumnRenamed("t", "t_l"), "unique_id_l")
         .join(t.withColumnRenamed("u", "unique_id_r").withColumnRenamed("t", "t_r"), "unique_id_r")
         .select("match_weight", (F.col("t_l") == F.col("t_r")).cast("int").alias("y")))
    w = Window.orderBy(F.desc("match_weight")).rowsBetween(Window.unboundedPreceding, 0)
    ranked = y.select("y", F.sum("y").over(w).alias("tp"), F.count(F.lit(1)).over(w).alias("rank"))
    agg = ranked.where("y = 1").agg(F.sum(F.col("tp") / F.col("rank")).alias("s"), F.count(F.lit(1)).alias("hits")).first()
    sizes = truth.groupBy("true_id").count()
    true_pairs = sizes.select(F.sum(F.col("count") * (F.col("count") - 1) / 2)).first()[0] or 0
    s, hits = agg.s or 0.0, agg.hits or 0
    return {"ap_scored": s / hits if hits else 0.0, "ap_all": s / true_pairs if true_pairs else 0.0,
            "true_pairs_scored": hits, "true_pairs": int(true_pairs)}


def run_method(ctx, spec: str, truth_path: str, truth) -> dict:
    """`spec`: 'nik_anchored', 'em', or 'nik_anchored+names' (birth date and sex m from pairs sharing
    NIK and name: training.date_sex_m_from_name_labels)."""
    from pyspark.sql import functions as F

    from padan.stages import Ctx, link_run_id, run_cluster, run_evaluate, run_predict, run_train
    from padan.tables import PAIRS, RUNS

    method, _, variant = spec.partition("+")
    if variant == "names":
        ctx = Ctx.create(ctx.spark, ctx.cfg.with_overrides(
            {"model": {"training": {"date_sex_m_from_name_labels": True}}}), run_date=ctx.run_date)
    elif variant:
        raise SystemExit(f"unknown method variant {spec!r}")
    out: dict = {"m_method": method, "variant": variant or None, "seconds": {}}
    t = time.monotonic()
    version = run_train(ctx, m_method=method)
    out["seconds"]["train"] = round(time.monotonic() - t, 1)
    row = (ctx.lake.read(RUNS.name).where((F.col("stage") == "train") & (F.col("status") == "succeeded")
                                           & (F.col("message") == f"model_version={version}")).first())
    counts = dict(row.row_counts or {})
    out["train_steps_seconds"] = {k[3:]: round(v / 1000, 1) for k, v in counts.items() if k.startswith("ms_")}
    out["label_pairs"] = {k[12:]: v for k, v in counts.items() if k.startswith("label_pairs_")}
    out["model_version"] = version
    run_id = link_run_id(ctx, version)
    t = time.monotonic()
    out["pairs_kept"] = run_predict(ctx, run_id, version)
    out["seconds"]["predict"] = round(time.monotonic() - t, 1)
    t = time.monotonic()
    out["persons"] = run_cluster(ctx, run_id).get("persons")
    out["seconds"]["cluster"] = round(time.monotonic() - t, 1)
    t = time.monotonic()
    rows = run_evaluate(ctx, run_id, truth_path)
    out["seconds"]["evaluate"] = round(time.monotonic() - t, 1)
    pick = lambda kind: next(r for r in rows if r["kind"] == kind and r["is_configured_threshold"])  # noqa: E731
    pw, best = pick("pairwise"), next(r for r in rows if r["is_best_f1"])
    cp, cb = pick("cluster_pairwise"), pick("cluster_bcubed")
    out["accuracy"] = {
        "threshold": pw["threshold"], "pairwise_precision": pw["precision"], "pairwise_recall": pw["recall"],
        "pairwise_f1": pw["f1"], "best_f1": best["f1"], "best_f1_threshold": best["threshold"],
        "cluster_pairwise_f1": cp["f1"], "bcubed_precision": cb["precision"], "bcubed_recall": cb["recall"],
        "bcubed_f1": cb["f1"],
        **average_precision(ctx.lake.read(PAIRS.name).where(F.col("run_id") == run_id), truth)}
    out["curve"] = [{k: r[k] for k in ("threshold", "precision", "recall", "f1")} for r in rows if r["kind"] == "pairwise"]
    out["run_id"] = run_id
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", required=True, help="folder with data/ (extracts + truth) and lake/; created if generating")
    p.add_argument("--p3ke-rows", type=int, default=None, help="generate and ingest this many P3KE rows first")
    p.add_argument("--prakerja-rows", type=int, default=None)
    p.add_argument("--profile", default="typical")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--methods", default="nik_anchored,nik_anchored+names,em")
    p.add_argument("--driver-memory", default="12g")
    p.add_argument("--results", default="bench/results")
    args = p.parse_args(argv)

    from harness import machine_info, work_config
    from padan.evaluate.metrics import truth_as_unique_ids
    from padan.stages import Ctx, run_ingest
    from padan.spark import spark_from_config
    from padan.tables import PERSONS

    work = Path(args.work).resolve()
    data = work / "data"
    cfg = work_config(work, {"driver_memory": args.driver_memory})
    spark = spark_from_config(cfg, "padan-m-methods")
    result: dict = {"kind": "m_methods", "profile": args.profile, "started_at": dt.datetime.now().isoformat(timespec="seconds"),
                    "machine": machine_info(spark), "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
                    "steps_seconds": {}}
    ctx = Ctx.create(spark, cfg, run_date=dt.date.today().isoformat())
    if args.p3ke_rows:
        from padan_synth import write_extracts

        t = time.monotonic()
        write_extracts(spark, str(data), p3ke_rows=args.p3ke_rows, prakerja_rows=args.prakerja_rows,
                       seed=args.seed, profile=args.profile, fmt="csv")
        result["steps_seconds"]["synth"] = round(time.monotonic() - t, 1)
        for source in sorted(cfg.sources):
            t = time.monotonic()
            run_ingest(ctx, source)
            result["steps_seconds"][f"ingest_{source}"] = round(time.monotonic() - t, 1)
    persons = ctx.lake.read(PERSONS.name)
    result["records_by_source"] = {r[0]: r[1] for r in persons.groupBy("source_dataset").count().collect()}
    result["records"] = sum(result["records_by_source"].values())
    truth_path = str(data / "truth")
    truth = truth_as_unique_ids(spark.read.parquet(truth_path)).cache()
    result["methods"] = {}
    for method in [m.strip() for m in args.methods.split(",") if m.strip()]:
        result["methods"][method] = run_method(ctx, method, truth_path, truth)
        print(json.dumps({method: result["methods"][method]["accuracy"]}, indent=1), flush=True)
    result["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    out = Path(args.results) / f"{dt.date.today()}-m-methods-{args.profile}-{result['records']}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, default=str) + "\n")
    print(json.dumps({m: {"train_steps_seconds": r["train_steps_seconds"], "seconds": r["seconds"],
                          "pairs_kept": r["pairs_kept"], **r["accuracy"]} for m, r in result["methods"].items()},
                     indent=1))
    print(f"result: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
