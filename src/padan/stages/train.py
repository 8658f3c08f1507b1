"""The train stage: a new model version from silver.persons."""

from __future__ import annotations

import hashlib
import json
import logging

from padan import ledger, nik_labels
from padan.ledger import StageRecord
from padan.model.settings import settings_fingerprint, untrained_settings
from padan.model.store import save_model
from padan.model.tf import save_tf
from padan.model.train import TRAINING_REVISION, train_model
from padan.stages.plan import silver_batches
from padan.stages.runner import Ctx, Stage, run_stage
from padan.tables import MODEL_PARAMS, MODEL_TF, PERSONS

logger = logging.getLogger(__name__)

TRAIN = Stage("train", (PERSONS.name,), (MODEL_PARAMS.name, MODEL_TF.name),
              "prior, u and m (NIK-anchored labels or EM) on pattern counts; a new model version",
              files=("models/<version>.json",))


def run_train(ctx: Ctx, *, m_method: str | None = None) -> str:
    """Train on silver.persons and save a new model version (skipped if this exact training already ran)."""
    model_cfg = ctx.cfg.model
    m_method = m_method or model_cfg.training.m_method
    key_src = json.dumps({"batches": silver_batches(ctx), "model": model_cfg.model_dump(mode="json"),
                          "m_method": m_method, "revision": TRAINING_REVISION}, sort_keys=True)
    run_id = "train-" + hashlib.sha256(key_src.encode()).hexdigest()[:16]

    def body(rec: StageRecord) -> str:
        persons = ctx.lake.read(PERSONS.name)
        rec.input_versions = ctx.lake.versions([PERSONS.name])
        nik_labels.check(persons, m_method)   # a register without NIK stops here, before any training job
        result = train_model(ctx.spark, persons, model_cfg, break_lineage_method=ctx.cfg.spark.break_lineage_method,
                             m_method=m_method)
        version = save_model(ctx.lake, result.settings, result.m_method, block_size_cap=model_cfg.block_size_cap)
        tf_counts = save_tf(ctx.lake, version, persons, result.settings)
        rec.row_counts.update({f"tf_values_{k}": v for k, v in tf_counts.items()})
        rec.row_counts.update({f"label_pairs_{k}": v for k, v in result.label_pairs.items()})
        rec.row_counts.update({f"ms_{k}": int(1000 * v) for k, v in result.seconds.items()})
        rec.model_version = version
        rec.message = f"model_version={version}"
        logger.info("model version %s saved (structure %s)", version,
                    settings_fingerprint(untrained_settings(model_cfg)))
        return version

    return run_stage(ctx, TRAIN, run_id, body, done=ledger.model_version_of)
