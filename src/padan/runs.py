"""Stage runners: read -> transform -> write, each recorded in the run ledger.

Only this module and `lake` read or write tables. Every runner is safe to rerun: a stage that
already succeeded for the same inputs is skipped (unless forced), and a forced rerun replaces only
its own slice of each table.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
from dataclasses import dataclass, field

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from padan import ledger
from padan.cluster.components import connected_components
from padan.cluster.ids import assign_person_ids
from padan.config import Config
from padan.errors import InvariantError, StateError
from padan.evaluate.metrics import cluster_metrics, pair_metrics_by_threshold, truth_as_unique_ids
from padan.ids import check_id
from padan.ingest.quality import log_quality, quality_rows, rows_written
from padan.ingest.read import InputFile, batch_fingerprint, list_files, read_source
from padan.lake import Lake, slice_of
from padan.link import engine
from padan.link.predict import predict_increment, predict_pairs, to_pairs_rows
from padan.model.settings import settings_fingerprint, untrained_settings
from padan.model.store import list_versions, load_model, resolve_version, save_model
from padan.model.tf import load_tf, save_tf
from padan.model.train import TRAINING_REVISION, train_model
from padan.report.html import write_run_report
from padan.report.marts import overlap_by_region, person_profile, targeting
from padan.spark import set_checkpoint_dir
from padan.standardise.persons import split_accepted_rejected, standardise_rows, with_record_keys
from padan.standardise.pseudonymise import Pseudonymiser
from padan.tables import (CLUSTERS, CLUSTERS_AT_THRESHOLDS, EVALUATIONS, ID_CHANGES, MODEL_PARAMS, MODEL_TF,
                          OVERLAP_BY_REGION, PAIRS, PERSON_PROFILE, PERSONS, QUALITY, REJECTS, RUNS, TARGETING,
                          bronze_spec)

logger = logging.getLogger(__name__)


@dataclass
class Ctx:
    spark: SparkSession
    cfg: Config
    lake: Lake
    force: bool = False
    run_date: str = field(default_factory=lambda: dt.date.today().isoformat())

    @classmethod
    def create(cls, spark: SparkSession, cfg: Config, *, force: bool = False, run_date: str | None = None) -> "Ctx":
        ctx = cls(spark, cfg, Lake.from_config(spark, cfg.lake), force)
        if run_date:
            ctx.run_date = run_date
        if spark.sparkContext.getCheckpointDir() is None:
            set_checkpoint_dir(spark, cfg.lake.checkpoint_path)
        return ctx                      # tables are created by their first write (Lake.read: empty till then)


def _skip(ctx: Ctx, run_id: str, stage: str) -> dict | None:
    if ctx.force:
        return None
    done = ledger.succeeded(ctx.lake, run_id, stage)
    if done:
        logger.info("%s (already succeeded for these inputs; --force redoes it)",
                    ledger.stage_line(run_id, stage, "skipped", None, done.get("row_counts") or {}))
    return done


# ---------------------------------------------------------------- ingest + standardise

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
    done = _skip(ctx, batch_id, "ingest")
    if done:
        c = done["row_counts"]
        return IngestResult(source, batch_id, c.get("read", 0), c.get("standardised", 0), c.get("rejected", 0), True)

    raw = read_source(ctx.spark, source, contract, files)  # contract checked before anything is written
    pseudo = Pseudonymiser.for_source(ctx.spark, source, contract)   # None unless the contract turns it on
    std_cfg = ctx.cfg.standardise
    with ledger.stage(ctx.lake, batch_id, "ingest", batch_id=batch_id) as rec:
        keyed = with_record_keys(raw.rows, contract.record_key).persist(StorageLevel.MEMORY_AND_DISK)
        if mode == "increment":
            _check_new_keys(ctx, source, batch_id, keyed)
        loaded_at = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        bronze = bronze_spec(source, list(raw.columns))
        bronze_rows = (keyed if pseudo is None else pseudo.bronze(keyed, raw.columns)).select(
            F.concat(F.lit(f"{source}:"), F.col("_record_key")).alias("_unique_id"), F.lit(batch_id).alias("_batch_id"),
            "_source_file", "_line", F.lit(loaded_at).alias("_loaded_at"), *[F.col(f"`{c}`") for c in raw.columns])
        m_read = ctx.lake.overwrite(bronze_rows, bronze, replace_where=slice_of(_batch_id=batch_id))

        std = standardise_rows(
            keyed, source=source, batch_id=batch_id, columns=contract.columns, date_formats=contract.date_formats,
            value_maps=contract.value_maps, key_column=contract.record_key, titles=std_cfg.name_titles,
            muhammad_variants=std_cfg.muhammad_variants, placeholder_dates=std_cfg.placeholder_dates,
            day15_placeholder=std_cfg.day15_placeholder, placeholder_niks=std_cfg.placeholder_niks,
            min_birth_year=std_cfg.min_birth_year, reference_date=ctx.run_date,
            required=contract.required, valid_ranges=contract.valid_ranges, pseudonymiser=pseudo,
        ).persist(StorageLevel.MEMORY_AND_DISK)
        accepted, rejected = split_accepted_rejected(std)
        this_batch = {"batch_id": batch_id} if mode == "increment" else {}
        m_std = ctx.lake.overwrite(accepted, PERSONS, replace_where=slice_of(source_dataset=source, **this_batch))
        rejects = rejected.select(F.col("source_dataset").alias("source"), "batch_id", "source_file", "line",
                                  "record_key", "reasons", "raw_text", F.lit(batch_id).alias("run_id"))
        m_rej = ctx.lake.overwrite(rejects, REJECTS, replace_where=slice_of(source=source, **this_batch))
        # The invariant is checked on what landed in the tables (the writes' own row counts), not on
        # what was meant to.
        n_read = rows_written(m_read, lambda: ctx.lake.read(bronze.name).where(slice_of(_batch_id=batch_id)).count())
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
        rec.output_versions = ctx.lake.versions([bronze.name, PERSONS.name, REJECTS.name, QUALITY.name])
        log_quality(quality, source)
        keyed.unpersist()
        std.unpersist()
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


# ---------------------------------------------------------------- run identity

def silver_batches(ctx: Ctx) -> list[str]:
    return sorted(r[0] for r in ctx.lake.read(PERSONS.name).select("batch_id").distinct().collect())


def link_run_id(ctx: Ctx, model_version: str) -> str:
    """The run id for linking the current silver state with a model: the same inputs give the same
    run id (found in the ledger), new inputs a new, time-ordered one."""
    key_src = json.dumps({"batches": silver_batches(ctx), "model": model_version,
                          "link": ctx.cfg.link.model_dump(mode="json")}, sort_keys=True)
    key = hashlib.sha256(key_src.encode()).hexdigest()[:16]
    existing = (ctx.lake.read(RUNS.name).where((F.col("stage") == "plan") & (F.col("batch_id") == key))
                .orderBy("started_at").select("run_id").limit(1).collect())
    if existing:
        return existing[0][0]
    run_id = f"{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%S}-{key[:8]}"
    with ledger.stage(ctx.lake, run_id, "plan", batch_id=key) as rec:
        rec.model_version = model_version
        rec.message = f"model_version={model_version}"
    return run_id


# ---------------------------------------------------------------- train

def run_train(ctx: Ctx, *, m_method: str | None = None) -> str:
    """Train on silver.persons and save a new model version (skipped if this exact training already ran)."""
    model_cfg = ctx.cfg.model
    m_method = m_method or model_cfg.training.m_method
    key_src = json.dumps({"batches": silver_batches(ctx), "model": model_cfg.model_dump(mode="json"),
                          "m_method": m_method, "revision": TRAINING_REVISION}, sort_keys=True)
    run_id = "train-" + hashlib.sha256(key_src.encode()).hexdigest()[:16]
    done = _skip(ctx, run_id, "train")
    if done and ledger.model_version_of(done):
        return ledger.model_version_of(done)
    with ledger.stage(ctx.lake, run_id, "train") as rec:
        persons = ctx.lake.read(PERSONS.name)
        rec.input_versions = ctx.lake.versions([PERSONS.name])
        result = train_model(ctx.spark, persons, model_cfg, break_lineage_method=ctx.cfg.spark.break_lineage_method,
                             m_method=m_method)
        version = save_model(ctx.lake, result.settings, result.m_method)
        tf_counts = save_tf(ctx.lake, version, persons, result.settings)
        rec.output_versions = ctx.lake.versions([MODEL_PARAMS.name, MODEL_TF.name])
        rec.row_counts.update({f"tf_values_{k}": v for k, v in tf_counts.items()})
        rec.row_counts.update({f"label_pairs_{k}": v for k, v in result.label_pairs.items()})
        rec.row_counts.update({f"ms_{k}": int(1000 * v) for k, v in result.seconds.items()})
        rec.model_version = version
        rec.message = f"model_version={version}"
    logger.info("model version %s saved (structure %s)", version, settings_fingerprint(untrained_settings(model_cfg)))
    return version


# ---------------------------------------------------------------- predict + cluster

def run_predict(ctx: Ctx, run_id: str, model_version: str, *, batch: tuple[str, str] | None = None) -> int:
    """Score pairs into gold.pairs (this run's slice): all pairs of silver.persons, or with `batch`
    (source, batch id) only the pairs that batch's records add (an increment)."""
    if ctx.cfg.link.engine == "padan":
        predict_pairs, predict_increment = engine.predict_pairs, engine.predict_increment

    done = _skip(ctx, run_id, "predict")
    if done:
        return done["row_counts"].get("pairs", 0)
    with ledger.stage(ctx.lake, run_id, "predict", batch_id=batch[1] if batch else None) as rec:
        settings = load_model(ctx.lake, model_version)
        persons = ctx.lake.read(PERSONS.name)
        rec.input_versions = ctx.lake.versions([PERSONS.name])
        tf = load_tf(ctx.lake, model_version, settings, persons)
        kw = dict(min_probability=ctx.cfg.link.min_pair_probability, tf_tables=tf,
                  break_lineage_method=ctx.cfg.spark.break_lineage_method)
        if batch is None:
            scored = predict_pairs(ctx.spark, persons, settings, **kw)
        else:
            is_new = _batch_filter(*batch)
            new = persons.where(is_new)
            n_new = new.count()
            rec.row_counts["new_records"] = n_new
            scored = predict_increment(ctx.spark, persons.where(~is_new), new, settings, n_new=n_new,
                                       stats=rec.row_counts, **kw)
        rows = (ctx.spark.createDataFrame([], PAIRS.ddl) if scored is None
                else to_pairs_rows(scored, settings, run_id=run_id, model_version=model_version))
        m = ctx.lake.overwrite(rows, PAIRS, replace_where=slice_of(run_id=run_id))
        rec.row_counts["pairs"] = m.get("numOutputRows", 0)
        rec.output_versions = ctx.lake.versions([PAIRS.name])
        rec.model_version = model_version
        rec.message = f"model_version={model_version}"
    return rec.row_counts["pairs"]


def run_cluster(ctx: Ctx, run_id: str) -> dict[str, int]:

    done = _skip(ctx, run_id, "cluster")
    if done:
        return done["row_counts"]
    threshold = ctx.cfg.link.threshold_match_probability
    # The state before this run: on a retry of the same run, the version recorded by the first attempt.
    previous_version = _clusters_input_version(ctx, run_id)
    with ledger.stage(ctx.lake, run_id, "cluster", input_versions={CLUSTERS.name: previous_version},
                      mark_running=True) as rec:
        persons = ctx.lake.read(PERSONS.name).select("unique_id", "source_dataset", "record_key")
        edges = (ctx.lake.read(PAIRS.name).where((F.col("run_id") == run_id) & (F.col("match_probability") >= threshold))
                 .select(F.col("unique_id_l").alias("src"), F.col("unique_id_r").alias("dst")))
        comps = connected_components(persons.select(F.col("unique_id").alias("id")), edges)
        previous = None
        if previous_version != NO_TABLE:
            previous = _clusters_at(ctx, previous_version).select("unique_id", "person_id")
        ids = assign_person_ids(comps, previous, run_id)
        clusters = _cluster_rows(ids.assign.join(persons, "unique_id"), threshold, run_id)
        m = ctx.lake.overwrite(clusters, CLUSTERS)
        counts = _write_id_changes(ctx, ids.changes, run_id)
        rec.row_counts.update(records=m.get("numOutputRows", 0), persons=ids.persons(), **counts)
        rec.output_versions = ctx.lake.versions([CLUSTERS.name, ID_CHANGES.name])
        clusters.unpersist()
        ids.release()
        comps.unpersist()
    return rec.row_counts


def run_cluster_thresholds(ctx: Ctx, run_id: str) -> dict[str, int]:
    """Threshold sensitivity: connected components of the run's pairs at each of
    `link.extra_thresholds` into gold.clusters_at_thresholds (replaced by every full run; plain
    component ids, the smallest record id of each, not stable person ids). Nothing to do without
    extra thresholds."""
    thresholds = sorted(set(ctx.cfg.link.extra_thresholds))
    if not thresholds:
        return {}
    done = _skip(ctx, run_id, "cluster_thresholds")
    if done:
        return done["row_counts"]
    with ledger.stage(ctx.lake, run_id, "cluster_thresholds") as rec:
        persons = ctx.lake.read(PERSONS.name).select("unique_id", "source_dataset")
        nodes = persons.select(F.col("unique_id").alias("id"))
        pairs = (ctx.lake.read(PAIRS.name).where(F.col("run_id") == run_id)
                 .select(F.col("unique_id_l").alias("src"), F.col("unique_id_r").alias("dst"), "match_probability")
                 .persist(StorageLevel.MEMORY_AND_DISK))
        parts = []
        for t in thresholds:
            comps = connected_components(nodes, pairs.where(F.col("match_probability") >= t).select("src", "dst"))
            parts.append(comps.select(F.col("id").alias("unique_id"), F.col("component").alias("cluster_id"),
                                      F.lit(t).alias("threshold")))
        rows = parts[0]
        for part in parts[1:]:
            rows = rows.unionByName(part)
        size = F.count(F.lit(1)).over(Window.partitionBy("threshold", "cluster_id")).cast("int")
        rows = rows.join(persons, "unique_id").withColumn("cluster_size", size).withColumn("run_id", F.lit(run_id))
        ctx.lake.overwrite(rows, CLUSTERS_AT_THRESHOLDS)
        counts = (ctx.lake.read(CLUSTERS_AT_THRESHOLDS.name).groupBy("threshold")
                  .agg(F.countDistinct("cluster_id").alias("n")).collect())
        rec.row_counts.update({f"persons_at_{r['threshold']:g}": r["n"] for r in counts})
        rec.output_versions = ctx.lake.versions([CLUSTERS_AT_THRESHOLDS.name])
        pairs.unpersist()
    return rec.row_counts


def _cluster_rows(assign: DataFrame, threshold: float, run_id: str) -> DataFrame:
    """assign(unique_id, person_id, source_dataset, record_key) -> gold.clusters rows, persisted (the caller
    writes them and unpersists): the per-person aggregates are window functions over one
    partitioning by person, so the rows are computed once, with one shuffle."""
    person = Window.partitionBy("person_id")
    return (assign.select(
        "unique_id", "person_id", "source_dataset", "record_key",
        F.count(F.lit(1)).over(person).cast("int").alias("cluster_size"),
        F.max(F.col("source_dataset") == "p3ke").over(person).alias("in_p3ke"),
        F.max(F.col("source_dataset") == "prakerja").over(person).alias("in_prakerja"),
        F.lit(threshold).alias("threshold"), F.lit(run_id).alias("run_id"))
        .persist(StorageLevel.MEMORY_AND_DISK))


def _write_id_changes(ctx: Ctx, changes: DataFrame, run_id: str) -> dict:
    """Write the run's slice of gold.id_changes; returns its counts by kind (`changes` is computed
    once, for both)."""
    changes = changes.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        ctx.lake.overwrite(changes.withColumn("run_id", F.lit(run_id)), ID_CHANGES, replace_where=slice_of(run_id=run_id))
        by_kind = {r["kind"]: r["count"] for r in changes.groupBy("kind").count().collect()}
    finally:
        changes.unpersist()
    return {f"ids_{k}": v for k, v in by_kind.items()}


NO_TABLE = -1    # an input version meaning "the table did not exist yet"


def _clusters_input_version(ctx: Ctx, run_id: str) -> int:
    """The gold.clusters version this run's cluster stage starts from: on a retry, the one its first
    attempt recorded; else the current one, or NO_TABLE on a lake without clusters yet (so a retry
    after the first attempt created the table still starts from no clusters)."""
    version = _previous_attempt_input_version(ctx, run_id, "cluster", CLUSTERS.name)
    if version is None:
        version = ctx.lake.version(CLUSTERS.name) if ctx.lake.exists(CLUSTERS.name) else NO_TABLE
    return version


def _clusters_at(ctx: Ctx, version: int) -> DataFrame:
    """gold.clusters as of `version`; empty (declared schema) for NO_TABLE."""
    if version == NO_TABLE:
        return ctx.spark.createDataFrame([], CLUSTERS.ddl)
    return ctx.lake.read(CLUSTERS.name, version=version)


def _previous_attempt_input_version(ctx: Ctx, run_id: str, stage: str, table: str) -> int | None:
    rows = (ctx.lake.read(RUNS.name).where((F.col("run_id") == run_id) & (F.col("stage") == stage))
            .select("input_versions").collect())
    for r in rows:
        if r[0] and table in r[0]:
            return int(r[0][table])
    return None


# ---------------------------------------------------------------- increments

def current_run_id(ctx: Ctx) -> str | None:
    """The run that last wrote gold.clusters (a full link run or an increment), or None."""
    rows = (ctx.lake.read(RUNS.name).where((F.col("stage") == "cluster") & (F.col("status") == "succeeded"))
            .orderBy(F.desc("finished_at")).select("run_id").limit(1).collect())
    return rows[0][0] if rows else None


def run_chain(ctx: Ctx, run_id: str) -> list[str]:
    """The full run a state started from and the increments added since, oldest first."""
    plans = {r["run_id"]: r.asDict() for r in
             ctx.lake.read(RUNS.name).where(F.col("stage") == "plan").select("run_id", "base_run_id", "message").collect()}
    chain, cur = [], run_id
    while cur and cur not in chain:
        chain.append(cur)
        cur = ledger.base_run_of(plans.get(cur))
    return chain[::-1]


class FaultInjected(BaseException):
    """Raised by a fault point set with `PADAN_FAULT_AT=raise:<name>` (a BaseException, so no
    `except Exception` handles it, as nothing handles a kill)."""


def _fault_point(name: str) -> None:
    """Test hook: `PADAN_FAULT_AT=<name>` ends the process here at once, as a kill would (no
    cleanup, no ledger row), so tests can prove that a rerun repairs a half-done run.
    `PADAN_FAULT_AT=raise:<name>` raises FaultInjected instead, for in-process tests: at a point
    between stages that leaves the lake and the ledger exactly as the exit does (no stage is open,
    so no ledger row is written on the way out)."""
    at = os.environ.get("PADAN_FAULT_AT")
    if at == name:
        logger.error("PADAN_FAULT_AT=%s: exiting abruptly (test hook)", name)
        logging.shutdown()
        os._exit(86)
    if at == f"raise:{name}":
        raise FaultInjected(name)


def _increment_key(ctx: Ctx, batch_id: str, model_version: str) -> str:
    key_src = json.dumps({"increment": batch_id, "model": model_version,
                          "link": ctx.cfg.link.model_dump(mode="json")}, sort_keys=True)
    return "inc-" + hashlib.sha256(key_src.encode()).hexdigest()[:16]


def _planned_increment(ctx: Ctx, batch_id: str, model_version: str) -> tuple[str, str] | None:
    key = _increment_key(ctx, batch_id, model_version)
    rows = (ctx.lake.read(RUNS.name).where((F.col("stage") == "plan") & (F.col("batch_id") == key))
            .orderBy("started_at").select("run_id", "base_run_id", "message").limit(1).collect())
    if not rows:
        return None
    return rows[0]["run_id"], ledger.base_run_of(rows[0].asDict()) or ""


def increment_run_id(ctx: Ctx, batch_id: str, model_version: str) -> tuple[str, str]:
    """(run id, base run id) of the increment adding `batch_id`: found in the ledger when this batch
    was planned before (so a rerun is the same run), else a new time-ordered id on top of the
    current run."""
    planned = _planned_increment(ctx, batch_id, model_version)
    if planned:
        return planned
    key = _increment_key(ctx, batch_id, model_version)
    base = current_run_id(ctx)
    if base is None:
        raise StateError("no linked state to add a batch to: gold.clusters has never been written; run the full "
                         "pipeline first (`padan pipeline`, or `padan ingest` + `padan link`)")
    run_id = f"{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%S}-{key[4:12]}"
    with ledger.stage(ctx.lake, run_id, "plan", batch_id=key) as rec:
        rec.model_version, rec.base_run_id = model_version, base
        rec.message = f"model_version={model_version} base={base}"
    return run_id, base


@dataclass
class IncrementResult:
    run_id: str
    base_run_id: str
    model_version: str
    ingest: IngestResult
    pairs: int
    cluster: dict[str, int]
    marts: dict[str, int]
    already_done: bool = False


def run_increment(ctx: Ctx, source: str, *, path: str, batch_id: str | None = None) -> IncrementResult:
    """Add one batch of `source` to the lake: ingest it (mode increment), score it against the
    records already linked and within itself, re-cluster only the persons it touches, refresh the
    marts. Every stage is keyed by the batch, so rerunning the batch changes nothing and a run that
    died half-way resumes where it stopped."""
    if source not in ctx.cfg.sources:
        raise StateError(f"unknown source '{source}'; configured: {sorted(ctx.cfg.sources)}")
    batch_id, _ = plan_batch(ctx, source, path, batch_id)
    if ledger.succeeded(ctx.lake, batch_id, "ingest") is None and current_run_id(ctx) is None:
        raise StateError("no linked state to add a batch to: gold.clusters has never been written; run the full "
                         "pipeline first (`padan pipeline`, or `padan ingest` + `padan link`)")
    version = _increment_model_version(ctx)
    planned = None if ctx.force else _planned_increment(ctx, batch_id, version)
    already = (planned is not None and ledger.succeeded(ctx.lake, batch_id, "ingest") is not None
               and ledger.succeeded(ctx.lake, planned[0], "marts") is not None)
    if already:
        logger.info("source=%s batch=%s already processed: nothing to do (use --force to redo)", source, batch_id)
    ing = run_ingest(ctx, source, path=path, batch_id=batch_id, mode="increment")
    run_id, base = increment_run_id(ctx, ing.batch_id, version)
    pairs = run_predict(ctx, run_id, version, batch=(source, ing.batch_id))
    _fault_point("increment:after-predict")
    cluster = run_cluster_increment(ctx, run_id, source, ing.batch_id)
    marts = run_marts(ctx, run_id, touched_only=True)
    return IncrementResult(run_id, base, version, ing, pairs, cluster, marts, already)


def _run_model_version(ctx: Ctx, run_id: str) -> str | None:
    rows = (ctx.lake.read(RUNS.name).where((F.col("run_id") == run_id) & (F.col("stage") == "plan"))
            .select("model_version", "message").limit(1).collect())
    return ledger.model_version_of(rows[0].asDict()) if rows else None


def _increment_model_version(ctx: Ctx) -> str:
    """An increment scores with the model version of the state it adds to, or its pairs would not be
    those a full run gives: with `link.model_version: latest` a model trained since is left for the
    next full `padan link`; a pinned version that differs from the state's is refused."""
    state = current_run_id(ctx)
    state_version = _run_model_version(ctx, state) if state else None
    pinned = ctx.cfg.link.model_version
    if state_version is None:
        return resolve_version(ctx.lake, pinned)
    if pinned != "latest" and pinned != state_version:
        raise StateError(f"link.model_version pins '{pinned}' but the linked state (run {state}) was scored with "
                         f"'{state_version}': an increment scores with the state's model; run a full `padan link` "
                         "to move the state to the new version first")
    newest = resolve_version(ctx.lake, "latest")
    if newest != state_version:
        logger.info("model version %s is newer than the linked state's %s: this increment keeps %s; a full "
                    "`padan link` moves the state to the new version", newest, state_version, state_version)
    return state_version


def _batch_filter(source: str, batch_id: str):
    return (F.col("source_dataset") == source) & (F.col("batch_id") == batch_id)


BROADCAST_ROWS = 500_000   # an increment's join side up to this many rows is broadcast


def run_cluster_increment(ctx: Ctx, run_id: str, source: str, batch_id: str) -> dict[str, int]:
    """Re-cluster only what the batch touches. Adding records and pairs can only join components,
    never split them, so each touched person is one node-set (its records, tied by a star of
    edges) and the batch's new records and pairs are added to those; everything else keeps its
    rows untouched. The result is MERGEd into gold.clusters on unique_id."""
    done = _skip(ctx, run_id, "cluster")
    if done:
        return done["row_counts"]
    threshold = ctx.cfg.link.threshold_match_probability
    previous_version = _clusters_input_version(ctx, run_id)
    with ledger.stage(ctx.lake, run_id, "cluster", batch_id=batch_id, input_versions={CLUSTERS.name: previous_version},
                      mark_running=True) as rec:
        prev = _clusters_at(ctx, previous_version).select("unique_id", "person_id")
        persons = ctx.lake.read(PERSONS.name)
        is_new = _batch_filter(source, batch_id)
        new = persons.where(is_new).select("unique_id", "source_dataset").persist(StorageLevel.MEMORY_AND_DISK)
        n_new = new.count()
        # The base state must cover every other record, or this run would leave some unclustered.
        # Whole-table counts come from the Delta log's file statistics (no scan).
        n_prev, n_other = prev.count(), persons.count() - n_new
        if n_prev != n_other:
            raise StateError(f"gold.clusters (version {previous_version}) holds {n_prev} records but silver.persons "
                             f"holds {n_other} besides this batch: run a full `padan link` before adding batches")
        edges = (ctx.lake.read(PAIRS.name).where((F.col("run_id") == run_id) & (F.col("match_probability") >= threshold))
                 .select(F.col("unique_id_l").alias("src"), F.col("unique_id_r").alias("dst"))
                 .persist(StorageLevel.MEMORY_AND_DISK))
        ends = edges.select(F.col("src").alias("unique_id")).union(edges.select(F.col("dst").alias("unique_id")))
        # The batch's side of each join is small next to the lake's: broadcast it, so the lake's
        # clusters are read once through two columns and probed, never shuffled.
        small = edges.count() <= BROADCAST_ROWS
        touched = prev.join(F.broadcast(ends) if small else ends, "unique_id", "left_semi").select("person_id").distinct()
        touched = touched.persist(StorageLevel.MEMORY_AND_DISK)
        small = small and touched.count() <= BROADCAST_ROWS
        members = prev.join(F.broadcast(touched) if small else touched, "person_id").persist(StorageLevel.MEMORY_AND_DISK)
        anchors = members.groupBy("person_id").agg(F.min("unique_id").alias("dst"))
        star = members.join(anchors, "person_id").select(F.col("unique_id").alias("src"), "dst")
        nodes = members.select(F.col("unique_id").alias("id")).union(new.select(F.col("unique_id").alias("id")))
        comps = connected_components(nodes, edges.unionByName(star))
        ids = assign_person_ids(comps, members, run_id)
        clusters = _cluster_rows(ids.assign.join(persons.select("unique_id", "source_dataset", "record_key"),
                                                 "unique_id"), threshold, run_id)
        m = ctx.lake.merge(clusters, CLUSTERS, ["unique_id"])
        _fault_point("increment:after-clusters")
        counts = _write_id_changes(ctx, ids.changes, run_id)
        rec.row_counts.update(new_records=n_new, touched_persons=touched.count(), records_reclustered=clusters.count(),
                              inserted=m.get("numTargetRowsInserted", 0), updated=m.get("numTargetRowsUpdated", 0),
                              persons_reclustered=ids.persons(), **counts)
        rec.output_versions = ctx.lake.versions([CLUSTERS.name, ID_CHANGES.name])
        ids.release()
        for df in (new, edges, touched, members, clusters, comps):
            df.unpersist()
    return rec.row_counts


# ---------------------------------------------------------------- marts

def run_marts(ctx: Ctx, run_id: str, *, touched_only: bool = False) -> dict[str, int]:
    """gold.person_profile (one row per person), then this run's slice of the overlap and targeting
    marts aggregated from it. A full run rebuilds every profile; an increment (`touched_only`)
    rewrites only the profiles of persons whose records it re-clustered (the gold.clusters rows it
    wrote) and deletes those of ids it merged away, so its profile work follows the batch; the
    marts are then aggregates of the narrow profile table."""
    done = _skip(ctx, run_id, "marts")
    if done:
        return done["row_counts"]
    with ledger.stage(ctx.lake, run_id, "marts") as rec:
        clusters = ctx.lake.read(CLUSTERS.name)
        persons = ctx.lake.read(PERSONS.name)
        incremental = touched_only and ctx.lake.exists(PERSON_PROFILE.name) and _profile_is_current(ctx, run_id)
        if incremental:
            # Run ids are time-ordered strings, so the file statistics on run_id skip every data file
            # of gold.clusters this run did not write.
            recs = clusters.where(F.col("run_id") == run_id).select("unique_id", "person_id").persist(
                StorageLevel.MEMORY_AND_DISK)
            n = recs.count()
            keys = F.broadcast(recs.select("unique_id")) if n <= BROADCAST_ROWS else recs.select("unique_id")
            rows = person_profile(recs, persons.join(keys, "unique_id", "left_semi")).withColumn("run_id", F.lit(run_id))
            m = ctx.lake.merge(rows, PERSON_PROFILE, ["person_id"])
            gone = (ctx.lake.read(ID_CHANGES.name).where((F.col("run_id") == run_id) & F.col("kind").isin("merged", "retired"))
                    .select(F.col("old_id").alias("person_id")).join(recs.select("person_id"), "person_id", "left_anti"))
            d = ctx.lake.delete_keys(gone, PERSON_PROFILE, ["person_id"])
            rec.row_counts.update(profiles_upserted=m.get("numTargetRowsInserted", 0) + m.get("numTargetRowsUpdated", 0),
                                  profiles_deleted=d.get("numTargetRowsDeleted", 0))
            recs.unpersist()
        else:
            m = ctx.lake.overwrite(person_profile(clusters, persons).withColumn("run_id", F.lit(run_id)), PERSON_PROFILE)
            rec.row_counts["profiles_written"] = m.get("numOutputRows", 0)
        profile = ctx.lake.read(PERSON_PROFILE.name).drop("run_id")
        ref = ctx.cfg.marts.reference_date or ctx.run_date
        m1 = ctx.lake.overwrite(overlap_by_region(profile, run_id, suppress_below=ctx.cfg.marts.suppress_below),
                                OVERLAP_BY_REGION, replace_where=slice_of(run_id=run_id))
        m2 = ctx.lake.overwrite(targeting(profile, run_id, desil=ctx.cfg.marts.targeting_desil,
                                          working_age=tuple(ctx.cfg.marts.working_age), reference_date=ref),
                                TARGETING, replace_where=slice_of(run_id=run_id))
        rec.output_versions = ctx.lake.versions([PERSON_PROFILE.name, OVERLAP_BY_REGION.name, TARGETING.name])
        totals = profile.agg(F.count("*").alias("persons"), F.sum(F.col("in_p3ke").cast("long")).alias("p3ke"),
                             F.sum(F.col("in_prakerja").cast("long")).alias("prakerja"),
                             F.sum((F.col("in_p3ke") & F.col("in_prakerja")).cast("long")).alias("both")).first()
        rec.row_counts.update(overlap_rows=m1.get("numOutputRows", 0), targeting_rows=m2.get("numOutputRows", 0),
                              persons=totals["persons"], persons_p3ke=totals["p3ke"] or 0,
                              persons_prakerja=totals["prakerja"] or 0, persons_both=totals["both"] or 0)
    return rec.row_counts


def _profile_is_current(ctx: Ctx, run_id: str) -> bool:
    """Whether gold.person_profile holds the state this increment builds on: the last run whose
    marts succeeded is in this run's chain (its base full run or an earlier increment). A retry of
    this run redoes the same upserts and deletes, so it ends where a first attempt would."""
    rows = (ctx.lake.read(RUNS.name).where((F.col("stage") == "marts") & (F.col("status") == "succeeded"))
            .orderBy(F.desc("finished_at")).select("run_id").limit(1).collect())
    return bool(rows) and rows[0][0] in run_chain(ctx, run_id)


def run_report_html(ctx: Ctx, run_id: str) -> str:
    """Write the run's self-contained HTML report, `<lake>/reports/<run_id>/report.html`; returns its
    path. Always rewritten (cheap): it shows whatever the tables hold now, e.g. a later evaluation."""
    with ledger.stage(ctx.lake, run_id, "report_html") as rec:
        path = write_run_report(ctx, run_id)
        rec.message = f"reports/{run_id}/report.html"
    return path


# ---------------------------------------------------------------- evaluation

def run_evaluate(ctx: Ctx, run_id: str, truth_path: str, thresholds: list[float] | None = None) -> list[dict]:
    """Accuracy of a run against a truth table (source, record_id, person_id; Parquet):
    pairwise at many thresholds with the best-F1 one marked, and cluster (pairwise and B-cubed)."""
    configured = ctx.cfg.link.threshold_match_probability
    thresholds = sorted({*(thresholds or [0.01, 0.1, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99, 0.999]), configured})
    truth = truth_as_unique_ids(ctx.spark.read.parquet(truth_path)).cache()
    # An increment's state is its base run's pairs plus every increment's since, and the clusters
    # as that run left them (time travel to the version its cluster stage wrote).
    pairs = ctx.lake.read(PAIRS.name).where(F.col("run_id").isin(run_chain(ctx, run_id)))
    curve = pair_metrics_by_threshold(pairs, truth, thresholds)
    best = max(curve, key=lambda r: r["f1"])
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    rows = [dict(run_id=run_id, evaluated_at=now, truth_path=truth_path, kind="pairwise", threshold=r["threshold"],
                 precision=r["precision"], recall=r["recall"], f1=r["f1"], predicted_pairs=r["predicted_pairs"],
                 true_pairs=r["true_pairs"], true_positive_pairs=r["true_positive_pairs"],
                 is_configured_threshold=r["threshold"] == configured, is_best_f1=r is best) for r in curve]
    done = ledger.succeeded(ctx.lake, run_id, "cluster")
    version = (done or {}).get("output_versions", {}).get(CLUSTERS.name)
    clusters = (ctx.lake.read(CLUSTERS.name, version=int(version)) if version is not None
                else ctx.lake.read(CLUSTERS.name).where(F.col("run_id") == run_id))
    cm = cluster_metrics(clusters, truth)
    rows.append(dict(run_id=run_id, evaluated_at=now, truth_path=truth_path, kind="cluster_pairwise", threshold=configured,
                     precision=cm.pairwise_precision, recall=cm.pairwise_recall, f1=cm.pairwise_f1,
                     predicted_pairs=cm.predicted_pairs, true_pairs=cm.true_pairs,
                     true_positive_pairs=cm.true_positive_pairs, is_configured_threshold=True, is_best_f1=False))
    rows.append(dict(run_id=run_id, evaluated_at=now, truth_path=truth_path, kind="cluster_bcubed", threshold=configured,
                     precision=cm.bcubed_precision, recall=cm.bcubed_recall, f1=cm.bcubed_f1, predicted_pairs=None,
                     true_pairs=None, true_positive_pairs=None, is_configured_threshold=True, is_best_f1=False))
    truth.unpersist()
    ctx.lake.overwrite(ctx.spark.createDataFrame(rows, EVALUATIONS.ddl), EVALUATIONS,
                       replace_where=slice_of(run_id=run_id))
    return rows


# ---------------------------------------------------------------- pipeline

@dataclass
class PipelineResult:
    run_id: str
    model_version: str
    ingest: list[IngestResult]
    pairs: int
    cluster: dict[str, int]
    marts: dict[str, int]


def run_pipeline(ctx: Ctx, *, train: bool = False, sources: list[str] | None = None) -> PipelineResult:
    """ingest -> standardise -> (train) -> predict -> cluster -> marts."""
    results = [run_ingest(ctx, s) for s in (sources or sorted(ctx.cfg.sources))]
    if train or not list_versions(ctx.lake):
        version = run_train(ctx)
        if ctx.cfg.link.model_version != "latest" and not train:
            version = resolve_version(ctx.lake, ctx.cfg.link.model_version)
    else:
        version = resolve_version(ctx.lake, ctx.cfg.link.model_version)
    run_id = link_run_id(ctx, version)
    pairs = run_predict(ctx, run_id, version)
    cluster = run_cluster(ctx, run_id)
    run_cluster_thresholds(ctx, run_id)
    marts = run_marts(ctx, run_id)
    return PipelineResult(run_id, version, results, pairs, cluster, marts)
