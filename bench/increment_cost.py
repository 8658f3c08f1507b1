"""What does an increment cost against a full run over the same lake?

Takes a kept bench work folder (`padan bench --size 1M --keep-work --work DIR`: data/ with the
generated CSV extracts, lake/ with a trained model), cuts a share of one source's rows out as a new
batch (line by line, by a hash of the line, so the batch is a random sample), then in a new lake
under DIR/increment/:

1. full run over the rest: ingest both sources, predict with the bench's model version (copied, so
   no training), cluster, marts;
2. `run_increment` of the batch: ingest (mode increment), predict_between + predict_within, re-cluster
   only the touched persons, MERGE, marts.

Times every stage of both from the ledger and writes bench/results/<date>-increment-<records>.json.

    .venv/bin/python bench/increment_cost.py --work /path/to/bench-1m --share 0.01
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import time
import zlib
from pathlib import Path


def split_extract(folder: Path, out_rest: Path, out_batch: Path, share_of_file: float) -> tuple[int, int]:
    """Copy each CSV part file's header to both outputs and every data line to one of them."""
    for d in (out_rest, out_batch):
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
    cut = int(share_of_file * 1_000_000)
    n_rest = n_batch = 0
    for i, f in enumerate(sorted(folder.glob("part-*.csv"))):
        with f.open("rb") as src, (out_rest / f"part-{i:05d}.csv").open("wb") as rest, \
                (out_batch / f"part-{i:05d}.csv").open("wb") as batch:
            header = src.readline()
            rest.write(header)
            batch.write(header)
            for line in src:
                if zlib.crc32(line) % 1_000_000 < cut:
                    batch.write(line)
                    n_batch += 1
                else:
                    rest.write(line)
                    n_rest += 1
    return n_rest, n_batch


def stage_seconds(ctx, run_id: str) -> dict[str, float]:
    from pyspark.sql import functions as F

    from padan.tables import RUNS

    rows = (ctx.lake.read(RUNS.name).where((F.col("run_id") == run_id) & (F.col("status") == "succeeded"))
            .select("stage", "seconds").collect())
    return {r.stage: round(r.seconds, 1) for r in rows if r.seconds is not None}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", required=True, help="a kept bench work folder (data/ and lake/)")
    p.add_argument("--source", default="prakerja", help="the source the new batch belongs to")
    p.add_argument("--share", type=float, default=0.01, help="batch size as a share of ALL records")
    p.add_argument("--driver-memory", default="12g")
    p.add_argument("--results", default="bench/results")
    args = p.parse_args(argv)

    from padan import config
    from padan.bench import machine_info
    from padan.lake import Lake
    from padan.model.store import copy_model, resolve_version
    from padan.runs import Ctx, link_run_id, run_cluster, run_increment, run_ingest, run_marts, run_predict
    from padan.spark import spark_from_config

    work = Path(args.work).resolve()
    inc = work / "increment"
    data = work / "data"
    total = sum(sum(1 for _ in f.open("rb")) - 1 for s in ("p3ke", "prakerja") for f in (data / s).glob("part-*.csv"))
    source_rows = sum(sum(1 for _ in f.open("rb")) - 1 for f in (data / args.source).glob("part-*.csv"))
    n_rest, n_batch = split_extract(data / args.source, inc / "rest", inc / "batch",
                                    args.share * total / source_rows)
    paths = {s: str(data / s) for s in ("p3ke", "prakerja")}
    paths[args.source] = str(inc / "rest")
    if (inc / "lake").exists():
        shutil.rmtree(inc / "lake")
    cfg = config.load(env="base", overrides={
        "lake": {"root": str(inc / "lake"), "checkpoint_dir": str(inc / "checkpoints")},
        "sources": {s: {"path": v} for s, v in paths.items()},
        "spark": {"driver_memory": args.driver_memory}})
    spark = spark_from_config(cfg, "padan-increment-cost")
    bench_lake = Lake.from_config(spark, cfg.lake.model_copy(update={"root": str(work / "lake")}))
    version = resolve_version(bench_lake, "latest")
    cfg = cfg.with_overrides({"link": {"model_version": version}})
    ctx = Ctx.create(spark, cfg, run_date=dt.date.today().isoformat())
    copy_model(bench_lake, ctx.lake, version)

    result: dict = {"kind": "increment_cost", "records_total": total, "source": args.source, "batch_rows": n_batch,
                    "initial_rows": total - n_batch, "share": args.share, "model_version": version,
                    "started_at": dt.datetime.now().isoformat(timespec="seconds"), "machine": machine_info(spark),
                    "load_average_at_start": [round(x, 2) for x in os.getloadavg()]}
    full: dict = {}
    t_all = time.monotonic()
    for s in sorted(cfg.sources):
        t = time.monotonic()
        r = run_ingest(ctx, s)
        full[f"ingest_{s}"] = round(time.monotonic() - t, 1)
        result[f"initial_{s}_standardised"] = r.rows_standardised
    run_id = link_run_id(ctx, version)
    t = time.monotonic()
    result["full_pairs"] = run_predict(ctx, run_id, version)
    full["predict"] = round(time.monotonic() - t, 1)
    t = time.monotonic()
    run_cluster(ctx, run_id)
    full["cluster"] = round(time.monotonic() - t, 1)
    t = time.monotonic()
    run_marts(ctx, run_id)
    full["marts"] = round(time.monotonic() - t, 1)
    full["total"] = round(time.monotonic() - t_all, 1)
    full["link_total"] = round(full["predict"] + full["cluster"] + full["marts"], 1)
    result["full_run_seconds"] = full
    print(json.dumps({"full_run_seconds": full}), flush=True)

    t = time.monotonic()
    r = run_increment(ctx, args.source, path=str(inc / "batch"), batch_id="bench-increment")
    result["increment_seconds"] = {"total": round(time.monotonic() - t, 1), **stage_seconds(ctx, r.run_id)}
    ingest_rows = (ctx.lake.read("ops.runs").where(f"batch_id = '{r.ingest.batch_id}' AND stage LIKE 'ingest%'")
                   .select("stage", "seconds").collect())
    result["increment_seconds"].update({f"ingest:{x.stage}": round(x.seconds, 1) for x in ingest_rows if x.seconds})
    result["increment_pairs"] = r.pairs
    result["increment_cluster"] = r.cluster
    result["increment_standardised"] = r.ingest.rows_standardised
    result["ratio_increment_to_full_total"] = round(result["increment_seconds"]["total"] / full["total"], 3)
    result["ratio_increment_to_full_link"] = round(
        (result["increment_seconds"]["total"] - sum(v for k, v in result["increment_seconds"].items()
                                                    if k.startswith("ingest:"))) / full["link_total"], 3)
    result["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    out = Path(args.results) / f"{dt.date.today()}-increment-{total}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, default=str) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "machine"}, indent=1, default=str))
    print(f"result: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
