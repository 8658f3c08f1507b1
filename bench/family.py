"""Families and birth-date errors (issue 21): accuracy of model variants, with errors by cause.

For one generated profile: generate (CSV extracts, the truth, and the generator's hidden columns
for diagnosis), ingest, count candidate pairs and blocking recall once, then for each model variant
train (its own model version), predict, cluster and evaluate with `padan.stages.run_evaluate` (the
same metrics as `padan evaluate` and `make bench`: pairwise P/R/F1 at the configured threshold,
the best F1, cluster pairwise and B-cubed), and count

- false positives at the pair threshold: twins (same household and true birth date), other members
  of one household (parent/child namesakes counted apart), namesakes in different households, other;
- false negatives at the pair threshold: never scored (not blocked, or below the 0.01 floor) or
  scored below; each by the birth-date damage on either side (placeholder, year off, day/month
  swap, missing), and how many share one valid NIK (`nik_cmp`).

A variant is a named overlay of `model:` settings in bench/family_variants.yml (`base` is the
committed conf/base/model.yml; `a&b` applies both; `block_size_cap: N` sets model.block_size_cap). Only aggregate counts are written:
bench/results/<date>-family-<profile>-<records>.json.

    .venv/bin/python bench/family.py --work /tmp/fam/typical --profile typical \\
        --p3ke-rows 50000 --prakerja-rows 50000 --variants base
    # later, same lake, other variants ("a&b": both overlays):
    .venv/bin/python bench/family.py --work /tmp/fam/typical --profile typical --variants nik12,nik12&household
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import time
from pathlib import Path

import yaml

HIDDEN = ["_person_id", "_hh", "_k", "_dob_true", "_dob_kind", "_nik_kind", "_name_true", "_role"]
VARIANTS_FILE = Path(__file__).with_name("family_variants.yml")


def write_hidden(spark, data: Path, args) -> None:
    """The generator's hidden columns of every record (same seed, rows, profile), for diagnosis only:
    kept in the work folder, never committed."""
    from pyspark.sql import functions as F

    from padan_synth import generate_debug

    p, q, _ = generate_debug(spark, p3ke_rows=args.p3ke_rows, prakerja_rows=args.prakerja_rows,
                             seed=args.seed, profile=args.profile)
    cols = [c for c in HIDDEN if c != "_role"]
    (p.select(F.concat_ws(":", F.lit("p3ke"), "id_individu").alias("unique_id"), *cols, "_role")
     .unionByName(q.select(F.concat_ws(":", F.lit("prakerja"), "id_pendaftar").alias("unique_id"), *cols,
                           F.lit(None).cast("string").alias("_role")))
     .write.mode("overwrite").parquet(str(data / "hidden")))


def diagnose(ctx, run_id: str, threshold: float, hidden_path: str) -> dict:
    """False positives and negatives at `threshold` by cause (one Spark job each)."""
    from pyspark.sql import functions as F

    from padan.evaluate.blocking import true_pairs
    from padan.tables import PAIRS, PERSONS

    spark = ctx.spark
    hidden = spark.read.parquet(hidden_path)
    persons = ctx.lake.read(PERSONS.name).select("unique_id", "nik_cmp", "no_kk")
    rec = hidden.join(persons, "unique_id", "left").cache()
    side = lambda s: rec.select(*[F.col(c).alias(f"{c}_{s}") for c in rec.columns])  # noqa: E731
    pairs = ctx.lake.read(PAIRS.name).where(F.col("run_id") == run_id).select(
        "unique_id_l", "unique_id_r", "match_probability", "match_key")
    both = lambda df: df.join(side("l"), "unique_id_l").join(side("r"), "unique_id_r")  # noqa: E731

    fp = both(pairs.where(F.col("match_probability") >= threshold)).where(F.col("_person_id_l") != F.col("_person_id_r"))
    same_hh = F.col("_hh_l") == F.col("_hh_r")
    twin = same_hh & (F.col("_dob_true_l") == F.col("_dob_true_r"))
    same_name = F.col("_name_true_l") == F.col("_name_true_r")
    fp_kind = (F.when(twin, "twins").when(same_hh & same_name, "household_namesake")
               .when(same_hh, "household_other").when(same_name, "namesake_other_household").otherwise("other"))
    # pairs at the threshold by the blocking rule that produced them (match_key: the rule's index)
    by_rule = (both(pairs.where(F.col("match_probability") >= threshold))
               .groupBy(F.col("match_key").cast("int").alias("rule"))
               .agg(F.sum((F.col("_person_id_l") == F.col("_person_id_r")).cast("long")).alias("true"),
                    F.sum((F.col("_person_id_l") != F.col("_person_id_r")).cast("long")).alias("false"),
                    F.sum(((F.col("_person_id_l") != F.col("_person_id_r")) & same_hh).cast("long")).alias("false_household"))
               .orderBy("rule").collect())
    fp_rows = fp.groupBy(fp_kind.alias("kind")).agg(
        F.count("*").alias("n"),
        F.sum((F.col("nik_cmp_l").isNotNull() & F.col("nik_cmp_r").isNotNull()
               & (F.substring("nik_cmp_l", 1, 12) == F.substring("nik_cmp_r", 1, 12))).cast("long")).alias("nik12"),
        F.sum((F.col("no_kk_l") == F.col("no_kk_r")).cast("long")).alias("same_kk")).collect()

    # true pairs among records of the truth, with their score (null: never scored)
    truth = hidden.select("unique_id", F.col("_person_id").alias("true_id"))
    tp = true_pairs(truth).join(pairs, ["unique_id_l", "unique_id_r"], "left")
    tp = tp.unionByName(true_pairs(truth).select(F.col("unique_id_r").alias("unique_id_l"),
                                                 F.col("unique_id_l").alias("unique_id_r"))
                        .join(pairs, ["unique_id_l", "unique_id_r"], "inner"))
    tp = tp.groupBy(F.least("unique_id_l", "unique_id_r").alias("unique_id_l"),
                    F.greatest("unique_id_l", "unique_id_r").alias("unique_id_r")).agg(
        F.max("match_probability").alias("p"))
    fn = both(tp.where(F.col("p").isNull() | (F.col("p") < threshold)))
    kinds = lambda k: (F.col("_dob_kind_l") == k) | (F.col("_dob_kind_r") == k)  # noqa: E731
    date_cause = (F.when(kinds("placeholder"), "placeholder").when(kinds("year_off"), "year_off")
                  .when(kinds("day_month_swap"), "day_month_swap").when(kinds("missing"), "missing")
                  .otherwise("no_date_damage"))
    fn_rows = fn.groupBy(F.when(F.col("p").isNull(), "never_scored").otherwise("scored_below").alias("where"),
                         date_cause.alias("date")).agg(
        F.count("*").alias("n"),
        F.sum((F.col("nik_cmp_l") == F.col("nik_cmp_r")).cast("long")).alias("same_valid_nik")).collect()
    rec.unpersist()
    fps = {r["kind"]: {"n": r["n"], "nik_first12_equal": r["nik12"], "same_family_card": r["same_kk"]} for r in fp_rows}
    fns: dict = {}
    for r in fn_rows:
        fns.setdefault(r["where"], {})[r["date"]] = {"n": r["n"], "same_valid_nik": r["same_valid_nik"]}
    return {"pairs_at_threshold_by_rule": [r.asDict() for r in by_rule], "false_positives": fps, "false_positives_total": sum(v["n"] for v in fps.values()),
            "false_negatives": fns,
            "false_negatives_total": sum(v["n"] for w in fns.values() for v in w.values())}


def blocking_table(ctx, model, persons, truth) -> dict:
    """Blocking recall of `model`'s prediction rules against the truth: per rule (true pairs it
    alone finds, those no earlier rule found, its candidate pairs) and the union."""
    from padan.evaluate.blocking import blocking_recall
    from padan.model.blocking import count_comparisons

    bc = blocking_recall(persons, truth, list(model.blocking_rules))
    counts = [n for _, n in count_comparisons(ctx, model)]
    out = bc.as_dict()
    for rule, n in zip(out["rules"], counts):
        rule["candidate_pairs"] = n
    out["candidate_pairs"] = sum(counts)
    if model.block_size_cap is not None:
        # Under a cap the rules' recall above is uncapped; the union's recall is that of the pairs
        # predict scores (padan's engine, the cap applied), counted against the truth.
        from pyspark.sql import functions as F

        from padan.evaluate.blocking import true_pairs
        from padan.link import engine
        from padan.model.settings import untrained_settings

        pairs = engine.candidate_pairs(ctx.spark, persons, untrained_settings(model), block_size_cap=model.block_size_cap)
        ids = pairs.select(F.least("unique_id_l", "unique_id_r").alias("unique_id_l"),
                           F.greatest("unique_id_l", "unique_id_r").alias("unique_id_r"))
        found = true_pairs(truth).join(ids, ["unique_id_l", "unique_id_r"], "left_semi").count()
        out["block_size_cap"] = model.block_size_cap
        out["uncapped_union_recall"] = out["union_recall"]
        out["union_found"] = found
        out["union_recall"] = found / out["true_pairs"] if out["true_pairs"] else 1.0
    return out


def variant_blocking_rules(committed: list[str], variants: list[dict]) -> tuple[list[str], list[str]]:
    """The committed prediction rules the variants keep (less their `blocking_rules_drop`, in order)
    and the rules they add (`blocking_rules_add`, in order), which follow the kept ones."""
    dropped = {r for v in variants for r in (v.get("blocking_rules_drop") or [])}
    unknown = dropped - set(committed)
    if unknown:
        raise ValueError(f"a variant drops {len(unknown)} rule(s) the model does not have")
    return ([r for r in committed if r not in dropped],
            [r for v in variants for r in (v.get("blocking_rules_add") or [])])


def model_overlay(cfg, variant: dict) -> dict:
    """A variant (`comparisons`: name -> comparison replacing the one of that name in place, or
    appended; `training`: keys merged) -> a `model:` overlay with the whole comparisons list."""
    model = cfg.model.model_dump(mode="python", by_alias=True, exclude_defaults=True)
    comps = list(model["comparisons"])
    for name, comp in (variant.get("comparisons") or {}).items():
        at = [i for i, c in enumerate(comps) if c["name"] == name]
        if comp is None:
            comps = [c for c in comps if c["name"] != name]
        elif at:
            comps[at[0]] = {"name": name, **comp}
        else:
            comps.append({"name": name, **comp})
    out: dict = {"comparisons": comps}
    if variant.get("blocking_rules_add") or variant.get("blocking_rules_drop"):
        kept, added = variant_blocking_rules(model["blocking_rules"], [variant])
        out["blocking_rules"] = [*kept, *added]
    if variant.get("training"):
        out["training"] = variant["training"]
    if variant.get("block_size_cap"):
        out["block_size_cap"] = variant["block_size_cap"]
    return out


def jvm_cpu() -> float:
    """CPU-seconds (user + system) the Spark JVM has used so far (bench/harness.py's measure)."""
    from harness import jvm_cpu_seconds

    return jvm_cpu_seconds()


def run_variant(ctx, name: str, overlay: dict, truth_path: str, hidden_path: str, truth=None) -> dict:
    from pyspark.sql import functions as F

    from padan.stages import Ctx, link_run_id, run_cluster, run_evaluate, run_predict, run_train
    from padan.tables import PERSONS
    from padan.tables import RUNS

    if overlay:
        ctx = Ctx.create(ctx.spark, ctx.cfg.with_overrides({"model": model_overlay(ctx.cfg, overlay)}),
                         run_date=ctx.run_date)
    out: dict = {"variant": name, "overlay": overlay, "seconds": {}, "jvm_cpu_seconds": {}}
    t, c = time.monotonic(), jvm_cpu()
    version = run_train(ctx)
    out["seconds"]["train"] = round(time.monotonic() - t, 1)
    out["jvm_cpu_seconds"]["train"] = round(jvm_cpu() - c, 1)
    row = (ctx.lake.read(RUNS.name).where((F.col("stage") == "train") & (F.col("status") == "succeeded")
                                           & (F.col("message") == f"model_version={version}")).first())
    counts = dict(row.row_counts or {}) if row else {}
    out["label_pairs"] = {k[12:]: v for k, v in counts.items() if k.startswith("label_pairs_")}
    out["model_version"] = version
    if (overlay.get("blocking_rules_add") or overlay.get("blocking_rules_drop") or overlay.get("block_size_cap")) \
            and truth is not None:
        out["blocking"] = blocking_table(ctx, ctx.cfg.model, ctx.lake.read(PERSONS.name), truth)
        out["candidate_pairs"] = out["blocking"]["candidate_pairs"]
    run_id = link_run_id(ctx, version)
    t, c = time.monotonic(), jvm_cpu()
    out["pairs_kept"] = run_predict(ctx, run_id, version)
    out["seconds"]["predict"] = round(time.monotonic() - t, 1)
    out["jvm_cpu_seconds"]["predict"] = round(jvm_cpu() - c, 1)
    t, c = time.monotonic(), jvm_cpu()
    out["persons"] = run_cluster(ctx, run_id).get("persons")
    out["seconds"]["cluster"] = round(time.monotonic() - t, 1)
    out["jvm_cpu_seconds"]["cluster"] = round(jvm_cpu() - c, 1)
    rows = run_evaluate(ctx, run_id, truth_path)
    pick = lambda kind: next(r for r in rows if r["kind"] == kind and r["is_configured_threshold"])  # noqa: E731
    pw, best = pick("pairwise"), next(r for r in rows if r["is_best_f1"])
    cp, cb = pick("cluster_pairwise"), pick("cluster_bcubed")
    out["accuracy"] = {
        "threshold": pw["threshold"], "pairwise_precision": pw["precision"], "pairwise_recall": pw["recall"],
        "pairwise_f1": pw["f1"], "predicted_pairs": pw["predicted_pairs"], "true_pairs": pw["true_pairs"],
        "best_f1": best["f1"], "best_f1_threshold": best["threshold"],
        "cluster_precision": cp["precision"], "cluster_recall": cp["recall"], "cluster_f1": cp["f1"],
        "bcubed_precision": cb["precision"], "bcubed_recall": cb["recall"], "bcubed_f1": cb["f1"]}
    t = time.monotonic()
    out["errors"] = diagnose(ctx, run_id, pw["threshold"], hidden_path)
    out["seconds"]["diagnose"] = round(time.monotonic() - t, 1)
    out["run_id"] = run_id
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", required=True)
    p.add_argument("--p3ke-rows", type=int, default=None, help="generate and ingest this many P3KE rows first")
    p.add_argument("--prakerja-rows", type=int, default=None)
    p.add_argument("--profile", default="typical")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--variants", default="base")
    p.add_argument("--driver-memory", default="3g")
    p.add_argument("--skip-blocking", action="store_true", help="no candidate-pair count and blocking recall")
    p.add_argument("--results", default="bench/results")
    args = p.parse_args(argv)

    from harness import machine_info, work_config
    from padan.evaluate.metrics import truth_as_unique_ids
    from padan.stages import Ctx, run_ingest
    from padan.spark import spark_from_config
    from padan.tables import PERSONS

    work = Path(args.work).resolve()
    data = work / "data"
    cfg = work_config(work, {"driver_memory": args.driver_memory, "master": "local[2]", "shuffle_partitions": 2})
    spark = spark_from_config(cfg, "padan-family")
    variants = yaml.safe_load(VARIANTS_FILE.read_text()) or {}
    result: dict = {"kind": "family", "profile": args.profile, "seed": args.seed,
                    "started_at": dt.datetime.now().isoformat(timespec="seconds"),
                    "machine": machine_info(spark), "shared_machine": True,
                    "load_average_at_start": [round(x, 2) for x in os.getloadavg()], "steps_seconds": {}}
    ctx = Ctx.create(spark, cfg, run_date=dt.date.today().isoformat())
    if args.p3ke_rows:
        from padan_synth import write_extracts

        t = time.monotonic()
        write_extracts(spark, str(data), p3ke_rows=args.p3ke_rows, prakerja_rows=args.prakerja_rows,
                       seed=args.seed, profile=args.profile, fmt="csv")
        write_hidden(spark, data, args)
        result["steps_seconds"]["synth"] = round(time.monotonic() - t, 1)
        for source in sorted(cfg.sources):
            t = time.monotonic()
            run_ingest(ctx, source)
            result["steps_seconds"][f"ingest_{source}"] = round(time.monotonic() - t, 1)
    persons = ctx.lake.read(PERSONS.name)
    result["records_by_source"] = {r[0]: r[1] for r in persons.groupBy("source_dataset").count().collect()}
    result["records"] = sum(result["records_by_source"].values())
    truth_path = str(data / "truth")
    truth = truth_as_unique_ids(spark.read.parquet(truth_path))
    if not args.skip_blocking:   # the same for every variant without its own blocking rules
        result["blocking"] = blocking_table(ctx, cfg.model, persons, truth)
    result["variants"] = {}
    for name in [v.strip() for v in args.variants.split(",") if v.strip()]:
        overlay: dict = {}
        for part in ([] if name == "base" else name.split("&")):   # "a&b": both overlays
            spec = variants[part]
            overlay.setdefault("comparisons", {}).update(spec.get("comparisons") or {})
            overlay.setdefault("training", {}).update(spec.get("training") or {})
            overlay.setdefault("blocking_rules_add", []).extend(spec.get("blocking_rules_add") or [])
            overlay.setdefault("blocking_rules_drop", []).extend(spec.get("blocking_rules_drop") or [])
            if spec.get("block_size_cap"):
                overlay["block_size_cap"] = spec["block_size_cap"]
        result["variants"][name] = run_variant(ctx, name, overlay, truth_path, str(data / "hidden"), truth)
        print(json.dumps({name: result["variants"][name]["accuracy"],
                          "errors": result["variants"][name]["errors"]}, indent=1, default=str), flush=True)
    result["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    out = Path(args.results) / f"{dt.date.today()}-family-{args.profile}-{result['records']}-{args.variants.replace(',', '+')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, default=str) + "\n")
    print(f"result: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
