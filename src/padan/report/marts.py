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


def overlap_by_region(profile: DataFrame, run_id: str, *, suppress_below: int = 10) -> DataFrame:
    """Persons in P3KE, in Prakerja and in both, nationally, by province and by regency, each for
    all deciles (desil null) and per desil; counts below `suppress_below` withheld
    (`suppress_small_cells`)."""
    names = profile.sparkSession.createDataFrame([(c, n) for c, n, _ in provinces()], "province_code STRING, province_name STRING")
    agg = [F.sum(F.col("in_p3ke").cast("long")).alias("persons_p3ke"),
           F.sum(F.col("in_prakerja").cast("long")).alias("persons_prakerja"),
           F.sum((F.col("in_p3ke") & F.col("in_prakerja")).cast("long")).alias("persons_both")]
    # The national all-deciles row is a global aggregate (one row even over no persons); the other
    # five groupings are grouping sets of one aggregation: the profile is read and shuffled once.
    # grouping_id's bits say which of (province_code, regency, desil) a row is NOT grouped by:
    # 6 = national per desil, 3 / 2 = province all deciles / per desil, 1 / 0 = regency.
    national = profile.agg(*agg).select(
        *COUNTS, F.lit(None).cast("string").alias("province_code"), F.lit(None).cast("string").alias("regency"),
        F.lit(None).cast("int").alias("desil"), F.lit("national").alias("level"))
    keys = ["province_code", "regency", "desil"]
    sets = [["desil"], ["province_code"], ["province_code", "desil"], ["province_code", "regency"], keys]
    gid = F.col("_gid")
    grouped = (profile.groupingSets(sets, *keys).agg(*agg, F.grouping_id(*keys).alias("_gid"))
               .where((gid % 2 == 1) | F.col("desil").isNotNull())          # per desil: a known desil
               .withColumn("level", F.when(gid >= 6, "national").when(gid >= 2, "province").otherwise("regency"))
               .select(*COUNTS, *keys, "level"))
    out = national.unionByName(grouped)
    out = suppress_small_cells(out, suppress_below)
    return (out.join(F.broadcast(names), "province_code", "left")
            .withColumn("share_p3ke_in_prakerja", F.try_divide(F.col("persons_both"), F.col("persons_p3ke")))
            .withColumn("share_prakerja_in_p3ke", F.try_divide(F.col("persons_both"), F.col("persons_prakerja")))
            .withColumn("run_id", F.lit(run_id)))


COUNTS = ("persons_p3ke", "persons_prakerja", "persons_both")
SECONDARY_PASSES = 3   # a partner withheld for one total can leave a lone withheld count under another


def suppress_small_cells(overlap: DataFrame, k: int) -> DataFrame:
    """Withhold small counts of the overlap mart: a withheld count is NULL (counts are never null
    otherwise), `suppressed` marks a row with any withheld count and `suppression_k` holds k, so a
    reader shows NULL as "<k". k = 0 or 1 withholds nothing (`suppression_k` null).

    Primary: a count below k (zero included) is withheld; so is `persons_both` when P3KE-only
    (persons_p3ke - persons_both) or Prakerja-only is between 1 and k-1, as it would give that
    cell by subtraction. Secondary, against differencing: a total and its parts (a region's
    all-deciles row and its desil rows, which add up to at most the total; a province and its
    regencies, the nation and its provinces, per desil) form a group; where exactly one count of a
    measure in a group is withheld, the smallest visible count of that measure in the group is
    withheld too. Three passes (a partner withheld in one group can leave a lone withheld count in
    another). What this does not cover is in the README ("Small-cell suppression"). Window
    functions over one partition in the write's plan: no extra Spark job or shuffle."""
    if k <= 1:
        return overlap.withColumn("suppressed", F.lit(False)).withColumn("suppression_k", F.lit(None).cast("int"))
    p, r, b = (F.col(c) for c in COUNTS)
    only_small = lambda d: (d > 0) & (d < k)  # noqa: E731
    primary = {"persons_p3ke": p < k, "persons_prakerja": r < k,
               "persons_both": (b < k) | only_small(p - b) | only_small(r - b)}
    # Each total with its parts: a region's all-deciles row with its desil rows; a province with its
    # regencies and the nation with its provinces, per desil.
    level = F.col("level")
    groups = (
        (Window.partitionBy("level", "province_code", "regency"), F.lit(True)),
        (Window.partitionBy(level == "national", F.when(level != "national", F.col("province_code")), "desil"),
         level.isin("province", "regency")),
        (Window.partitionBy(level == "regency", "desil"), level.isin("national", "province")),
    )
    # Ties go to the finest part first (regency before province before nation, a desil before all deciles).
    rank = F.when(level == "regency", 0).when(level == "province", 1).otherwise(2)
    tie = F.struct(rank, F.col("desil").isNull(), "province_code", "regency", "desil")
    # The mart is small (regions x deciles: thousands of rows, not persons): one partition, so that
    # the windows below need no shuffle.
    flags = overlap.coalesce(1).select("*", *[h.alias(f"_h_{n}") for n, h in primary.items()])
    for _ in range(SECONDARY_PASSES):
        hidden = []
        for name in COUNTS:
            h, smallest = F.col(f"_h_{name}"), F.struct(F.col(name), tie)
            second = F.lit(False)
            for w, member in groups:
                n_hidden = F.sum((member & h).cast("int")).over(w)
                smallest_visible = F.min(F.when(member & ~h, smallest)).over(w)
                second = second | (member & (n_hidden == 1) & ~h & smallest.eqNullSafe(smallest_visible))
            hidden.append((h | second).alias(f"_h_{name}"))
        flags = flags.select(*overlap.columns, *hidden)
    return flags.select(
        *[c for c in overlap.columns if c not in COUNTS],
        *[F.when(~F.col(f"_h_{n}"), F.col(n)).alias(n) for n in COUNTS],
        F.greatest(*[F.col(f"_h_{n}") for n in COUNTS]).alias("suppressed"),
        F.lit(k).alias("suppression_k"))


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
