"""Candidate pairs and blocking recall under a block-size cap (issues 21, 17).

On a lake written by bench/family.py or bench/rule_scale.py (WORK/lake, truth in WORK/data/truth),
for each rule set (`--sets`: `main` = conf/base/model.yml's prediction rules; otherwise variants of
bench/family_variants.yml joined with "&", whose `blocking_rules_add` follow the committed rules
less their `blocking_rules_drop`) and each cap (`--caps`: `none` or a number, `model.block_size_cap`),
count with padan's engine the candidate pairs per rule (each for the first rule that finds it within
the cap, as predict scores them) and the true pairs among them (generator truth): pairs per record,
blocking recall of each rule's pairs and of the union. One aggregate query per set and cap; its
wall seconds, JVM CPU-seconds and Spark jobs are written beside the counts. Only counts are written,
never a record's values: bench/results/<date>-block-cap-<profile>-<records>[-label].json.

    PYTHONPATH=src:bench .venv/bin/python bench/block_cap.py --work /tmp/q15/typical \\
        --sets 'main,no_card_rule' --caps none,20,50,100 --driver-memory 4g
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from pathlib import Path

import yaml

VARIANTS_FILE = Path(__file__).with_name("family_variants.yml")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", required=True)
    p.add_argument("--profile", default="typical", help="only a label in the results")
    p.add_argument("--sets", default="main", help="comma-separated rule sets: main or variants joined with &; "
                                                  "'set:none/50' gives that set its own caps")
    p.add_argument("--caps", default="none,20,50,100")
    p.add_argument("--driver-memory", default="3g")
    p.add_argument("--results", default="bench/results")
    p.add_argument("--label", default="")
    args = p.parse_args(argv)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

    from pyspark.sql import functions as F

    from family import variant_blocking_rules
    from harness import Monitor, machine_info, work_config
    from padan.evaluate.blocking import true_pairs
    from padan.evaluate.metrics import truth_as_unique_ids
    from padan.link import engine
    from padan.model.settings import untrained_settings
    from padan.spark import spark_from_config
    from padan.stages import Ctx
    from padan.tables import PERSONS

    work = Path(args.work).resolve()
    cfg = work_config(work, {"driver_memory": args.driver_memory, "master": "local[2]", "shuffle_partitions": 2})
    spark = spark_from_config(cfg, "padan-block-cap")
    variants = yaml.safe_load(VARIANTS_FILE.read_text()) or {}
    caps = [None if c.strip().lower() == "none" else int(c) for c in args.caps.split(",")]
    ctx = Ctx.create(spark, cfg, run_date=dt.date.today().isoformat())
    persons = ctx.lake.read(PERSONS.name).cache()
    n = persons.count()
    truth = true_pairs(truth_as_unique_ids(spark.read.parquet(str(work / "data" / "truth")))).cache()
    n_true = truth.count()
    out: dict = {"kind": "block_cap", "profile": args.profile, "records": n, "true_pairs": n_true,
                 "label": args.label, "started_at": dt.datetime.now().isoformat(timespec="seconds"),
                 "machine": machine_info(spark), "shared_machine": True,
                 "load_average_at_start": [round(x, 2) for x in os.getloadavg()], "runs": []}
    flagged = truth.select("unique_id_l", "unique_id_r", F.lit(1).alias("__true"))
    name = f"{dt.date.today()}-block-cap-{args.profile}-{n}{'-' + args.label if args.label else ''}.json"
    path = Path(args.results) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    parse_caps = lambda text: [None if c.strip().lower() == "none" else int(c) for c in text.split("/")]  # noqa: E731
    with Monitor(spark) as mon:
        for spec in [s.strip() for s in args.sets.split(",") if s.strip()]:
            set_name, _, own = spec.partition(":")
            set_caps = parse_caps(own) if own else caps
            parts = [] if set_name == "main" else [variants[v.strip()] for v in set_name.split("&") if v.strip()]
            committed, added = variant_blocking_rules(list(cfg.model.blocking_rules), parts)
            rules = [*committed, *added]
            settings = untrained_settings(cfg.model, blocking_rules=rules)
            for cap in set_caps:
                step = f"{set_name}-cap-{cap}"
                with mon.step("block_cap", step):
                    pairs = engine.candidate_pairs(spark, persons, settings, block_size_cap=cap)
                    ids = pairs.select(F.least("unique_id_l", "unique_id_r").alias("unique_id_l"),
                                       F.greatest("unique_id_l", "unique_id_r").alias("unique_id_r"), "match_key")
                    rows = (ids.join(flagged, ["unique_id_l", "unique_id_r"], "left").groupBy("match_key")
                            .agg(F.count(F.lit(1)).alias("pairs"), F.count("__true").alias("true")).collect())
                by_rule = {int(r["match_key"]): (int(r["pairs"]), int(r["true"])) for r in rows}
                per_rule, cum = [], 0
                for k, rule in enumerate(rules):
                    c, t = by_rule.get(k, (0, 0))
                    cum += t
                    per_rule.append({"index": k, "rule": rule, "new": k >= len(committed), "candidate_pairs": c,
                                     "pairs_per_record": round(c / n, 4), "true_pairs_first_found": t,
                                     "cumulative_recall": round(cum / n_true, 5)})
                total = sum(c for c, _ in by_rule.values())
                found = sum(t for _, t in by_rule.values())
                s = mon.steps[-1]
                run = {"set": set_name, "cap": cap, "rules": per_rule, "candidate_pairs": total,
                       "pairs_per_record": round(total / n, 4), "true_pairs_found": found,
                       "blocking_recall": round(found / n_true, 5), "seconds": round(s.seconds, 1),
                       "jvm_cpu_seconds": round(s.jvm_cpu_seconds, 1), "spark_jobs": s.spark_jobs,
                       "load_average": [round(x, 2) for x in os.getloadavg()]}
                out["runs"].append(run)
                print(json.dumps({k: v for k, v in run.items() if k != "rules"}), flush=True)
                print("  per rule pairs/record:", [r["pairs_per_record"] for r in per_rule], flush=True)
                path.write_text(json.dumps(out, indent=1, default=str) + "\n")   # after each run: a partial file
    out["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    path.write_text(json.dumps(out, indent=1, default=str) + "\n")
    print(f"result: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
