"""True pairs no prediction blocking rule reaches, by what their two records share (issue 21), and
what candidate rules would add.

On a lake written by bench/family.py (`--work`, the same folder): the true pairs (generator truth)
that none of conf/base/model.yml's `blocking_rules` produces are counted by which fields agree,
differ or are missing on one side (one aggregate; the most common combinations of a few flags
too), and by the generator's own record of the damage (`data/hidden`: the birth date's and the
NIK's kind), when the folder has it. Then each candidate rule (`--rules FILE`: a YAML list, or
`--rule` repeated) is measured after the committed rules: the missed true pairs it finds, the
candidate pairs it adds (padan's engine, the pairs predict would score), and its largest block
(the key value shared by most records: a low-cardinality key shows here). Only counts are
printed and written (`--out`), never a record's values.

    PYTHONPATH=src .venv/bin/python bench/blocking_misses.py --work /tmp/fam/hard --rules bench/q14_rules.yml
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import time
from pathlib import Path

import yaml

# Flags over a pair (SQL on `l.` / `r.` structs of silver.persons columns).
FLAGS = {
    "nik_missing_one_side": "l.nik_cmp IS NULL OR r.nik_cmp IS NULL",
    "nik_equal": "l.nik_cmp = r.nik_cmp",
    "nik_district_equal": "l.nik_district = r.nik_district",
    "no_kk_missing_one_side": "l.no_kk IS NULL OR r.no_kk IS NULL",
    "no_kk_equal": "l.no_kk = r.no_kk",
    "name_clean_equal": "l.name_clean = r.name_clean",
    "name_sorted_equal": "l.name_sorted = r.name_sorted",
    "name_phonetic_equal": "l.name_phonetic = r.name_phonetic",
    "first_phonetic_equal": "l.name_first_phonetic = r.name_first_phonetic",
    "last_phonetic_equal": "l.name_last_phonetic = r.name_last_phonetic",
    "first_last_crossed": "l.name_first_phonetic = r.name_last_phonetic OR l.name_last_phonetic = r.name_first_phonetic",
    "some_token_sound_shared": "arrays_overlap(split(l.name_phonetic, ' '), split(r.name_phonetic, ' '))",
    "first_token_one_letter_off": "damerau_levenshtein(l.name_first, r.name_first) <= 1",
    "token_count_differs": "l.name_tokens <> r.name_tokens",
    "mononym_one_side": "l.name_tokens = 1 OR r.name_tokens = 1",
    "birth_date_missing_one_side": "l.birth_date IS NULL OR r.birth_date IS NULL",
    "birth_date_equal": "l.birth_date = r.birth_date",
    "placeholder_one_side": "l.dob_placeholder OR r.dob_placeholder",
    "birth_year_equal": "l.birth_year = r.birth_year",
    "birth_year_within_1": "abs(l.birth_year - r.birth_year) <= 1",
    "birth_month_equal": "l.birth_month = r.birth_month",
    "birth_month_day_equal": "l.birth_month = r.birth_month AND l.birth_day = r.birth_day",
    "sex_equal": "l.sex = r.sex",
    "province_equal": "l.province_code = r.province_code",
    "kabupaten_equal": "l.kabupaten = r.kabupaten",
    "kecamatan_equal": "l.kecamatan = r.kecamatan AND l.kabupaten = r.kabupaten",
    "desa_equal": "l.desa = r.desa AND l.kecamatan = r.kecamatan AND l.kabupaten = r.kabupaten",
    "phone_equal": "l.phone = r.phone",
    "email_equal": "l.email = r.email",
    "same_source": "l.source_dataset = r.source_dataset",
}
COMBO = ["nik_missing_one_side", "no_kk_equal", "first_phonetic_equal", "last_phonetic_equal",
         "some_token_sound_shared", "birth_year_equal", "placeholder_one_side", "kabupaten_equal"]


def register(spark) -> None:
    from padan.link.engine import register_similarity_functions

    register_similarity_functions(spark)


def missed_pairs(persons, truth, rules):
    """The true pairs (both records standardised) no rule in `rules` produces, as (l, r) structs."""
    from pyspark.sql import functions as F

    from padan.evaluate.blocking import true_pairs

    side = lambda s: persons.select(F.col("unique_id").alias(f"unique_id_{s}"),  # noqa: E731
                                    F.struct(*[F.col(f"`{c}`") for c in persons.columns]).alias(s))
    pairs = true_pairs(truth).join(side("l"), "unique_id_l").join(side("r"), "unique_id_r")
    anyrule = F.lit(False)
    for r in rules:
        anyrule = anyrule | F.coalesce(F.expr(r), F.lit(False))
    return pairs.where(~anyrule)


def block_stats(persons, rule: str) -> dict:
    """Distinct key values and the largest block of a rule's equi-join keys (records with all set)."""
    from pyspark.sql import functions as F

    from padan.link.predict import equi_join_keys

    keys = equi_join_keys(rule)
    if not keys:
        return {"keys": None}
    g = persons.where(F.greatest(*[F.col(k).isNull() for k in keys], F.lit(False)) == F.lit(False)).groupBy(*keys).count()
    row = g.agg(F.count("*").alias("blocks"), F.max("count").alias("largest"),
                F.sum(F.col("count") * (F.col("count") - 1) / 2).alias("pairs_in_blocks")).first()
    return {"keys": keys, "blocks": row["blocks"], "largest_block": row["largest"],
            "pairs_within_key_blocks": int(row["pairs_in_blocks"] or 0)}


