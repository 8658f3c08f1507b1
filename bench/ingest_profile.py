"""Which standardised columns cost task CPU: the silver query timed with subsets of its columns.

For one source: read the CSV extract under its contract, cache the keyed raw rows (as the ingest
does), build the standardisation query exactly as `run_ingest` does (lookups when the batch is large
enough, `padan.stages.ingest.LOOKUP_MIN_ROWS`), then run `select(<columns>)` of it into Spark's
`noop` sink for each column group: the bookkeeping columns alone (the base), the base plus one
group, and all columns. A group's cost is its run's CPU minus the base's. Each run is repeated
(`--repeat`, the first pays most of the JIT); the JVM CPU-seconds are split by thread kind
(`bench/ingest.py`'s Meter: tasks / JIT / GC / other). `--explain FILE` writes the whole query's
`explain("formatted")` and `explain("codegen")` (under adaptive execution these show the plan before
it runs, without whole-stage code generation ids: `not_codegen` then lists every node, so read the
file rather than that list). The result also holds the largest method Spark generated in the run's
JVM (HotSpot leaves a method above 8,000 bytes of bytecode interpreted by default).

    PYTHONPATH=src .venv/bin/python bench/ingest_profile.py --data /tmp/i14/1M --source p3ke \
        --out bench/results/<date>-ingest-profile-1M-p3ke.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest import REPO, Meter, session  # noqa: E402  bench/ingest.py

BASE = ("unique_id", "source_dataset", "record_key", "batch_id", "source_file", "line", "raw_text")
GROUPS = {
    "nik": ("nik", "nik_valid", "nik_issue", "nik_province", "nik_regency", "nik_district", "nik_birth_date",
            "nik_sex", "nik_cmp"),
    "no_kk": ("no_kk",),
    "birth_date": ("birth_date", "birth_date_invalid", "birth_year", "birth_month", "birth_day", "dob_placeholder"),
    "nik_vs_birth_sex": ("nik_dob_mismatch", "nik_sex_mismatch"),
    "sex": ("sex",),
    "phone": ("phone",),
    "email": ("email",),
    "other_id": ("other_id",),
    "address": ("address_clean",),
    "rt_rw": ("rt", "rw"),
    "regions": ("desa", "kecamatan", "kabupaten", "provinsi"),
    "region_codes": ("province_code", "regency_code", "district_code"),
    "desil": ("desil",),
    "texts": ("family_relation", "occupation", "education", "employment_status", "wave", "program_status"),
    "registered_at": ("registered_at",),
    "name": ("name_clean", "name_tokens", "name_first", "name_last", "name_sorted", "name_phonetic",
             "name_first_phonetic", "name_last_phonetic"),
    "flags": ("flags",),
    "reasons": ("reasons",),
}


def build(ctx, source: str, data: Path):
    """(cached keyed rows, the standardisation query, rows): as `padan.stages.ingest._write_batch`."""
    from pyspark import StorageLevel

    import padan.stages.ingest as stage
    from padan.ingest.derive import field_columns
    from padan.ingest.read import list_files, read_source
    from padan.standardise.lookup import lookup_tables
    from padan.standardise.persons import flag_duplicates, record_keys, repeated_keys, standardise_rows

    contract = ctx.cfg.sources[source]
    std_cfg = ctx.cfg.standardise
    files = list_files(ctx.spark, source, str(data / source))
    raw = read_source(ctx.spark, source, contract, files)
    base = record_keys(raw.rows, contract.record_key).persist(StorageLevel.MEMORY_AND_DISK)
    n = base.count()
    repeated = (repeated_keys(base, stage.REPEATED_KEYS_MAX)
                if contract.record_key and n >= stage.REPEATED_KEYS_MIN_ROWS else None)
    keyed = flag_duplicates(base, contract.record_key, repeated)
    rules = {"titles": std_cfg.name_titles, "muhammad_variants": std_cfg.muhammad_variants}
    lookups = lookup_tables(base, field_columns(contract), n, stage.LOOKUP_MAX_VALUES, min_rows=stage.LOOKUP_MIN_ROWS,
                            **rules)
    std = standardise_rows(
        keyed, source=source, batch_id="bench", columns=field_columns(contract), date_formats=contract.date_formats,
        value_maps=contract.value_maps, key_column=contract.record_key, titles=std_cfg.name_titles,
        muhammad_variants=std_cfg.muhammad_variants, placeholder_dates=std_cfg.placeholder_dates,
        day15_placeholder=std_cfg.day15_placeholder, placeholder_niks=std_cfg.placeholder_niks,
        min_birth_year=std_cfg.min_birth_year, reference_date=ctx.run_date, required=contract.required,
        valid_ranges=contract.valid_ranges, identifying_regions=std_cfg.identifying_regions, lookups=lookups)
    return base, std, n, sorted(lookups)


def not_codegen(plan_text: str) -> list[str]:
    """Physical plan nodes (from `explain("formatted")`'s tree) without a whole-stage codegen id."""
    tree = plan_text.split("\n\n", 1)[0]
    out = []
    for line in tree.splitlines():
        m = re.search(r"([A-Z][A-Za-z]+)(?: \(\d+\))?$", line.strip())
        if m and "*(" not in line:
            out.append(line.strip())
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="folder with p3ke/ and prakerja/ CSV extracts (bench/ingest.py)")
    p.add_argument("--source", default="p3ke")
    p.add_argument("--driver-memory", default="3g")
    p.add_argument("--cores", type=int, default=2)
    p.add_argument("--repeat", type=int, default=2, help="runs per column set (the first pays most of the JIT)")
    p.add_argument("--groups", help="comma-separated groups to time (default: all)")
    p.add_argument("--lookup-min-rows", type=int, help="override padan.stages.ingest.LOOKUP_MIN_ROWS")
    p.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE", help="a Spark SQL setting (repeatable)")
    p.add_argument("--java-opts", default="", help="JVM options added to the driver's (e.g. JIT settings)")
    p.add_argument("--explain", help="write the whole query's explain('codegen') here")
    p.add_argument("--label", default="")
    p.add_argument("--out", help="write the result JSON here")
    a = p.parse_args(argv)

    from padan import config
    from padan.stages import Ctx

    spark = session(a.driver_memory, a.cores, a.java_opts)
    for kv in a.conf:
        k, _, v = kv.partition("=")
        spark.conf.set(k, v)
    if a.lookup_min_rows is not None:
        import padan.stages.ingest as stage

        stage.LOOKUP_MIN_ROWS = a.lookup_min_rows
    work = Path(tempfile.mkdtemp(prefix="padan-bench-profile-"))
    cfg = config.load(env="base", conf_dir=REPO / "conf", overrides={"lake": {"root": str(work / "lake")}})
    ctx = Ctx.create(spark, cfg, run_date="2026-11-28")
    result = {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "label": a.label,
              "source": a.source, "data": a.data, "cores": a.cores, "driver_memory": a.driver_memory,
              "conf": a.conf, "java_opts": a.java_opts, "load_avg_start": os.getloadavg(), "runs": {}}
    try:
        with Meter(spark, "cache") as m:
            base, std, n, lookups = build(ctx, a.source, Path(a.data))
        result.update(rows=n, lookups=lookups, cache=m.result(n))
        if a.explain:
            import contextlib
            import io

            buf = io.StringIO()
            with contextlib.redirect_stdout(buf):
                std.explain("formatted")
                std.explain("codegen")
            Path(a.explain).write_text(buf.getvalue())
            result["not_codegen"] = not_codegen(buf.getvalue())
        groups = [g for g in (a.groups.split(",") if a.groups else GROUPS)]
        sets = {"base": list(BASE), **{g: [*BASE, *GROUPS[g]] for g in groups}, "all": list(std.columns)}
        for name, cols in sets.items():
            runs = []
            for i in range(a.repeat):
                with Meter(spark, f"{name}-{i}") as m:
                    std.select(*cols).write.format("noop").mode("overwrite").save()
                runs.append(m.result(n))
            result["runs"][name] = runs
            last = runs[-1]
            print(f"{name:18} tasks {last['cpu_s_by_thread']['spark_tasks']:6.1f}  jit "
                  f"{sum(r['cpu_s_by_thread']['jit_compiler'] for r in runs):5.1f}  jvm {last['jvm_cpu_s']:6.1f}",
                  flush=True)
        # the largest method Spark generated in this JVM (HotSpot leaves one above 8,000 bytes
        # interpreted unless -XX:-DontCompileHugeMethods)
        metrics = spark.sparkContext._jvm.org.apache.spark.metrics.source.CodegenMetrics
        sizes = metrics.METRIC_GENERATED_METHOD_BYTECODE_SIZE().getSnapshot()
        result["max_generated_method_bytes"] = int(sizes.getMax())
        result["load_avg_end"] = os.getloadavg()
    finally:
        spark.stop()
    b = min(r["cpu_s_by_thread"]["spark_tasks"] for r in result["runs"]["base"])
    result["task_cpu_over_base"] = {
        name: round(min(r["cpu_s_by_thread"]["spark_tasks"] for r in runs) - b, 1)
        for name, runs in result["runs"].items() if name != "base"}
    keys = ("rows", "lookups", "max_generated_method_bytes", "task_cpu_over_base")
    print(json.dumps({k: result.get(k) for k in keys}, indent=1))
    if a.out:
        Path(a.out).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
