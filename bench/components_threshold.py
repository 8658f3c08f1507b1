"""Where the driver-side union-find stops paying (padan.cluster.components.DRIVER_MAX_EDGES).

For a few edge counts, connected components of a synthetic graph shaped like the pairs at the
threshold (components of 3 records: two edges each, plus 20% unlinked nodes) are found both ways,
the driver's union-find (collect, union-find, labels back as a table) and the Spark rounds; each
result is written to Parquet (so both include the final join and checkpoint). Prints wall seconds,
JVM CPU-seconds, the driver's Python CPU-seconds and Spark jobs per path and checks both give the same labels.

    PYTHONPATH=src .venv/bin/python bench/components_threshold.py --edges 10000 100000 300000
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--edges", type=int, nargs="+", default=[10_000, 100_000, 300_000])
    ap.add_argument("--work", default="/tmp/padan-bench-components")
    args = ap.parse_args(argv)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    from engine import measured
    from padan.cluster.components import connected_components
    from padan.spark import local_session_conf

    conf = local_session_conf(master="local[2]", app_name="bench-components", driver_memory="3g", ui_enabled=False,
                              shuffle_partitions=2, warehouse_dir=f"{args.work}/wh")
    b = SparkSession.builder
    for k, v in conf.items():
        b = b.config(k, v)
    spark = b.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    out = []
    for n_edges in args.edges:
        n_nodes = n_edges * 3 // 2 * 6 // 5
        ids = F.format_string("r%09d", F.col("id"))
        nodes = spark.range(n_nodes).select(ids.alias("id"))
        e = spark.range(n_edges).select(F.col("id"), (F.col("id") / 2).cast("long").alias("c"))
        edges = e.select(F.format_string("r%09d", F.col("c") * 3 + 2 - F.col("id") % 2).alias("src"),
                         F.format_string("r%09d", F.col("c") * 3).alias("dst"))
        nodes.write.mode("overwrite").parquet(f"{args.work}/nodes")
        edges.write.mode("overwrite").parquet(f"{args.work}/edges")
        nodes, edges = spark.read.parquet(f"{args.work}/nodes"), spark.read.parquet(f"{args.work}/edges")
        row = {"edges": n_edges, "nodes": n_nodes}
        for name, limit in (("driver", n_edges), ("spark", 0)):
            def run(limit=limit, name=name):
                connected_components(nodes, edges, driver_max_edges=limit).write.mode("overwrite").parquet(
                    f"{args.work}/out-{name}")
            py0 = time.process_time()
            _, wall, cpu, jobs = measured(spark, f"cc-{name}-{n_edges}", run)
            row[name] = {"wall_s": wall, "jvm_cpu_s": cpu, "python_cpu_s": round(time.process_time() - py0, 1),
                         "spark_jobs": jobs}
        a, b_ = spark.read.parquet(f"{args.work}/out-driver"), spark.read.parquet(f"{args.work}/out-spark")
        row["same_labels"] = a.exceptAll(b_).count() == 0 and b_.exceptAll(a).count() == 0
        print(json.dumps(row), flush=True)
        out.append(row)
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
