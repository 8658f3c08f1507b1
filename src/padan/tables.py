"""Every lake table padan writes: name, schema, partitioning, and what a row is.

One source of truth: `lake.ensure_table` creates tables from here, the README's table list is
checked against it by a test, and stage code refers to tables by these names.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from pyspark.sql.types import StructType


@dataclass(frozen=True)
class TableSpec:
    name: str               # "<layer>.<entity>"
    ddl: str                # Spark DDL of the columns
    partition_by: tuple[str, ...]
    grain: str              # one row is ...
    description: str
    properties: tuple[tuple[str, str], ...] = ()   # Delta table properties set at creation
    added_columns: tuple[str, ...] = ()
    """Nullable columns added to the DDL after lakes with this table existed: a write adds them to
    such a table (Delta schema evolution), and its older rows read them as null."""
    dropped_features: tuple[str, ...] = ()
    """Delta table features older lakes gave this table and padan now removes (before its first
    write in a process), e.g. deletionVectors, which the Python `deltalake` reader refuses."""
    backfill: tuple[tuple[str, str], ...] = ()
    """(added column, SQL over the row's other columns): an added column whose value older rows
    imply. Before its first write to an older table, a process adds the column to every row in one
    rewrite (`Lake._upgrade`), so no row keeps a null it has a value for. Code, not input."""

    @property
    def schema(self) -> StructType:
        """The DDL as a StructType (parsed once per process: parsing is a round trip to the JVM)."""
        return parse_ddl(self.ddl)


@functools.lru_cache(maxsize=None)
def parse_ddl(ddl: str) -> StructType:
    """`StructType.fromDDL`, memoised: the DDLs are padan's code, so the cache stays small."""
    return StructType.fromDDL(ddl)


BRONZE_META_DDL = "_unique_id STRING, _batch_id STRING, _source_file STRING, _line BIGINT, _loaded_at TIMESTAMP"


def private_stats(*columns: str) -> tuple[str, str]:
    """Delta keeps min/max statistics of the first 32 columns of every data file in its log, in
    clear text: for a table with personal columns (names, NIK, dates, phones) they are limited to
    these columns, which hold none, so the log never carries a name or a NIK. (Partition columns
    are kept in the log anyway and may not be listed.)"""
    return ("delta.dataSkippingStatsColumns", ",".join(columns))


REJECTS = TableSpec(
    "ops.rejects",
    "source STRING, batch_id STRING, source_file STRING, line BIGINT, record_key STRING, "
    "reasons ARRAY<STRING>, raw_text STRING, run_id STRING",
    ("source",),
    "one input row that could not be standardised",
    "input rows rejected at ingest or standardisation, with reason codes and the raw text (restricted access)",
    (private_stats("batch_id", "line", "run_id"),),
)

PERSONS = TableSpec(
    "silver.persons",
    ", ".join([
        "unique_id STRING", "source_dataset STRING", "record_key STRING", "batch_id STRING",
        "source_file STRING", "line BIGINT",
        "nik STRING", "nik_valid BOOLEAN", "nik_issue STRING", "nik_province STRING", "nik_regency STRING",
        "nik_district STRING", "nik_birth_date DATE", "nik_sex STRING", "nik_dob_mismatch BOOLEAN",
        "nik_sex_mismatch BOOLEAN", "nik_cmp STRING", "no_kk STRING",
        "name_tokens INT", "name_clean STRING", "name_first STRING", "name_last STRING",
        "name_sorted STRING", "name_phonetic STRING", "name_first_phonetic STRING", "name_last_phonetic STRING",
        "birth_date DATE", "birth_year INT", "birth_month INT", "birth_day INT", "birth_date_invalid BOOLEAN",
        "dob_placeholder BOOLEAN", "sex STRING",
        "phone STRING", "email STRING", "address_clean STRING", "rt STRING", "rw STRING",
        "desa STRING", "kecamatan STRING", "kabupaten STRING", "provinsi STRING",
        "province_code STRING", "regency_code STRING", "district_code STRING",
        "desil INT", "family_relation STRING", "occupation STRING", "education STRING",
        "employment_status STRING", "registered_at DATE", "wave STRING", "program_status STRING",
        "flags ARRAY<STRING>", "other_id STRING",
    ]),
    ("source_dataset",),
    "one standardised input record (all sources, one schema)",
    "standardised persons: cleaned NIK with validity and derived region/date/sex, name forms, dates, phones, regions",
    (private_stats("unique_id", "batch_id", "line", "province_code", "regency_code", "desil"),),
    added_columns=("other_id",),
)

PAIRS = TableSpec(
    "gold.pairs",
    "run_id STRING, model_version STRING, unique_id_l STRING, unique_id_r STRING, source_dataset_l STRING, "
    "source_dataset_r STRING, match_weight DOUBLE, match_probability DOUBLE, match_key STRING, "
    "gammas MAP<STRING, INT>, weights MAP<STRING, DOUBLE>",
    ("run_id",),
    "one scored candidate pair (above link.min_pair_probability)",
    "scored pairs: match weight and probability, and the gamma level and weight of every comparison",
)

CLUSTERS = TableSpec(
    "gold.clusters",
    "unique_id STRING, source_dataset STRING, record_key STRING, person_id STRING, cluster_size INT, "
    "in_p3ke BOOLEAN, in_prakerja BOOLEAN, threshold DOUBLE, run_id STRING",
    (),
    "one record with the person it belongs to (current state)",
    "clusters: every standardised record (its source and the source's own record key) with its stable, "
    "opaque person_id",
    # No deletion vectors: the Python `deltalake` reader refuses tables that have them, and at 1M
    # records a 1% MERGE cost less JVM CPU without them (bench/merge_dv.py, docs/BENCHMARKS.md).
    dropped_features=("deletionVectors",),
    added_columns=("record_key",),
    backfill=(("record_key", "substring(unique_id, length(source_dataset) + 2)"),),   # unique_id = <source>:<key>
)

ID_CHANGES = TableSpec(
    "gold.id_changes",
    "run_id STRING, kind STRING, old_id STRING, new_id STRING, records INT",
    ("run_id",),
    "one change of a person id in one run",
    "person id changes per run (new / merged / split / retired) for downstream systems",
)

MODEL_PARAMS = TableSpec(
    "gold.model_params",
    "model_version STRING, comparison STRING, level INT, label STRING, m_probability DOUBLE, "
    "u_probability DOUBLE, bayes_factor DOUBLE, match_weight DOUBLE, prior DOUBLE, trained_at TIMESTAMP, "
    "m_method STRING",
    ("model_version",),
    "one comparison level of one model version",
    "model parameters: m and u per comparison level per model version",
)

MODEL_TF = TableSpec(
    "gold.model_tf",
    "model_version STRING, column_name STRING, value STRING, tf DOUBLE",
    ("model_version",),
    "one value of one term-frequency column in one model version",
    "term frequencies pinned with a model version, so a pair scores the same whichever batch it arrives in",
    (private_stats("column_name"),),
)

OVERLAP_BY_REGION = TableSpec(
    "gold.overlap_by_region",
    "run_id STRING, level STRING, province_code STRING, province_name STRING, regency STRING, desil INT, "
    "persons_p3ke BIGINT, persons_prakerja BIGINT, persons_both BIGINT, share_p3ke_in_prakerja DOUBLE, "
    "share_prakerja_in_p3ke DOUBLE, suppressed BOOLEAN, suppression_k INT",
    (),
    "one region (national, province or regency) x desil (null desil: all deciles) for one run",
    "overlap ('irisan') of persons in P3KE and Prakerja by province, regency and desil; a count below "
    "suppression_k is withheld (null, `suppressed` true)",
    added_columns=("suppressed", "suppression_k"),
)

TARGETING = TableSpec(
    "gold.targeting",
    "run_id STRING, list STRING, person_id STRING, unique_id STRING, desil INT, age INT, sex STRING, "
    "province_code STRING, regency STRING, kecamatan STRING, desa STRING, no_kk STRING, priority BIGINT",
    ("list",),
    "one person on one targeting list",
    "targeting lists: poorest P3KE persons of working age not reached by Prakerja; Prakerja persons found in P3KE",
    (private_stats("run_id", "person_id", "desil", "province_code"),),
)

PERSON_PROFILE = TableSpec(
    "gold.person_profile",
    "person_id STRING, in_p3ke BOOLEAN, in_prakerja BOOLEAN, desil INT, representative_id STRING, "
    "province_code STRING, regency STRING, kecamatan STRING, desa STRING, birth_date DATE, sex STRING, "
    "no_kk STRING, run_id STRING",
    (),
    "one person (current state): the sources they are in and where they are",
    "person profiles the marts aggregate: in P3KE / in Prakerja, poorest P3KE desil, region of the "
    "representative record (P3KE first); an increment rewrites only the persons it touched",
    (private_stats("person_id", "desil", "province_code", "run_id"),),
    dropped_features=("deletionVectors",),
)

RUNS_CHECKPOINT_INTERVAL = 100

RUNS = TableSpec(
    "ops.runs",
    "run_id STRING, batch_id STRING, stage STRING, status STRING, started_at TIMESTAMP, finished_at TIMESTAMP, "
    "seconds DOUBLE, input_versions MAP<STRING, BIGINT>, output_versions MAP<STRING, BIGINT>, "
    "row_counts MAP<STRING, BIGINT>, message STRING, model_version STRING, base_run_id STRING",
    (),
    "one stage of one run",
    "run ledger: one row per stage per run with table versions, row counts, seconds, status, the model "
    "version a train/plan/predict stage made or used and the run an increment builds on",
    # A checkpoint every 100 commits, not Delta's 10: each stage commits a row or two, so the default
    # checkpoints the ledger once a run (about 5 Spark jobs); its rows are read once per process.
    (("delta.checkpointInterval", str(RUNS_CHECKPOINT_INTERVAL)),),
    added_columns=("model_version", "base_run_id"),
)

QUALITY = TableSpec(
    "ops.quality",
    "run_id STRING, source STRING, batch_id STRING, metric STRING, field STRING, value DOUBLE",
    ("source",),
    "one quality metric of one source batch",
    "quality profile per source batch: rows, rejects by reason, null shares, valid-NIK share, placeholders",
)

EVALUATIONS = TableSpec(
    "ops.evaluations",
    "run_id STRING, evaluated_at TIMESTAMP, truth_path STRING, kind STRING, threshold DOUBLE, precision DOUBLE, "
    "recall DOUBLE, f1 DOUBLE, predicted_pairs BIGINT, true_pairs BIGINT, true_positive_pairs BIGINT, "
    "is_configured_threshold BOOLEAN, is_best_f1 BOOLEAN",
    (),
    "one accuracy measurement of one run (pairwise at a threshold, or cluster B-cubed)",
    "accuracy against ground truth: pairwise precision/recall/F1 across thresholds, cluster and B-cubed metrics",
)

CLUSTERS_AT_THRESHOLDS = TableSpec(
    "gold.clusters_at_thresholds",
    "unique_id STRING, source_dataset STRING, threshold DOUBLE, cluster_id STRING, cluster_size INT, run_id STRING",
    (),
    "one record at one extra threshold",
    "clusters at each of link.extra_thresholds, for threshold sensitivity (plain component ids; "
    "written by full runs only)",
)

ALL_FIXED = (REJECTS, PERSONS, PAIRS, CLUSTERS, CLUSTERS_AT_THRESHOLDS, ID_CHANGES, MODEL_PARAMS, MODEL_TF, OVERLAP_BY_REGION, TARGETING, PERSON_PROFILE, RUNS, QUALITY, EVALUATIONS)
FIXED_BY_NAME = {spec.name: spec for spec in ALL_FIXED}


def bronze_spec(source: str, raw_columns: list[str]) -> TableSpec:
    cols = ", ".join(f"`{c}` STRING" for c in raw_columns)
    return TableSpec(
        f"bronze.{source}",
        f"{BRONZE_META_DDL}, {cols}" if cols else BRONZE_META_DDL,
        ("_batch_id",),
        f"one raw row of source {source} as read (all columns as text)",
        f"raw rows of {source} with row id, batch, file and line",
        (private_stats("_unique_id", "_line", "_loaded_at"),),
    )


def column_names(ddl: str) -> list[str]:
    """Column names of a DDL string, without a Spark session ('a STRING, m MAP<STRING, INT>' -> [a, m])."""
    names, depth, start = [], 0, 0
    for i, ch in enumerate(ddl + ","):
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth -= 1
        elif ch == "," and depth == 0:
            part = ddl[start:i].strip()
            if part:
                names.append(part.split()[0].strip("`"))
            start = i + 1
    return names
