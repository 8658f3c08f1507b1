"""The pinned test model (tests/fixtures/model/) and the export/import that carries it.

Most integration tests score with this committed model instead of training one; these tests keep
it honest: it must have the structure conf/base/model.yml declares (or the tests would score with
a stale model), and a model exported from one lake and imported into another is the same model.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from pyspark.sql import functions as F

from padan import config
from padan.lake import Lake
from padan.model.settings import settings_fingerprint, untrained_settings
from padan.model.store import export_model, list_versions, load_model
from tests.conftest import REPO, TEST_MODEL_DIR, install_test_model


def _pinned() -> tuple[Path, dict]:
    (path,) = TEST_MODEL_DIR.glob("*.json")
    return path, json.loads(path.read_text())


def test_pinned_model_has_the_configured_structure():
    cfg = config.load(env="base", conf_dir=REPO / "conf")
    path, doc = _pinned()
    doc.pop("padan")
    assert path.stem.endswith(settings_fingerprint(doc))
    # Training adds only parameters and Splink's fix_* flags to the configured levels.
    shape = {**doc, "comparisons": [
        {**c, "comparison_levels": [{k: v for k, v in lvl.items() if not k.startswith("fix_")}
                                    for lvl in c["comparison_levels"]]} for c in doc["comparisons"]]}
    assert settings_fingerprint(shape) == settings_fingerprint(untrained_settings(cfg.model)), (
        "conf/base/model.yml changed: rerun scripts/make_test_model.py and commit tests/fixtures/model/")
    trained = [lvl for c in doc["comparisons"] for lvl in c["comparison_levels"] if not lvl.get("is_null_level")]
    assert all(lvl.get("m_probability") is not None and lvl.get("u_probability") for lvl in trained)


def test_exported_and_imported_model_is_the_same_model(spark, tmp_path):
    lake = Lake(spark, str(tmp_path / "lake"))
    version = install_test_model(lake)
    path, doc = _pinned()
    assert list_versions(lake) == [version] == [path.stem]
    doc.pop("padan")
    assert load_model(lake, version) == doc
    params = lake.read("gold.model_params").where(F.col("model_version") == version)
    levels = sum(len(c["comparison_levels"]) for c in doc["comparisons"])
    assert params.count() == levels
    json_out, tf_out = export_model(lake, version, str(tmp_path / "out"))
    assert Path(json_out).read_text() == path.read_text()
    with open(tf_out, encoding="utf-8") as a, open(path.with_name(f"{version}.tf.csv"), encoding="utf-8") as b:
        exported, pinned = list(csv.reader(a)), list(csv.reader(b))
    assert len(pinned) > 100 and sorted(exported) == sorted(pinned)