def describe(spark, missed, hidden: Path) -> dict:
    """Counts of the missed pairs by flag, by the most common combinations of COMBO's flags, and (if
    the work folder has the generator's hidden columns) by the damage the generator did."""
    from pyspark.sql import functions as F

    flag = lambda k: F.coalesce(F.expr(FLAGS[k]), F.lit(False))  # noqa: E731
    out: dict = {"missed_by_flag": missed.agg(*[F.sum(flag(k).cast("long")).alias(k) for k in FLAGS]).first().asDict()}
    combo = missed.groupBy(*[flag(k).alias(k) for k in COMBO]).count()
    out["missed_by_combination"] = [{**{k: bool(r[k]) for k in COMBO}, "n": r["count"]}
                                    for r in combo.orderBy(F.desc("count")).limit(25).collect()]
    if hidden.exists():
        h = spark.read.parquet(str(hidden)).select("unique_id", "_dob_kind", "_nik_kind")
        hl = h.select(*[F.col(c).alias(f"{c}_l") for c in h.columns])
        hr = h.select(*[F.col(c).alias(f"{c}_r") for c in h.columns])
        mh = missed.select("unique_id_l", "unique_id_r").join(hl, "unique_id_l").join(hr, "unique_id_r")
        both = lambda c: F.array_join(F.array_sort(F.array(F.coalesce(f"{c}_l", F.lit("-")),  # noqa: E731
                                                           F.coalesce(f"{c}_r", F.lit("-")))), "+")
        out["missed_by_generator_damage"] = [
            {"birth_date": r["dob"], "nik": r["nik"], "n": r["count"]}
            for r in mh.groupBy(both("_dob_kind").alias("dob"), both("_nik_kind").alias("nik")).count()
            .orderBy(F.desc("count")).limit(30).collect()]
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", required=True)
    p.add_argument("--rules", help="YAML list of candidate rules (or a mapping name -> rule)")
    p.add_argument("--rule", action="append", default=[])
    p.add_argument("--cumulative", action="store_true",
                   help="measure each candidate after the committed rules and the candidates before it")
    p.add_argument("--skip-flags", action="store_true", help="candidates only")
    p.add_argument("--first", type=int, default=None, help="count only the first N configured rules as committed")
    p.add_argument("--driver-memory", default="3g")
    p.add_argument("--out", default=None, help="write the counts as JSON here")
    args = p.parse_args(argv)

    from pyspark.sql import functions as F

    from harness import work_config
    from padan.evaluate.metrics import truth_as_unique_ids
    from padan.link import engine
    from padan.model.settings import untrained_settings
    from padan.spark import spark_from_config
    from padan.stages import Ctx
    from padan.tables import PERSONS

    work = Path(args.work).resolve()
    cfg = work_config(work, {"driver_memory": args.driver_memory, "master": "local[2]", "shuffle_partitions": 2})
    spark = spark_from_config(cfg, "padan-blocking-misses")
    register(spark)
    ctx = Ctx.create(spark, cfg, run_date=dt.date.today().isoformat())
    persons = ctx.lake.read(PERSONS.name).cache()
    n = persons.count()
    truth = truth_as_unique_ids(spark.read.parquet(str(work / "data" / "truth")))
    committed = list(cfg.model.blocking_rules)[:args.first]
    cands: list[tuple[str, str]] = []
    if args.rules:
        spec = yaml.safe_load(Path(args.rules).read_text())
        cands += list(spec.items()) if isinstance(spec, dict) else [(f"r{i}", r) for i, r in enumerate(spec)]
    cands += [(f"cli{i}", r) for i, r in enumerate(args.rule)]

    out: dict = {"records": n, "committed_rules": len(committed),
                 "load_average_at_start": [round(x, 2) for x in os.getloadavg()]}
    missed = missed_pairs(persons, truth, committed).cache()
    out["missed_true_pairs"] = missed.count()
    if not args.skip_flags:
        out.update(describe(spark, missed, work / "data" / "hidden"))
        print(json.dumps({k: out[k] for k in ("records", "missed_true_pairs", "missed_by_flag")}, indent=1), flush=True)
        for c in out["missed_by_combination"] + out.get("missed_by_generator_damage", []):
            print(c, flush=True)

    out["candidates"] = []
    base_counts = engine.candidate_counts(spark, persons, untrained_settings(cfg.model, blocking_rules=committed))
    out["committed_candidate_pairs"] = sum(base_counts)
    before: list[str] = []
    remaining = missed
    for name, rule in cands:
        t = time.monotonic()
        hit = F.coalesce(F.expr(rule), F.lit(False))
        found = remaining.where(hit).count()
        counts = engine.candidate_counts(spark, persons, untrained_settings(
            cfg.model, blocking_rules=[*committed, *before, rule]))
        if args.cumulative:
            before.append(rule)
            remaining = remaining.where(~hit)
        rec = {"name": name, "rule": rule, "missed_true_pairs_found": found, "candidate_pairs_added": counts[-1],
               "pairs_per_record_added": round(counts[-1] / n, 4), **block_stats(persons, rule),
               "seconds": round(time.monotonic() - t, 1)}
        out["candidates"].append(rec)
        print(json.dumps(rec), flush=True)
    out["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(out, indent=1, default=str) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
