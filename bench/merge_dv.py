"""What do deletion vectors buy gold.clusters and gold.person_profile? A measurement, not a test.

An increment MERGEs the records it re-clusters into gold.clusters (and the persons it touched into
gold.person_profile). With deletion vectors a MERGE marks the replaced rows in small side files;
without them it rewrites every data file that holds one, which for a random batch is every file.
But a table with deletion vectors cannot be read by the Python `deltalake` reader (what pandas and
Polars users have). This script builds a clusters-shaped table of N rows written like padan's full
cluster stage, then MERGEs a random share of its rows (an increment's re-clustered records), with
and without deletion vectors, and reports per variant: wall seconds, JVM CPU-seconds, Spark jobs,
files and bytes written, and the cost of reading the whole table afterwards.

    .venv/bin/python bench/merge_dv.py --rows 1000000 --share 0.01 --work /tmp/merge-dv
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from pyspark.sql import functions as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from engine import measured  # noqa: E402  (bench/engine.py: job group, wall, JVM CPU-seconds)


def clusters_like(spark, rows: int, parts: int):
    return (spark.range(rows, numPartitions=parts).select(
        F.concat(F.when(F.col("id") % 5 < 3, F.lit("p3ke:")).otherwise(F.lit("prakerja:")), F.col("id").cast("string")).alias("unique_id"),
        F.when(F.col("id") % 5 < 3, F.lit("p3ke")).otherwise(F.lit("prakerja")).alias("source_dataset"),
        F.col("id").cast("string").alias("record_key"),
        F.sha2((F.col("id") / 2).cast("long").cast("string"), 256).substr(1, 24).alias("person_id"),
        F.lit(2).alias("cluster_size"), F.lit(True).alias("in_p3ke"), F.lit(False).alias("in_prakerja"),
        F.lit(0.9).alias("threshold"), F.lit("run-full").alias("run_id")))


def measure(spark, label: str, fn) -> dict:
    out, wall, cpu, jobs = measured(spark, label, fn)
    return {"wall_s": wall, "jvm_cpu_s": cpu, "jobs": jobs, **(out or {})}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--share", type=float, default=0.01)
    ap.add_argument("--parts", type=int, default=8, help="data files of the full write (padan: shuffle partitions)")
    ap.add_argument("--work", default="/tmp/padan-merge-dv")
    ap.add_argument("--repeat", type=int, default=3, help="MERGEs per variant (successive increments)")
    args = ap.parse_args()
    from padan.spark import spark_from_config
    from padan import config

    cfg = config.load(env="base")
    spark = spark_from_config(cfg, "padan-bench-merge-dv")
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    result = {"rows": args.rows, "share": args.share, "parts": args.parts, "variants": {}}
    for dv in (True, False):
        path = str(work / ("dv" if dv else "plain"))
        base = clusters_like(spark, args.rows, args.parts)
        steps = {}
        steps["full_write"] = measure(spark, f"full-{dv}", lambda: base.write.format("delta")
                                      .option("delta.enableDeletionVectors", str(dv).lower()).save(path))
        from delta.tables import DeltaTable

        for i in range(args.repeat):
            batch = (clusters_like(spark, args.rows, args.parts)
                     .where(F.abs(F.xxhash64("unique_id", F.lit(i))) % 10_000 < int(args.share * 10_000))
                     .withColumn("person_id", F.concat(F.col("person_id"), F.lit(f"-{i}")))
                     .withColumn("run_id", F.lit(f"run-inc-{i}")))

            def do_merge(batch=batch):
                (DeltaTable.forPath(spark, path).alias("t").merge(batch.alias("s"), "t.unique_id <=> s.unique_id")
                 .whenMatchedUpdateAll().whenNotMatchedInsertAll().execute())
                m = DeltaTable.forPath(spark, path).history(1).select("operationMetrics").first()[0]
                return {k: int(m[k]) for k in ("numTargetRowsUpdated", "numTargetFilesAdded", "numTargetFilesRemoved",
                                               "numTargetBytesAdded", "numTargetDeletionVectorsAdded") if k in m}
            steps[f"merge_{i}"] = measure(spark, f"merge-{dv}-{i}", do_merge)
        steps["read_all"] = measure(spark, f"read-{dv}", lambda: {"rows": spark.read.format("delta").load(path)
                                                                  .groupBy("person_id").count().count()})
        result["variants"]["deletion_vectors" if dv else "no_deletion_vectors"] = steps
        print(json.dumps({("dv" if dv else "plain"): steps}), flush=True)
    out = Path(__file__).resolve().parent / "results" / f"merge-dv-{args.rows}.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    print("wrote", out)
    spark.stop()
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
