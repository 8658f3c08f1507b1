"""Clustering benchmark: padan's connected components against Splink's own clustering, on Spark
and on DuckDB, over a generated match graph with the shape record linkage produces (most persons
one record, some two to five, chains inside persons, a few false links joining persons).

    .venv/bin/python bench/clustering.py --records 1000000 [--skip-splink-spark] [--out bench/results]

Prints and writes one JSON line per system: seconds, components, largest component. Aggregates
only. Both systems must find the same partition (checked by comparing component counts and the
size histogram).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import time
from pathlib import Path


def graph(spark, records: int, seed: int = 1, false_link_rate: float = 0.003):
    from pyspark.sql import functions as F

    persons = int(records / 1.45)
    h = lambda *cols: F.abs(F.xxhash64(F.lit(seed), *cols)) % 1000  # noqa: E731
    p = spark.range(persons).withColumnRenamed("id", "p")
    size = (F.when(h(F.col("p")) < 700, 1).when(h(F.col("p")) < 900, 2).when(h(F.col("p")) < 980, 3)
            .otherwise(5))
    recs = p.select("p", F.explode(F.sequence(F.lit(1), size)).alias("j"))
    recs = recs.select(F.format_string("r%09d_%d", "p", "j").alias("unique_id"), "p", "j")
    nodes = recs.select("unique_id")
    chain = (recs.alias("a").join(recs.alias("b"), (F.col("a.p") == F.col("b.p")) & (F.col("b.j") == F.col("a.j") + 1))
             .select(F.col("a.unique_id").alias("unique_id_l"), F.col("b.unique_id").alias("unique_id_r")))
    false = (recs.where(h(F.col("p"), F.col("j"), F.lit(7)) < int(false_link_rate * 1000))
             .select(F.col("unique_id").alias("unique_id_l"),
                     F.format_string("r%09d_1", (F.abs(F.xxhash64(F.col("p"), F.lit(3))) % persons)).alias("unique_id_r")))
    edges = chain.unionByName(false).withColumn("match_probability", F.lit(0.99))
    return nodes, edges


def summary(df, comp_col: str) -> dict:
    from pyspark.sql import functions as F

    sizes = df.groupBy(comp_col).count()
    hist = {int(r[0]): int(r[1]) for r in sizes.groupBy("count").count().collect()}
    return {"components": sum(hist.values()), "largest": max(hist), "size_histogram": dict(sorted(hist.items()))}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--out", default="bench/results")
    ap.add_argument("--skip-splink-spark", action="store_true")
    ap.add_argument("--skip-duckdb", action="store_true")
    ap.add_argument("--driver-memory", default="8g")
    args = ap.parse_args()
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")

    from pyspark.sql import SparkSession

    from padan.cluster.components import connected_components
    from padan.spark import local_session_conf

    work = Path("/tmp/padan-bench-clustering")
    conf = local_session_conf(master="local[2]", app_name="bench-clustering", driver_memory=args.driver_memory,
                              ui_enabled=False, shuffle_partitions=8, warehouse_dir=str(work / "wh"))
    b = SparkSession.builder
    for k, v in conf.items():
        b = b.config(k, v)
    spark = b.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    spark.sparkContext.setCheckpointDir(str(work / "ckpt"))

    nodes, edges = graph(spark, args.records)
    nodes.write.mode("overwrite").parquet(str(work / "nodes"))
    edges.write.mode("overwrite").parquet(str(work / "edges"))
    nodes, edges = spark.read.parquet(str(work / "nodes")), spark.read.parquet(str(work / "edges"))
    n_nodes, n_edges = nodes.count(), edges.count()
    results = []
    base = {"date": dt.date.today().isoformat(), "records": n_nodes, "edges": n_edges, "cores": os.cpu_count(),
            "machine": platform.machine()}

    t = time.perf_counter()
    comps = connected_components(nodes.withColumnRenamed("unique_id", "id"),
                                 edges.select(F_col("unique_id_l", "src"), F_col("unique_id_r", "dst")))
    comps.write.mode("overwrite").parquet(str(work / "padan_out"))
    secs = time.perf_counter() - t
    results.append({**base, "system": "padan connected_components (Spark)", "seconds": round(secs, 1),
                    **summary(spark.read.parquet(str(work / "padan_out")), "component")})
    print(json.dumps(results[-1]))

    if not args.skip_splink_spark:
        from splink import SparkAPI
        from splink.clustering import cluster_pairwise_predictions_at_threshold

        db_api = SparkAPI(spark_session=spark)
        t = time.perf_counter()
        out = cluster_pairwise_predictions_at_threshold(nodes, edges, db_api, "unique_id",
                                                        threshold_match_probability=0.9)
        sdf = out.as_spark_dataframe()
        sdf.write.mode("overwrite").parquet(str(work / "splink_spark_out"))
        secs = time.perf_counter() - t
        results.append({**base, "system": "Splink cluster_pairwise_predictions_at_threshold (Spark)",
                        "seconds": round(secs, 1),
                        **summary(spark.read.parquet(str(work / "splink_spark_out")), "cluster_id")})
        print(json.dumps(results[-1]))

    if not args.skip_duckdb:
        import duckdb
        from splink import DuckDBAPI
        from splink.clustering import cluster_pairwise_predictions_at_threshold

        con = duckdb.connect()
        db_api = DuckDBAPI(connection=con)
        nd = con.sql(f"select * from read_parquet('{work / 'nodes'}/*.parquet')").df()
        ed = con.sql(f"select * from read_parquet('{work / 'edges'}/*.parquet')").df()
        t = time.perf_counter()
        out = cluster_pairwise_predictions_at_threshold(nd, ed, db_api, "unique_id", threshold_match_probability=0.9)
        df = out.as_pandas_dataframe()
        secs = time.perf_counter() - t
        sizes = df.groupby("cluster_id").size()
        hist = sizes.value_counts().to_dict()
        results.append({**base, "system": "Splink cluster_pairwise_predictions_at_threshold (DuckDB)",
                        "seconds": round(secs, 1), "components": int(sizes.shape[0]), "largest": int(sizes.max()),
                        "size_histogram": {int(k): int(v) for k, v in sorted(hist.items())}})
        print(json.dumps(results[-1]))

    hists = {json.dumps(r["size_histogram"], sort_keys=True) for r in results}
    ok = len(hists) == 1
    print(f"same partition sizes across systems: {ok}")
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{base['date']}-clustering-{n_nodes}.json"
    path.write_text(json.dumps({"results": results, "same_size_histogram": ok}, indent=2))
    print(f"wrote {path}")
    spark.stop()


def F_col(name: str, alias: str):
    from pyspark.sql import functions as F

    return F.col(name).alias(alias)


if __name__ == "__main__":
    main()
