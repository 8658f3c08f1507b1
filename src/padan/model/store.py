"""Model versions: JSON under the lake's `models/`, parameters as rows of `gold.model_params`."""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

from pyspark.sql import functions as F

from padan.errors import ModelError
from padan.lake import Lake, slice_of
from padan.model.settings import settings_fingerprint
from padan.tables import MODEL_PARAMS, MODEL_TF


def new_version(settings: dict[str, Any], now: dt.datetime | None = None) -> str:
    now = now or dt.datetime.now(dt.timezone.utc)
    return f"{now:%Y%m%dT%H%M%S}-{settings_fingerprint(settings)}"


def param_rows(settings: dict[str, Any], version: str, m_method: str, trained_at: dt.datetime) -> list[dict]:
    prior = settings.get("probability_two_random_records_match")
    rows = []
    for comp in settings["comparisons"]:
        levels = comp["comparison_levels"]
        non_null = [lvl for lvl in levels if not lvl.get("is_null_level")]
        for i, lvl in enumerate(levels):
            if lvl.get("is_null_level"):
                gamma = -1
            else:
                gamma = len(non_null) - 1 - non_null.index(lvl)
            m, u = lvl.get("m_probability"), lvl.get("u_probability")
            bf = m / u if (m is not None and u) else None
            rows.append({
                "model_version": version, "comparison": comp["output_column_name"], "level": gamma,
                "label": lvl.get("label_for_charts"), "m_probability": m, "u_probability": u,
                "bayes_factor": bf, "match_weight": math.log2(bf) if bf else None, "prior": prior,
                "trained_at": trained_at, "m_method": m_method,
            })
    return rows


def save_model(lake: Lake, settings: dict[str, Any], m_method: str, version: str | None = None, *,
               block_size_cap: int | None = None) -> str:
    """Write models/<version>.json and the version's rows of gold.model_params. Returns the version.
    `block_size_cap` (model.block_size_cap) goes into the JSON's `padan` part, beside the version's
    metadata: Splink's settings stay as Splink writes and reads them."""
    trained_at = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    version = version or new_version(settings)
    doc = dict(settings)
    doc["padan"] = {"model_version": version, "m_method": m_method, "trained_at": trained_at.isoformat()}
    if block_size_cap is not None:
        doc["padan"]["block_size_cap"] = int(block_size_cap)
    lake.write_bytes(f"models/{version}.json", json.dumps(doc, indent=2, sort_keys=True).encode())
    rows = param_rows(settings, version, m_method, trained_at)
    df = lake.spark.createDataFrame(rows, schema=MODEL_PARAMS.ddl)
    lake.overwrite(df, MODEL_PARAMS, replace_where=slice_of(model_version=version))
    return version


def list_versions(lake: Lake) -> list[str]:
    return sorted(n[:-5] for n in lake.list_dir("models") if n.endswith(".json"))


def resolve_version(lake: Lake, pinned: str) -> str:
    versions = list_versions(lake)
    if pinned == "latest":
        if not versions:
            raise ModelError("no trained model in the lake's models/: run `padan train` first")
        return versions[-1]
    if pinned not in versions:
        raise ModelError(f"model version '{pinned}' (link.model_version) is not in the lake's models/; "
                         f"available: {versions[-5:]}")
    return pinned


def _model_doc(lake: Lake, version: str) -> dict[str, Any]:
    """models/<version>.json as written by `save_model`: Splink's settings and padan's part."""
    text = lake.read_text(f"models/{version}.json")
    if text is None:
        raise ModelError(f"model version '{version}' not found in the lake's models/")
    return json.loads(text)


def load_model(lake: Lake, version: str) -> dict[str, Any]:
    doc = _model_doc(lake, version)
    doc.pop("padan", None)
    return doc


def model_block_size_cap(lake: Lake, version: str) -> int | None:
    """The block-size cap a model version was trained with (None: no cap, as every version saved
    before the setting existed)."""
    cap = (_model_doc(lake, version).get("padan") or {}).get("block_size_cap")
    return None if cap is None else int(cap)


def copy_model(src: Lake, dst: Lake, version: str) -> None:
    """Copy one model version (JSON, parameters, pinned term frequencies) from one lake to another,
    e.g. from a tuning lake to production, so both score every pair the same."""
    text = src.read_text(f"models/{version}.json")
    if text is None:
        raise ModelError(f"model version '{version}' not found in the source lake's models/")
    dst.write_bytes(f"models/{version}.json", text.encode())
    for spec in (MODEL_PARAMS, MODEL_TF):
        rows = src.read(spec.name).where(F.col("model_version") == version)
        dst.overwrite(rows, spec, replace_where=slice_of(model_version=version), quiet=True)


def export_model(lake: Lake, version: str, folder: str) -> tuple[str, str]:
    """Write one model version as two files a reviewer can read and a repository can hold:
    `<version>.json` (the Splink settings with m and u) and `<version>.tf.csv` (its pinned term
    frequencies: column_name, value, tf). Note the frequencies hold values of the compared columns
    (names): keep the files where the training data may be kept."""
    text = lake.read_text(f"models/{version}.json")
    if text is None:
        raise ModelError(f"model version '{version}' not found in the lake's models/")
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{version}.json").write_text(text)
    rows = (lake.read(MODEL_TF.name).where(F.col("model_version") == version)
            .select("column_name", "value", "tf").orderBy("column_name", "value").collect())
    with open(out / f"{version}.tf.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["column_name", "value", "tf"])
        writer.writerows([r["column_name"], r["value"], repr(r["tf"])] for r in rows)
    return str(out / f"{version}.json"), str(out / f"{version}.tf.csv")


def import_model(lake: Lake, json_path: str) -> str:
    """Install a model exported by `export_model` (`<version>.json` beside `<version>.tf.csv`) into
    `lake`: its JSON, gold.model_params rows and gold.model_tf rows, under the same version, so it
    scores every pair as it did where it was trained. Returns the version."""
    path = Path(json_path)
    doc = json.loads(path.read_text())
    meta = doc.get("padan") or {}
    version = meta.get("model_version") or path.stem
    lake.write_bytes(f"models/{version}.json", path.read_text().encode())
    trained_at = dt.datetime.fromisoformat(meta["trained_at"]) if meta.get("trained_at") else None
    settings = {k: v for k, v in doc.items() if k != "padan"}
    rows = param_rows(settings, version, meta.get("m_method", "imported"), trained_at)
    lake.overwrite(lake.spark.createDataFrame(rows, schema=MODEL_PARAMS.ddl), MODEL_PARAMS,
                   replace_where=slice_of(model_version=version), quiet=True)
    tf_path = path.with_name(f"{version}.tf.csv")
    with open(tf_path, newline="", encoding="utf-8") as fh:
        tf_rows = [(version, r["column_name"], r["value"], float(r["tf"])) for r in csv.DictReader(fh)]
    lake.overwrite(lake.spark.createDataFrame(tf_rows, schema=MODEL_TF.ddl), MODEL_TF,
                   replace_where=slice_of(model_version=version), quiet=True)
    return version
