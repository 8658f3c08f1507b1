"""The predict stage: score the candidate pairs of the blocking rules into gold.pairs."""

from __future__ import annotations

from padan.ledger import StageRecord
from padan.lake import slice_of
from padan.link import engine
from padan.link.predict import predict_increment, predict_pairs, to_pairs_rows
from padan.errors import ConfigError
from padan.model.store import load_model, model_block_size_cap
from padan.model.tf import load_tf, release_tf
from padan.stages.ingest import batch_filter
from padan.stages.runner import Ctx, Stage, run_stage
from padan.tables import MODEL_TF, PAIRS, PERSONS


PREDICT = Stage("predict", (PERSONS.name, MODEL_TF.name, "models/<version>.json"), (PAIRS.name,),
                "candidate pairs of the blocking rules, scored in one plan (the run's slice)")


def run_predict(ctx: Ctx, run_id: str, model_version: str, *, batch: tuple[str, str] | None = None) -> int:
    """Score pairs into gold.pairs (this run's slice): all pairs of silver.persons, or with `batch`
    (source, batch id) only the pairs that batch's records add (an increment)."""
    if ctx.cfg.link.engine == "padan":
        score_all, score_increment = engine.predict_pairs, engine.predict_increment
    else:
        score_all, score_increment = predict_pairs, predict_increment

    def body(rec: StageRecord) -> int:
        settings = load_model(ctx.lake, model_version)
        persons = ctx.lake.read(PERSONS.name)
        rec.input_versions = ctx.lake.versions([PERSONS.name])
        tf = load_tf(ctx.lake, model_version, settings, persons)
        kw = dict(min_probability=ctx.cfg.link.min_pair_probability, tf_tables=tf,
                  break_lineage_method=ctx.cfg.spark.break_lineage_method)
        cap = model_block_size_cap(ctx.lake, model_version)
        if cap is not None:
            if ctx.cfg.link.engine != "padan":
                raise ConfigError(f"model version {model_version} has a block-size cap ({cap}), which only "
                                  "padan's engine applies: set link.engine: padan")
            kw["block_size_cap"] = cap
        if batch is None:
            scored = score_all(ctx.spark, persons, settings, **kw)
        else:
            is_new = batch_filter(*batch)
            new = persons.where(is_new)
            n_new = new.count()
            rec.row_counts["new_records"] = n_new
            scored = score_increment(ctx.spark, persons.where(~is_new), new, settings, n_new=n_new,
                                     stats=rec.row_counts, **kw)
        rows = (ctx.spark.createDataFrame([], PAIRS.ddl) if scored is None
                else to_pairs_rows(scored, settings, run_id=run_id, model_version=model_version))
        m = ctx.lake.overwrite(rows, PAIRS, replace_where=slice_of(run_id=run_id))
        release_tf(ctx.lake, model_version)     # the frequencies a train in this process left cached
        rec.row_counts["pairs"] = m.get("numOutputRows", 0)
        rec.model_version = model_version
        rec.message = f"model_version={model_version}"
        return rec.row_counts["pairs"]

    return run_stage(ctx, PREDICT, run_id, body, done=lambda row: row["row_counts"].get("pairs", 0),
                     batch_id=batch[1] if batch else None)
