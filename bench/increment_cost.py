"""What does an increment cost against a full run over the same lake?

Takes a kept bench work folder (`python bench/harness.py --size 1M --keep-work --work DIR`: data/ with the
generated CSV extracts, lake/ with a trained model), cuts a share of one source's rows out as a new
batch (line by line, by a hash of the line, so the batch is a random sample), then in a new lake
under DIR/increment/:

1. full run over the rest: ingest both sources, predict with the bench's model version (copied, so
   no training), cluster, marts;
2. `run_increment` of each batch (`--shares`, disjoint, added in order): ingest (mode increment), predict_between + predict_within, re-cluster
   only the touched persons, MERGE, marts.

Times every stage of both from the ledger and writes bench/results/<date>-increment-<records>.json.

    .venv/bin/python bench/increment_cost.py --work /path/to/bench-1m --shares 0.01,0.05
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


def split_extract(folder: Path, out_rest: Path, out_batches: list[Path], shares_of_file: list[float]) -> tuple[int, list[int]]:
    """Copy each CSV part file's header to every output and every data line to one of them: batch i
    takes the lines whose hash falls in its own slice (disjoint slices of sizes `shares_of_file`),
    the rest keeps the others."""
    for d in (out_rest, *out_batches):
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
    bounds, start = [], 0
    for share in shares_of_file:
        bounds.append((start, start + int(share * 1_000_000)))
        start = bounds[-1][1]
    n_rest, n_batches = 0, [0] * len(out_batches)
    for i, f in enumerate(sorted(folder.glob("part-*.csv"))):
        outs = [(d / f"part-{i:05d}.csv").open("wb") for d in out_batches]
        with f.open("rb") as src, (out_rest / f"part-{i:05d}.csv").open("wb") as rest:
            header = src.readline()
            for o in (rest, *outs):
                o.write(header)
            for line in src:
                h = zlib.crc32(line) % 1_000_000
                for j, (lo, hi) in enumerate(bounds):
                    if lo <= h < hi:
                        outs[j].write(line)
                        n_batches[j] += 1
                        break
                else:
                    rest.write(line)
                    n_rest += 1
        for o in outs:
            o.close()
    return n_rest, n_batches


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
    p.add_argument("--shares", default="0.01", help="batch sizes as shares of ALL records, comma-separated; "
                   "the batches are disjoint and added one after another, in this order")
    p.add_argument("--initial-share", type=float, default=1.0,
                   help="keep this share of the other rows (both sources, by a hash of each line) for the initial "
                        "full run: a smaller lake for the same batches, to see what an increment's cost owes to the lake")
    p.add_argument("--driver-memory", default="12g")
    p.add_argument("--results", default="bench/results")
    args = p.parse_args(argv)

    from padan import config
    from harness import machine_info
    from padan.lake import Lake
    from padan.model.store import copy_model, resolve_version
    from padan.stages import Ctx, link_run_id, run_cluster, run_increment, run_ingest, run_marts, run_predict
    from padan.spark import spark_from_config

    work = Path(args.work).resolve()
    inc = work / "increment"
    data = work / "data"
    total = sum(sum(1 for _ in f.open("rb")) - 1 for s in ("p3ke", "prakerja") for f in (data / s).glob("part-*.csv"))
    source_rows = sum(sum(1 for _ in f.open("rb")) - 1 for f in (data / args.source).glob("part-*.csv"))
    shares = [float(x) for x in args.shares.split(",")]
    batch_dirs = [inc / f"batch_{i}" for i in range(len(shares))]
    n_rest, n_batches = split_extract(data / args.source, inc / "rest", batch_dirs,
                                      [share * total / source_rows for share in shares])
    n_batch = sum(n_batches)
    paths = {s: str(data / s) for s in ("p3ke", "prakerja")}
    paths[args.source] = str(inc / "rest")
    if args.initial_share < 1.0:
        for s in ("p3ke", "prakerja"):
            src = Path(paths[s])
            kept, _ = split_extract(src, inc / f"initial_{s}", [inc / f"dropped_{s}"], [1.0 - args.initial_share])
            paths[s] = str(inc / f"initial_{s}")
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

    result: dict = {"kind": "increment_cost", "records_total": total, "source": args.source, "batch_rows": n_batches,
                    "initial_share": args.initial_share, "shares": shares, "model_version": version,
                    "started_at": dt.datetime.now().isoformat(timespec="seconds"), "machine": machine_info(spark),
                    "load_average_at_start": [round(x, 2) for x in os.getloadavg()]}
    full: dict = {}
    t_all = time.monotonic()
    for s in sorted(cfg.sources):
        t = time.monotonic()
        r = run_ingest(ctx, s)
        full[f"ingest_{s}"] = round(time.monotonic() - t, 1)
        result[f"initial_{s}_standardised"] = r.rows_standardised
    result["initial_rows"] = sum(result[f"initial_{s}_standardised"] for s in cfg.sources)
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

    result["increments"] = []
    for i, (share, batch_dir) in enumerate(zip(shares, batch_dirs)):
        t = time.monotonic()
        r = run_increment(ctx, args.source, path=str(batch_dir), batch_id=f"bench-increment-{i}")
        secs = {"total": round(time.monotonic() - t, 1), **stage_seconds(ctx, r.run_id)}
        ingest_rows = (ctx.lake.read("ops.runs").where(f"batch_id = '{r.ingest.batch_id}' AND stage LIKE 'ingest%'")
                       .select("stage", "seconds").collect())
        secs.update({f"ingest:{x.stage}": round(x.seconds, 1) for x in ingest_rows if x.seconds})
        predict_counts = (ctx.lake.read("ops.runs").where(f"run_id = '{r.run_id}' AND stage = 'predict' "
                                                          "AND status = 'succeeded'").first()["row_counts"])
        link = secs["total"] - sum(v for k, v in secs.items() if k.startswith("ingest:"))
        one = {"share": share, "batch_rows": n_batches[i], "standardised": r.ingest.rows_standardised,
               "lake_records_before": ctx.lake.read("gold.clusters").count() - r.cluster.get("inserted", 0),
               "seconds": secs, "pairs": r.pairs, "existing_compared": predict_counts.get("existing_compared"),
               "cluster": r.cluster, "ratio_to_full_total": round(secs["total"] / full["total"], 3),
               "ratio_to_full_link": round(link / full["link_total"], 3)}
        result["increments"].append(one)
        print(json.dumps(one, default=str), flush=True)
    result["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    lake_label = "" if args.initial_share >= 1.0 else f"-initial-{args.initial_share}"
    out = Path(args.results) / f"{dt.date.today()}-increment-{total}{lake_label}-shares-{'-'.join(map(str, shares))}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, default=str) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "machine"}, indent=1, default=str))
    print(f"result: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
