"""Overlap ('irisan') and targeting marts. Counts are of persons (clusters), never of records."""

from __future__ import annotations

from typing import Sequence

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from padan.reference import provinces


def person_profile(clusters: DataFrame, persons: DataFrame, *, p3ke_source: str = "p3ke",
                   prakerja_source: str = "prakerja") -> DataFrame:
    """One row per person: in_p3ke, in_prakerja, and where they are (P3KE's record first: it is the
    household register), the poorest desil among their P3KE records."""
    joined = clusters.select("unique_id", "person_id").join(
        persons.select("unique_id", "source_dataset", "province_code", "kabupaten", "kecamatan", "desa", "desil",
                       "birth_date", "sex", "no_kk"), "unique_id")
    pref = F.when(F.col("source_dataset") == p3ke_source, 0).otherwise(1)
    w = Window.partitionBy("person_id").orderBy(pref, F.col("unique_id"))
    first = (joined.withColumn("_r", F.row_number().over(w)).where("_r = 1")
             .select("person_id", F.col("unique_id").alias("representative_id"), "province_code",
                     F.col("kabupaten").alias("regency"), "kecamatan", "desa", "birth_date", "sex", "no_kk"))
    flags = joined.groupBy("person_id").agg(
        F.max(F.col("source_dataset") == p3ke_source).alias("in_p3ke"),
        F.max(F.col("source_dataset") == prakerja_source).alias("in_prakerja"),
        F.min(F.when(F.col("source_dataset") == p3ke_source, F.col("desil"))).alias("desil"),
    )
    return flags.join(first, "person_id")


def overlap_by_region(profile: DataFrame, run_id: str) -> DataFrame:
    """Persons in P3KE, in Prakerja and in both, nationally, by province and by regency, each for
    all deciles (desil null) and per desil."""
    names = profile.sparkSession.createDataFrame([(c, n) for c, n, _ in provinces()], "province_code STRING, province_name STRING")
    agg = [F.sum(F.col("in_p3ke").cast("long")).alias("persons_p3ke"),
           F.sum(F.col("in_prakerja").cast("long")).alias("persons_prakerja"),
           F.sum((F.col("in_p3ke") & F.col("in_prakerja")).cast("long")).alias("persons_both")]
    levels = {"national": [], "province": ["province_code"], "regency": ["province_code", "regency"]}
    parts = []
    for level, keys in levels.items():
        for by_desil in (False, True):
            group = keys + (["desil"] if by_desil else [])
            g = profile.groupBy(*group).agg(*agg) if group else profile.agg(*agg)
            for col in ("province_code", "regency", "desil"):
                if col not in group:
                    g = g.withColumn(col, F.lit(None).cast("int" if col == "desil" else "string"))
            if by_desil:
                g = g.where(F.col("desil").isNotNull())
            parts.append(g.withColumn("level", F.lit(level)))
    out = parts[0]
    for p in parts[1:]:
        out = out.unionByName(p)
    return (out.join(F.broadcast(names), "province_code", "left")
            .withColumn("share_p3ke_in_prakerja", F.try_divide(F.col("persons_both"), F.col("persons_p3ke")))
            .withColumn("share_prakerja_in_p3ke", F.try_divide(F.col("persons_both"), F.col("persons_prakerja")))
            .withColumn("run_id", F.lit(run_id)))


def targeting(profile: DataFrame, run_id: str, *, desil: Sequence[int], working_age: tuple[int, int],
              reference_date: str) -> DataFrame:
    """Two lists: 'p3ke_not_in_prakerja' (P3KE persons in the configured desil of working age whom
    Prakerja has not reached) and 'prakerja_in_p3ke' (Prakerja persons found in P3KE desil 1-4).
    `priority` ranks a person within their province (programmes work by region, and a window per
    province keeps the sort distributed): poorest desil first, then by regency, district, village
    and household, so members of one household are next to each other."""
    age = F.floor(F.months_between(F.to_date(F.lit(reference_date)), F.col("birth_date")) / 12).cast("int")
    p = profile.withColumn("age", age)
    unreached = p.where(F.col("in_p3ke") & ~F.col("in_prakerja") & F.col("desil").isin(list(desil))
                        & F.col("age").between(working_age[0], working_age[1]))
    reached = p.where(F.col("in_p3ke") & F.col("in_prakerja") & F.col("desil").between(1, 4))
    out = []
    for name, df in (("p3ke_not_in_prakerja", unreached), ("prakerja_in_p3ke", reached)):
        w = Window.partitionBy("province_code").orderBy(F.col("desil").asc_nulls_last(), F.col("regency"),
                           F.col("kecamatan"), F.col("desa"), F.col("no_kk"), F.col("person_id"))
        out.append(df.withColumn("priority", F.row_number().over(w)).select(
            F.lit(run_id).alias("run_id"), F.lit(name).alias("list"), "person_id",
            F.col("representative_id").alias("unique_id"), "desil", "age", "sex", "province_code", "regency",
            "kecamatan", "desa", "no_kk", "priority"))
    return out[0].unionByName(out[1])
