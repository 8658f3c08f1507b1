"""The ingest stage: read one source batch, keep every row in bronze, standardise it into
silver.persons or ops.rejects."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from padan.errors import InvariantError, StateError
from padan.ids import check_id
from padan.ingest.cache import uncompressed_cache
from padan.ingest.derive import field_columns
from padan.ingest.quality import log_quality, quality_rows, rows_written
from padan.ingest.read import InputFile, RawRead, batch_fingerprint, list_files, read_source
from padan.lake import slice_of
from padan.ledger import StageRecord
from padan.stages.runner import BRONZE, Ctx, Stage, run_stage
from padan.standardise.lookup import lookup_tables
from padan.standardise.persons import (flag_duplicates, record_keys, repeated_keys, split_accepted_rejected,
                                       standardise_rows)
from padan.standardise.pseudonymise import Pseudonymiser
from padan.tables import PERSONS, QUALITY, REJECTS, bronze_spec

LOOKUP_MAX_VALUES = 500_000
"""Name, region and coded-text rules run once per distinct value when a group has at most this many
(`padan.standardise.lookup`: a broadcast table of that many rows, ~100 MB for names), per row otherwise."""

LOOKUP_MIN_ROWS = 300_000
"""Below this many rows in a batch the name, region and coded-text rules run per row: the lookups'
extra Spark jobs, planning and generated code cost more than they save on few rows (measured
crossover, docs/BENCHMARKS.md)."""

REPEATED_KEYS_MAX = 1_000_000
"""Duplicate record keys are found by a broadcast of the repeated keys when there are at most this
many (a clean register has none), else by a window over all rows."""

REPEATED_KEYS_MIN_ROWS = 20_000
"""Below this many rows in a batch (test and demo extracts) duplicate record keys are found by the
window over all rows: sorting a few thousand rows costs less than the repeated keys' own Spark
jobs (a grouping, a count, a broadcast). Both paths flag the same rows (tests/test_lookup.py)."""

INGEST = Stage("ingest", ("files:<source>",), (BRONZE, PERSONS.name, REJECTS.name, QUALITY.name),
               "read one batch of a source, standardise it; every row to silver.persons or ops.rejects")


@dataclass
class IngestResult:
    source: str
    batch_id: str
    rows_read: int
    rows_standardised: int
    rows_rejected: int
    skipped: bool = False


def plan_batch(ctx: Ctx, source: str, path: str | None = None, batch_id: str | None = None) -> tuple[str, list[InputFile]]:
    contract = ctx.cfg.sources[source]
    if batch_id is not None:
        check_id("batch id", batch_id)    # before any file is listed or table touched
    files = list_files(ctx.spark, source, path or contract.path)
    if batch_id and not batch_id.startswith(f"{source}-"):
        batch_id = f"{source}-{batch_id}"   # batch ids are per source: two sources may both send '2026-11-28'
    return batch_id or batch_fingerprint(source, files), files


def run_ingest(ctx: Ctx, source: str, *, path: str | None = None, batch_id: str | None = None,
               mode: str = "snapshot") -> IngestResult:
    """Read one source batch, keep every row in bronze, standardise into silver.persons or rejects.

    mode 'snapshot': the batch is the source's full extract and replaces its rows in silver;
    mode 'increment': the batch adds to what silver holds.
    """
    contract = ctx.cfg.sources[source]
    batch_id, files = plan_batch(ctx, source, path, batch_id)

    def done(row: dict) -> IngestResult:
        c = row["row_counts"]
        return IngestResult(source, batch_id, c.get("read", 0), c.get("standardised", 0), c.get("rejected", 0), True)

    def prepare() -> tuple:
        raw = read_source(ctx.spark, source, contract, files)  # contract checked before anything is written
        return raw, Pseudonymiser.for_source(ctx.spark, source, contract)   # None unless the contract turns it on

    def body(rec: StageRecord, raw: RawRead, pseudo: Pseudonymiser | None) -> IngestResult:
        with uncompressed_cache(ctx.spark):
            return _write_batch(ctx, rec, source, batch_id, mode, raw, pseudo)

    return run_stage(ctx, INGEST, batch_id, body, done=done, prepare=prepare, batch_id=batch_id, source=source)


def _write_batch(ctx: Ctx, rec: StageRecord, source: str, batch_id: str, mode: str, raw: RawRead,
                 pseudo: Pseudonymiser | None) -> IngestResult:
    """The ingest stage's body: bronze, silver.persons, ops.rejects and ops.quality for one batch."""
    contract = ctx.cfg.sources[source]
    std_cfg = ctx.cfg.standardise
    # the rows with their record keys, cached
    base = record_keys(raw.rows, contract.record_key).persist(StorageLevel.MEMORY_AND_DISK)
    if mode == "increment":
        _check_new_keys(ctx, source, batch_id, base)
    loaded_at = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    bronze = bronze_spec(source, list(raw.columns))
    bronze_rows = (base if pseudo is None else pseudo.bronze(base, raw.columns)).select(
        F.concat(F.lit(f"{source}:"), F.col("_record_key")).alias("_unique_id"), F.lit(batch_id).alias("_batch_id"),
        "_source_file", "_line", F.lit(loaded_at).alias("_loaded_at"), *[F.col(f"`{c}`") for c in raw.columns])
    m_read = ctx.lake.overwrite(bronze_rows, bronze, replace_where=slice_of(_batch_id=batch_id))
    n_read = rows_written(m_read, lambda: ctx.lake.read(bronze.name).where(slice_of(_batch_id=batch_id)).count())
    # repeated keys found by a grouping of the keys alone (a Spark job of its own), or in a small
    # batch by the window over its few rows inside the standardisation query (no job of its own)
    repeated = (repeated_keys(base, REPEATED_KEYS_MAX) if contract.record_key and n_read >= REPEATED_KEYS_MIN_ROWS
                else None)
    keyed = flag_duplicates(base, contract.record_key, repeated)

    rules = {"titles": std_cfg.name_titles, "muhammad_variants": std_cfg.muhammad_variants}
    lookups = lookup_tables(base, field_columns(contract), n_read, LOOKUP_MAX_VALUES, min_rows=LOOKUP_MIN_ROWS,
                            **rules)
    std = standardise_rows(
        keyed, source=source, batch_id=batch_id, columns=field_columns(contract), date_formats=contract.date_formats,
        value_maps=contract.value_maps, key_column=contract.record_key, titles=std_cfg.name_titles,
        muhammad_variants=std_cfg.muhammad_variants, placeholder_dates=std_cfg.placeholder_dates,
        day15_placeholder=std_cfg.day15_placeholder, placeholder_niks=std_cfg.placeholder_niks,
        min_birth_year=std_cfg.min_birth_year, reference_date=ctx.run_date,
        required=contract.required, valid_ranges=contract.valid_ranges, pseudonymiser=pseudo,
        identifying_regions=std_cfg.identifying_regions, lookups=lookups,
    ).persist(StorageLevel.MEMORY_AND_DISK)
    accepted, rejected = split_accepted_rejected(std)
    this_batch = {"batch_id": batch_id} if mode == "increment" else {}
    m_std = ctx.lake.overwrite(accepted, PERSONS, replace_where=slice_of(source_dataset=source, **this_batch))
    rejects = rejected.select(F.col("source_dataset").alias("source"), "batch_id", "source_file", "line",
                              "record_key", "reasons", "raw_text", F.lit(batch_id).alias("run_id"))
    m_rej = ctx.lake.overwrite(rejects, REJECTS, replace_where=slice_of(source=source, **this_batch))
    # The invariant is checked on what landed in the tables (the writes' own row counts), not on
    # what was meant to.
    n_std = rows_written(m_std, lambda: ctx.lake.read(PERSONS.name).where(
        slice_of(source_dataset=source, batch_id=batch_id)).count())
    n_rej = rows_written(m_rej, lambda: ctx.lake.read(REJECTS.name).where(
        slice_of(source=source, batch_id=batch_id)).count())
    rec.row_counts.update(read=n_read, standardised=n_std, rejected=n_rej)
    if n_read != n_std + n_rej:
        raise InvariantError(f"source '{source}' batch {batch_id}: rows read ({n_read}) != standardised "
                             f"({n_std}) + rejected ({n_rej})")
    quality = quality_rows(std)
    ctx.lake.overwrite(ctx.spark.createDataFrame([(batch_id, source, batch_id, *q) for q in quality], QUALITY.ddl),
                       QUALITY, replace_where=slice_of(source=source, batch_id=batch_id))
    log_quality(quality, source)
    std.unpersist()
    base.unpersist()
    if repeated is not None:
        repeated.unpersist()
    return IngestResult(source, batch_id, n_read, n_std, n_rej)


def _check_new_keys(ctx: Ctx, source: str, batch_id: str, keyed: DataFrame) -> None:
    """An increment adds records: a record key that silver already holds from another batch would
    give one unique_id two rows. Checked before anything is written."""
    held = (ctx.lake.read(PERSONS.name).where((F.col("source_dataset") == source) & (F.col("batch_id") != batch_id))
            .select("record_key"))
    clash = keyed.select(F.col("_record_key").alias("record_key")).join(held, "record_key", "left_semi").count()
    if clash:
        raise StateError(f"source '{source}' batch {batch_id}: {clash} record key(s) are already in silver.persons "
                         f"from earlier batches; an increment only adds new records (send changed records as a "
                         f"snapshot: `padan ingest --mode snapshot` then `padan link`)")


def batch_filter(source: str, batch_id: str):
    return (F.col("source_dataset") == source) & (F.col("batch_id") == batch_id)
