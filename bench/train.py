"""Train with padan's counts and with Splink's training calls: the same silver records and config.

Generates the records (or reuses WORK/data), ingests them into WORK/lake (unless done), then runs
`padan.model.train.train_model` once per engine (`training.engine: padan | splink`, `nik_anchored`)
and reports, per engine: wall seconds, JVM CPU-seconds (the driver JVM from /proc: local mode runs
every task in it), Spark jobs (status tracker, by job group), seconds per step (prior, u, m), label
pairs, and the largest difference between the two models' m and prior (expected 0) and u (two
random samples). Writes bench/results/<date>-train-<records>.json. Run sizes one at a time to see
whether training cost follows the configured samples (u_max_pairs, max_label_pairs), not the lake.

    .venv/bin/python bench/train.py --records 100000 --work /tmp/bench-train
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from engine import measured, parse_args, prepare  # noqa: E402  (bench/engine.py: shared setup, job group, wall, JVM CPU)


def _max_diff(a: dict, b: dict, key: str) -> float:
    worst = 0.0
    for ca, cb in zip(a["comparisons"], b["comparisons"]):
        for la, lb in zip(ca["comparison_levels"], cb["comparison_levels"]):
            if not la.get("is_null_level"):
                worst = max(worst, abs(la[key] - lb[key]))
    return worst


def main(argv=None) -> int:
    args = parse_args(__doc__.split("\n\n")[0], argv)
    from padan.model.train import train_model
    from padan.tables import PERSONS

    spark, cfg, ctx, result = prepare(args, "train")
    result["training"] = cfg.model.training.model_dump(mode="json")
    persons = ctx.lake.read(PERSONS.name)
    result["silver_records"] = persons.count()
    result["engines"], models = {}, {}
    for name in args.engines.split(","):
        update = {"engine": name, **({"m_method": args.m_method} if args.m_method else {})}
        model = cfg.model.model_copy(update={"training": cfg.model.training.model_copy(update=update)})
        group = f"bench-train-{name}"
        trained, wall, cpu, jobs = measured(spark, group, lambda: train_model(spark, persons, model))
        models[name] = trained.settings
        one = {"wall_seconds": wall, "jvm_cpu_seconds": cpu, "spark_jobs": jobs,
               "step_seconds": {k: round(v, 1) for k, v in trained.seconds.items()},
               "label_pairs": trained.label_pairs}
        result["engines"][name] = one
        print(json.dumps({name: one}), flush=True)
    if {"padan", "splink"} <= set(models):
        a, b = models["padan"], models["splink"]
        result["max_m_difference"] = _max_diff(a, b, "m_probability")
        result["max_u_difference"] = _max_diff(a, b, "u_probability")
        result["prior"] = {"padan": a["probability_two_random_records_match"],
                           "splink": b["probability_two_random_records_match"]}
    result["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    method = f"-{args.m_method}" if args.m_method else ""
    out = Path(args.results) / f"{dt.date.today()}-train{method}-{result['silver_records']}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, default=str) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k not in ("machine", "training")}, indent=1, default=str))
    print(f"result: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
