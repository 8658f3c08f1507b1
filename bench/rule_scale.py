"""Candidate pairs per prediction blocking rule as a register grows (issue 21).

On a lake written by bench/family.py, or generated and ingested here (`--p3ke-rows`, `--prakerja-rows`,
`padan_synth`, the profile and seed given): for conf/base/model.yml's prediction blocking rules plus
the `blocking_rules_add` of the variants named in `--variant` (bench/family_variants.yml, "a&b"; their
`blocking_rules_drop` leave the committed list),
count per rule the candidate pairs padan's engine would score (each pair counted for the first rule
that finds it, as predict does), the rule's blocking recall against the generator's truth (alone and
the union so far), and its largest key block (the most records sharing one value of the rule's
equi-join keys) with the pairs inside its key blocks. Run at two or more sizes to see pairs per
record grow: a rule whose blocks grow with the records per kabupaten costs more pairs per record in
a bigger register. Only counts are written, never a record's values: bench/results/<date>-rule-scale-<profile>-<records>.json.

    PYTHONPATH=src:bench .venv/bin/python bench/rule_scale.py --work /tmp/rs/1M --profile typical \\
        --p3ke-rows 600000 --prakerja-rows 400000 --variant 'no_card_rule' --driver-memory 6g
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path

import yaml

VARIANTS_FILE = Path(__file__).with_name("family_variants.yml")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", required=True)
    p.add_argument("--p3ke-rows", type=int, default=None, help="generate and ingest this many P3KE rows first")
    p.add_argument("--prakerja-rows", type=int, default=None)
    p.add_argument("--profile", default="typical")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--variant", default="", help="variants whose blocking_rules_add follow the committed rules "
                                                 "(less their blocking_rules_drop)")
    p.add_argument("--driver-memory", default="3g")
    p.add_argument("--skip-recall", action="store_true", help="no blocking recall (no truth join)")
    p.add_argument("--results", default="bench/results")
    p.add_argument("--label", default="")
    args = p.parse_args(argv)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)   # the generator's workers need numpy

    from blocking_misses import block_stats
    from family import variant_blocking_rules
    from harness import Monitor, machine_info, work_config
    from padan.evaluate.blocking import blocking_recall
    from padan.evaluate.metrics import truth_as_unique_ids
    from padan.link import engine
    from padan.model.settings import untrained_settings
    from padan.spark import spark_from_config
    from padan.stages import Ctx, run_ingest
    from padan.tables import PERSONS

    work = Path(args.work).resolve()
    data = work / "data"
    cfg = work_config(work, {"driver_memory": args.driver_memory, "master": "local[2]", "shuffle_partitions": 2})
    spark = spark_from_config(cfg, "padan-rule-scale")
    variants = yaml.safe_load(VARIANTS_FILE.read_text()) or {}
    parts = [variants[part.strip()] for part in args.variant.split("&") if part.strip()]
    committed, added = variant_blocking_rules(list(cfg.model.blocking_rules), parts)
    dropped = sorted(set(cfg.model.blocking_rules) - set(committed))
    rules = [*committed, *added]
    out: dict = {"kind": "rule_scale", "profile": args.profile, "seed": args.seed, "variant": args.variant,
                 "label": args.label, "started_at": dt.datetime.now().isoformat(timespec="seconds"),
                 "machine": machine_info(spark), "shared_machine": True,
                 "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
                 "committed_rules": len(committed), "dropped_rules": dropped, "steps": {}}
    ctx = Ctx.create(spark, cfg, run_date=dt.date.today().isoformat())
    with Monitor(spark) as mon:
        if args.p3ke_rows:
            from padan_synth import write_extracts

            with mon.step("rule_scale", "synth"):
                write_extracts(spark, str(data), p3ke_rows=args.p3ke_rows, prakerja_rows=args.prakerja_rows,
                               seed=args.seed, profile=args.profile, fmt="csv")
            for source in sorted(cfg.sources):
                with mon.step("rule_scale", f"ingest_{source}"):
                    run_ingest(ctx, source)
        persons = ctx.lake.read(PERSONS.name).cache()
        n = persons.count()
        out["records"] = n
        with mon.step("rule_scale", "candidate_counts"):
            counts = engine.candidate_counts(spark, persons, untrained_settings(cfg.model, blocking_rules=rules))
        recall = None
        if not args.skip_recall:
            truth = truth_as_unique_ids(spark.read.parquet(str(data / "truth")))
            with mon.step("rule_scale", "blocking_recall"):
                recall = blocking_recall(persons, truth, rules).as_dict()
        per_rule = []
        with mon.step("rule_scale", "block_stats"):
            for i, (rule, c) in enumerate(zip(rules, counts)):
                rec = {"index": i, "rule": rule, "new": i >= len(committed), "candidate_pairs": c,
                       "pairs_per_record": round(c / n, 4), **block_stats(persons, rule)}
                if recall is not None:
                    r = recall["rules"][i]
                    rec.update({k: r[k] for k in r if k != "rule"})
                per_rule.append(rec)
                print(json.dumps(rec), flush=True)
        out["rules"] = per_rule
        out["candidate_pairs"] = {"committed": sum(counts[:len(committed)]), "all": sum(counts)}
        out["pairs_per_record"] = {k: round(v / n, 4) for k, v in out["candidate_pairs"].items()}
        if recall is not None:
            out["blocking_recall"] = {k: v for k, v in recall.items() if k != "rules"}
    out["steps"] = mon.system_summary("rule_scale")["steps"]
    out["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    name = f"{dt.date.today()}-rule-scale-{args.profile}-{n}{'-' + args.label if args.label else ''}.json"
    path = Path(args.results) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1, default=str) + "\n")
    print(json.dumps({"records": n, "candidate_pairs": out["candidate_pairs"], "pairs_per_record": out["pairs_per_record"],
                      "blocking_recall": out.get("blocking_recall")}, indent=1, default=str))
    print(f"result: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
