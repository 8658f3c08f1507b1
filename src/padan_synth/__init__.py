"""Synthetic P3KE and Prakerja extracts with ground truth, generated inside Spark.

    out = generate(spark, p3ke_rows=100_000, prakerja_rows=100_000, seed=7, profile="typical")
    out.p3ke, out.prakerja   # raw extracts, every column a string, the source contracts' column names
    out.truth                # source, record_id, person_id: who each record really is

Rows are generated inside Spark tasks (`mapInArrow`), a batch of row numbers at a time, with
vectorised numpy / pyarrow code (this is generation of obviously synthetic data, not processing of
real personal data); every value is a hash of (seed, identifiers, purpose), so a seed gives the
same data on any number of partitions, batch sizes or cores. See docs/SYNTH.md for the population model, the profiles and throughput.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from padan_synth import build
from padan_synth.build import P3KE_COLUMNS, PRAKERJA_COLUMNS
from padan_synth.world import Ctx
from padan_synth.profiles import PROFILES, Profile, SourceRates, get_profile

logger = logging.getLogger(__name__)

__all__ = ["SynthOutput", "PROFILES", "Profile", "SourceRates", "generate", "write_extracts",
           "P3KE_COLUMNS", "PRAKERJA_COLUMNS", "TRUTH_COLUMNS"]

TRUTH_COLUMNS = ["source", "record_id", "person_id"]


@dataclass(frozen=True)
class SynthOutput:
    p3ke: DataFrame        # raw P3KE-like extract, all columns STRING
    prakerja: DataFrame    # raw Prakerja-like extract, all columns STRING
    truth: DataFrame       # source ('p3ke'|'prakerja'), record_id, person_id


def _check(p3ke_rows: int, prakerja_rows: int, seed: int) -> None:
    if p3ke_rows < 0 or prakerja_rows < 0:
        raise ValueError("row counts must be >= 0")
    if not isinstance(seed, int):
        raise TypeError("seed must be an int")


def generate_debug(spark: SparkSession, *, p3ke_rows: int, prakerja_rows: int, seed: int,
                   profile: str | Profile = "typical", partitions: int | None = None
                   ) -> tuple[DataFrame, DataFrame, float]:
    """Both extracts with their hidden '_' columns (true values, damage flags), and the overlap
    acceptance scale. For tests and diagnostics; never write these columns out."""
    ctx, scale = _ctx(p3ke_rows, prakerja_rows, seed, profile)
    return (build.frame(spark, ctx, "p3ke", partitions=partitions),
            build.frame(spark, ctx, "prakerja", scale=scale, partitions=partitions), scale)


def _ctx(p3ke_rows: int, prakerja_rows: int, seed: int, profile: str | Profile) -> tuple[Ctx, float]:
    _check(p3ke_rows, prakerja_rows, seed)
    ctx = Ctx(seed=seed, profile=get_profile(profile), p3ke_rows=int(p3ke_rows), prakerja_rows=int(prakerja_rows))
    return ctx, build.calibrate_overlap(ctx)


def _truth(spark: SparkSession, ctx: Ctx, scale: float, partitions: int | None) -> DataFrame:
    """source, record_id, person_id of every record: regenerated from the row numbers (cheap: who a
    record is needs no names, addresses or damage)."""
    p = build.frame(spark, ctx, "p3ke", mode="truth", partitions=partitions)
    q = build.frame(spark, ctx, "prakerja", mode="truth", scale=scale, partitions=partitions)
    return (p.select(F.lit("p3ke").alias("source"), F.col("id_individu").alias("record_id"),
                     F.col("_person_id").alias("person_id"))
            .unionByName(q.select(F.lit("prakerja").alias("source"), F.col("id_pendaftar").alias("record_id"),
                                  F.col("_person_id").alias("person_id"))))


def generate(spark: SparkSession, *, p3ke_rows: int, prakerja_rows: int, seed: int,
             profile: str | Profile = "typical", partitions: int | None = None) -> SynthOutput:
    """Lazy DataFrames for both extracts and the truth. `partitions` only changes how the work is
    split, never the data (default: the session's parallelism, at least one per million rows)."""
    ctx, scale = _ctx(p3ke_rows, prakerja_rows, seed, profile)
    return SynthOutput(p3ke=build.frame(spark, ctx, "p3ke", mode="public", partitions=partitions),
                       prakerja=build.frame(spark, ctx, "prakerja", mode="public", scale=scale, partitions=partitions),
                       truth=_truth(spark, ctx, scale, partitions))


def write_extracts(spark: SparkSession, out: str, *, p3ke_rows: int, prakerja_rows: int, seed: int,
                   profile: str | Profile = "typical", fmt: str = "csv", partitions: int | None = None,
                   writer: str = "spark") -> dict:
    """Write out/p3ke/ and out/prakerja/ (CSV with header, ',' delimiter, UTF-8, Spark part files;
    or parquet) and out/truth/ (parquet). Overwrites. Returns row counts, paths and seconds taken.
    One Spark job per output; the truth is regenerated from the row numbers (cheap).

    `writer="arrow"` has every task write its part files itself with pyarrow (the same rows; CSV
    with every string quoted): faster, but only for a local or shared file system path."""
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"fmt must be 'csv' or 'parquet', not {fmt!r}")
    if writer not in ("spark", "arrow"):
        raise ValueError(f"writer must be 'spark' or 'arrow', not {writer!r}")
    base = out.rstrip("/")
    paths = {"p3ke": f"{base}/p3ke", "prakerja": f"{base}/prakerja", "truth": f"{base}/truth"}
    ctx, scale = _ctx(p3ke_rows, prakerja_rows, seed, profile)
    seconds: dict[str, float] = {}
    if writer == "arrow":
        for name, mode, f in (("p3ke", "public", fmt), ("prakerja", "public", fmt), ("truth", "truth", "parquet")):
            start = time.perf_counter()
            if name == "truth":
                _write_truth_direct(spark, ctx, scale, partitions, paths["truth"])
            else:
                build.write_direct(spark, ctx, name, paths[name], f, mode=mode, scale=scale, partitions=partitions)
            seconds[name] = round(time.perf_counter() - start, 2)
        return {"p3ke": int(p3ke_rows), "prakerja": int(prakerja_rows), "truth": int(p3ke_rows) + int(prakerja_rows),
                "paths": paths, "format": fmt, "seconds": seconds}
    for name in ("p3ke", "prakerja"):
        df = build.frame(spark, ctx, name, mode="public", scale=scale, partitions=partitions)
        start = time.perf_counter()
        writer = df.write.mode("overwrite")
        if fmt == "csv":
            writer.option("header", True).option("delimiter", ",").option("encoding", "UTF-8").csv(paths[name])
        else:
            writer.parquet(paths[name])
        seconds[name] = round(time.perf_counter() - start, 2)
        logger.info("synth: wrote %s (%s) in %.1fs", name, fmt, seconds[name])
    start = time.perf_counter()
    _truth(spark, ctx, scale, partitions).write.mode("overwrite").parquet(paths["truth"])
    seconds["truth"] = round(time.perf_counter() - start, 2)
    return {"p3ke": int(p3ke_rows), "prakerja": int(prakerja_rows), "truth": int(p3ke_rows) + int(prakerja_rows),
            "paths": paths, "format": fmt, "seconds": seconds}


def _write_truth_direct(spark: SparkSession, ctx: Ctx, scale: float, partitions: int | None, path: str) -> None:
    """The truth (source, record_id, person_id) as Parquet part files written by the tasks."""
    import os
    import shutil

    out = path[len("file:"):] if path.startswith("file:") else path
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    for source in ("p3ke", "prakerja"):
        sub = os.path.join(out, f".{source}")
        build.write_direct(spark, ctx, source, sub, "parquet", mode="truth_table", scale=scale, partitions=partitions)
        for f in sorted(os.listdir(sub)):
            if f.endswith(".parquet"):
                os.replace(os.path.join(sub, f), os.path.join(out, f"{source}-{f}"))
        shutil.rmtree(sub)
    open(os.path.join(out, "_SUCCESS"), "w").close()
