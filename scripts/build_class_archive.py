"""Build the Spark driver JVM's class-data-sharing archive (AppCDS, JEP 350) beside the staged jars.

Run once by `make setup`, after the jars are staged. It starts the local session padan starts
(`padan.spark.local_session_conf`: same class path, same JVM) with -XX:ArchiveClassesAtExit, runs a
small workload of the operations padan's stages use (CSV, Parquet and Delta reads and writes, a
MERGE, joins, aggregates, windows, higher-order functions, Arrow transfers), and lets the JVM exit:
the classes it loaded from the JDK and from Spark's own jars are written to one file that later
drivers map instead of parsing and verifying them again (`padan.spark.class_archive_options`).
No personal data is involved: the workload's rows are counters.

A failure here is not a setup failure: padan runs without the archive, only its JVMs start slower.

Usage: python scripts/build_class_archive.py JARS_DIR
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path


def _workload(spark, work: Path) -> None:
    from delta.tables import DeltaTable
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    base = (spark.range(3000)
            .select(F.col("id"), (F.col("id") % 97).cast("string").alias("k"),
                    F.concat(F.lit("N "), F.col("id").cast("string")).alias("name"),
                    F.date_add(F.lit("2000-01-01").cast("date"), (F.col("id") % 9000).cast("int")).alias("d")))
    base.write.mode("overwrite").option("header", True).csv(str(work / "csv"))
    read = spark.read.option("header", True).csv(str(work / "csv"))
    read.write.mode("overwrite").parquet(str(work / "parquet"))
    spark.read.parquet(str(work / "parquet")).write.format("delta").mode("overwrite").save(str(work / "delta"))
    table = DeltaTable.forPath(spark, str(work / "delta"))
    (table.alias("t").merge(read.where("id % 3 = 0").alias("s"), "t.id = s.id")
     .whenMatchedUpdateAll().whenNotMatchedInsertAll().execute())
    delta = spark.read.format("delta").load(str(work / "delta"))
    tokens = F.split(F.upper(F.regexp_replace("a.name", r"[^A-Za-z0-9 ]", "")), " ")
    out = (delta.alias("a").join(base.alias("b"), F.col("a.k") == F.col("b.k"))
           .where(F.col("a.id") < F.col("b.id"))
           .select("a.id", "b.id", F.levenshtein("a.name", "b.name").alias("lev"),
                   F.transform(tokens, lambda t: F.soundex(t)).alias("codes"),
                   F.row_number().over(Window.partitionBy("a.k").orderBy("b.id")).alias("rn"))
           .groupBy("lev").agg(F.count("*").alias("n"), F.max("rn").alias("rn"), F.collect_set(F.size("codes"))))
    out.collect()
    spark.createDataFrame(out.toPandas()).count()
    spark.read.parquet(str(work / "parquet")).groupBy("k").count().orderBy("k").collect()
    table.history().collect()


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    folder = Path(argv[0]).resolve()
    os.environ["PADAN_JARS_DIR"] = str(folder)
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    from padan.spark import CLASS_ARCHIVE, CLASS_ARCHIVE_OFF, local_session_conf

    target, partial = folder / CLASS_ARCHIVE, folder / f"{CLASS_ARCHIVE}.part"
    partial.unlink(missing_ok=True)
    os.environ[CLASS_ARCHIVE_OFF] = "0"       # the dump starts from the JDK's own archive only
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="padan-cds-") as tmp:
        conf = local_session_conf(master="local[2]", app_name="padan-class-archive", driver_memory="1g",
                                  ui_enabled=False, shuffle_partitions=2, warehouse_dir=str(Path(tmp) / "warehouse"))
        conf["spark.driver.extraJavaOptions"] += f" -XX:ArchiveClassesAtExit={partial} -Xlog:cds=off -Xlog:cds+dynamic=off"
        builder = SparkSession.builder
        for key, value in conf.items():
            builder = builder.config(key, value)
        try:
            spark = builder.getOrCreate()
            spark.sparkContext.setLogLevel("ERROR")
            jvm = SparkContext._gateway.proc
            try:
                _workload(spark, Path(tmp))
            finally:
                spark.stop()
                # The gateway JVM exits when its stdin closes; the archive is written on the way out.
                jvm.stdin.close()
                jvm.wait(timeout=300)
        except Exception as exc:       # (the workload's rows are counters: no personal data in the message)
            partial.unlink(missing_ok=True)
            print(f"padan setup: the class archive was not built ({type(exc).__name__}: {exc}); Spark drivers "
                  "start without one", file=sys.stderr)
            return 0
    if not partial.is_file() or partial.stat().st_size == 0:
        print("padan setup: no class archive was written; Spark drivers start without one", file=sys.stderr)
        return 0
    os.replace(partial, target)
    print(f"padan setup: class archive {target.name} ({target.stat().st_size // 2**20} MiB) "
          f"in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
