"""Standardisation rules run once per distinct value, joined back to the rows.

Names, region names and coded texts (occupation, education, ...) repeat: 600,000 P3KE rows of the
1M benchmark hold ~133,000 distinct names and ~1,300 distinct villages. The rules for such a
group of columns are a function of the group's raw values only, so they can run on the distinct
raw values (a `group` of the rows' keys) and be joined back to every row with a broadcast hash
join, which keeps the rows where they are (no shuffle of the rows) and is code-generated.

Each group (`NAME`, `REGIONS`, `TEXTS`) is one function from the group's raw values to its output
columns. The same function runs either on the rows (`with_group` without a table: the per-row
path) or on the distinct keys (`lookup_table`), so both paths give the same values by
construction; `tests/test_lookup.py` checks it on the golden input.

Keys are the raw values themselves, except for names: an ASCII name is keyed by its upper-cased,
trimmed form (`name_key`), which gives the same cleaned name (the name rules upper-case, and turn
anything but letters into spaces that are then trimmed), and folds 'Budi ' and 'BUDI' into one
key. Nulls are keys too (null-safe equality in the join).

A table is kept only when it has at most `max_values` rows: a broadcast table is held by the
driver and by each executor, so a group of millions of distinct values (names in a 10M-row extract)
falls back to the per-row path. Small inputs (below the caller's `min_rows`) take the per-row path
too: there the lookups' extra jobs, planning and generated code cost more than they save.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from padan.standardise import columns as C

Get = Callable[[str], Column]
"""canonical field -> its raw value (a column of the rows, or of the lookup table's keys)."""

REGION_FIELDS = ("desa", "kecamatan", "kabupaten", "provinsi")
TEXT_FIELDS = (("family_relation", 100), ("occupation", 100), ("education", 100), ("employment_status", 100),
               ("wave", 50), ("program_status", 100))


def name_key(raw: Column) -> Column:
    """The lookup key of a raw name: an ASCII name upper-cased and trimmed (the same cleaned name,
    fewer keys), any other name as recorded."""
    return F.when(C.is_ascii(raw), F.upper(F.trim(raw))).otherwise(raw)


def name_columns(df: DataFrame, get: Get, *, titles: Sequence[str], muhammad_variants: Sequence[str]) -> DataFrame:
    """`df` plus the cleaned name and what is derived from it (`NAME.outputs`, as `_o_` columns), as staged
    selects: each intermediate is computed once and read by name in the next step."""
    col = F.col
    df = df.withColumn("_n1", C.name_letters(get("name")))
    df = df.withColumns({"_text": C.nonblank(col("_n1")), "_n2": F.regexp_replace(col("_n1"), C.title_pattern(titles), "")})
    df = df.withColumn("_n3", C.unify_common_tokens(F.coalesce(C.blank_to_null(col("_n2")), col("_text")),
                                                    muhammad_variants))
    df = df.withColumn("_n4", C.old_spelling_j(col("_n3")))
    df = df.withColumn("_n5", C.drop_patronymic(C.modern_letters(col("_n4"))))
    df = df.withColumn("_o_name_clean", C.blank_to_null(col("_n5")))
    df = df.withColumns({"_tokens": C.name_tokens(col("_o_name_clean")),
                         # never blank: a token never becomes empty
                         "_o_name_phonetic": C.phonetic_rules(col("_o_name_clean"))})
    ph_tokens = F.split(col("_o_name_phonetic"), " ")
    df = df.withColumns({
        "_o_name_tokens": F.size("_tokens"),
        "_o_name_first": F.element_at("_tokens", 1),
        "_o_name_last": F.element_at("_tokens", -1),
        "_o_name_sorted": F.array_join(F.sort_array("_tokens"), " "),
        "_o_name_first_phonetic": F.element_at(ph_tokens, 1),
        "_o_name_last_phonetic": F.element_at(ph_tokens, -1),
    })
    return df.drop("_n1", "_text", "_n2", "_n3", "_n4", "_n5", "_tokens")


def region_columns(df: DataFrame, get: Get, **_) -> DataFrame:
    """`df` plus the cleaned region names (kind prefix removed, a city kept apart from the regency
    of the same name) and `province_code_by_name` (the province name's code, or null)."""
    col = F.col
    df = df.withColumns({f"_t_{f}": C.clean_text_trimmed(get(f)) for f in REGION_FIELDS})
    df = df.withColumns({f"_r_{f}": C.region_prefix_stripped(C.nonblank(col(f"_t_{f}"))) for f in REGION_FIELDS})
    df = df.withColumns({
        **{f"_o_{f}": F.substring(C.blank_to_null(col(f"_r_{f}")), 1, 200) for f in ("desa", "kecamatan")},
        "_o_kabupaten": F.substring(F.when(C.is_kota(col("_t_kabupaten")),
                                        F.concat(F.lit("KOTA "), C.blank_to_null(col("_r_kabupaten"))))
                                 .otherwise(C.blank_to_null(col("_r_kabupaten"))), 1, 200),
        "_prov": C.blank_to_null(col("_r_provinsi")),
    })
    df = df.withColumns({"_o_provinsi": F.substring(col("_prov"), 1, 200),
                         "_o_province_code_by_name": C.province_code_from_region(col("_prov"))})
    return df.drop(*[f"_t_{f}" for f in REGION_FIELDS], *[f"_r_{f}" for f in REGION_FIELDS], "_prov")


def text_columns(df: DataFrame, get: Get, **_) -> DataFrame:
    """`df` plus the cleaned coded texts (family relation, occupation, ...), each cut to its length."""
    df = df.withColumns({f"_t_{f}": C.clean_text_trimmed(get(f)) for f, _ in TEXT_FIELDS})
    df = df.withColumns({f"_o_{f}": F.substring(C.nonblank(F.col(f"_t_{f}")), 1, n) for f, n in TEXT_FIELDS})
    return df.drop(*[f"_t_{f}" for f, _ in TEXT_FIELDS])


@dataclass(frozen=True)
class Group:
    name: str
    fields: tuple[str, ...]
    """canonical fields whose raw values the group's rules read"""
    outputs: tuple[str, ...]
    """what `build` adds: `_o_<output>` columns (prefixed, so no raw column of the same name is
    overwritten: P3KE's raw columns include `provinsi` and `kecamatan`)"""
    build: Callable[..., DataFrame]
    key: Callable[[Column], Column] = lambda raw: raw

    def key_column(self, field: str) -> str:
        return f"_k_{self.name}_{field}"


NAME = Group("name", ("name",), ("name_clean", "name_phonetic", "name_tokens", "name_first", "name_last",
                                 "name_sorted", "name_first_phonetic", "name_last_phonetic"),
             name_columns, name_key)
REGIONS = Group("regions", REGION_FIELDS, (*REGION_FIELDS, "province_code_by_name"), region_columns)
TEXTS = Group("texts", tuple(f for f, _ in TEXT_FIELDS), tuple(f for f, _ in TEXT_FIELDS), text_columns)
GROUPS = (NAME, REGIONS, TEXTS)


def raw_value(columns: Mapping[str, str], field: str) -> Column:
    """The raw column that holds a canonical field (`columns`: field -> raw column), or a null
    string when the contract has none."""
    raw = columns.get(field)
    return F.col(f"`{raw}`") if raw else F.lit(None).cast("string")


def lookup_tables(rows: DataFrame, columns: Mapping[str, str], n_rows: int, max_values: int, *, min_rows: int = 0,
                  **rules) -> dict[str, DataFrame]:
    """group name -> `lookup_table` for each group that gets one; pass them to
    `standardise_rows(lookups=...)` (they are not cached: nothing to unpersist).

    Decided from `n_rows`, the rows' count (known from the bronze write's metrics), not by counting
    each table: below `min_rows` rows there is no table (the per-row rules cost less than the extra
    Spark jobs, planning and code of the lookups); up to `max_values` rows no group can have more
    keys than that, so every table is kept without a job; above it, one aggregate of approximate
    distinct counts (HyperLogLog, one Spark job for all groups) drops a group with more than
    `max_values` keys (the threshold is a memory bound, so an estimate is enough)."""
    if max_values <= 0 or n_rows < min_rows:
        return {}
    raw = lambda field: raw_value(columns, field)  # noqa: E731
    mapped = {g.name: [f for f in g.fields if columns.get(f)] for g in GROUPS}
    groups = [g for g in GROUPS if mapped[g.name]]
    if n_rows > max_values and groups:
        keys = {g.name: F.struct(*[g.key(raw(f)) for f in mapped[g.name]]) for g in groups}
        est = rows.agg(*[F.approx_count_distinct(k).alias(n) for n, k in keys.items()]).first().asDict()
        groups = [g for g in groups if est[g.name] <= max_values]
    return {g.name: lookup_table(rows, g, columns, raw, **rules) for g in groups}


def _getter(group: Group, columns: Mapping[str, str], raw: Get, keyed: bool) -> Get:
    """A field's raw value for the group's rules: the key column (a lookup table's, or the rows'
    when keyed), or the raw column on the per-row path; null for a field the contract lacks."""
    def get(field: str) -> Column:
        if not columns.get(field):
            return F.lit(None).cast("string")
        return F.col(group.key_column(field)) if keyed else raw(field)
    return get


def lookup_table(rows: DataFrame, group: Group, columns: Mapping[str, str], raw: Get, **rules) -> DataFrame | None:
    """The group's distinct keys with its output columns (lazy: no Spark job, not cached; the
    broadcast join computes it once), or None when the group reads no column of this contract."""
    mapped = [f for f in group.fields if columns.get(f)]
    if not mapped:
        return None
    keys = rows.select(*[group.key(raw(f)).alias(group.key_column(f)) for f in mapped]).distinct()
    return group.build(keys, _getter(group, columns, raw, keyed=True), **rules)


def with_group(rows: DataFrame, group: Group, columns: Mapping[str, str], raw: Get, table: DataFrame | None,
               **rules) -> DataFrame:
    """`rows` plus the group's output columns: looked up in `table` by the rows' keys (a broadcast
    join, null-safe), or computed per row when there is no table."""
    if table is None:
        return group.build(rows, _getter(group, columns, raw, keyed=False), **rules)
    mapped = [f for f in group.fields if columns.get(f)]
    keyed = rows.withColumns({group.key_column(f): group.key(raw(f)) for f in mapped})
    renamed = table.select(*[F.col(k).alias(f"{k}_") for k in (group.key_column(f) for f in mapped)],
                           *[f"_o_{o}" for o in group.outputs])
    cond = None
    for f in mapped:
        k = group.key_column(f)
        c = F.col(k).eqNullSafe(F.col(f"{k}_"))
        cond = c if cond is None else cond & c
    joined = keyed.join(F.broadcast(renamed), cond, "left")
    return joined.drop(*[group.key_column(f) for f in mapped], *[f"{group.key_column(f)}_" for f in mapped])
