"""padan's model config -> Splink 5 settings (a plain settings dict, Splink's own JSON format)."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Iterable

from padan.config import ModelConfig
from padan.tables import PERSONS, column_names

PERSON_COLUMNS = column_names(PERSONS.ddl)


def comparison_dicts(model: ModelConfig) -> list[dict[str, Any]]:
    out = []
    for comp in model.comparisons:
        levels = []
        for lvl in comp.levels:
            d: dict[str, Any] = {}
            if lvl.is_else:
                d["sql_condition"] = "ELSE"
                d["label_for_charts"] = lvl.label or "All other comparisons"
            else:
                d["sql_condition"] = lvl.sql
                d["label_for_charts"] = lvl.label or ("Null" if lvl.is_null else lvl.sql)
            if lvl.is_null:
                d["is_null_level"] = True
            if lvl.tf:
                d["tf_adjustment_column"] = lvl.tf
                d["tf_adjustment_weight"] = lvl.tf_weight
            levels.append(d)
        out.append({"output_column_name": comp.name, "comparison_description": comp.description or comp.name,
                    "comparison_levels": levels})
    return out


def untrained_settings(model: ModelConfig, *, blocking_rules: Iterable[str] | None = None) -> dict[str, Any]:
    """The settings dict before training (no m/u)."""
    return {
        "link_type": model.link_type,
        "unique_id_column_name": "unique_id",
        "source_dataset_column_name": "source_dataset",
        "comparisons": comparison_dicts(model),
        "blocking_rules_to_generate_predictions": [
            {"blocking_rule": r, "sql_dialect": "spark"} for r in (blocking_rules or model.blocking_rules)],
        # Splink 5 emits gamma_* only with the matching columns; padan drops those (personal data)
        # before anything is written and keeps the gammas and per-comparison weights.
        "retain_matching_columns": True,
        "retain_intermediate_calculation_columns": True,
        "additional_columns_to_retain": [],
        "em_convergence": 0.0001,
        "max_iterations": model.training.em_max_iterations,
        "probability_two_random_records_match": 0.0001,
    }


def model_columns(model: ModelConfig, extra_rules: Iterable[str] = ()) -> list[str]:
    """silver.persons columns the model reads (comparisons, blocking and training rules)."""
    texts = [json.dumps(comparison_dicts(model)), *model.blocking_rules, *model.training.prior_rules,
             *model.training.em_blocking_rules, *extra_rules]
    blob = "\n".join(texts)
    used = []
    for col in PERSON_COLUMNS:
        if re.search(rf"\b(?:{col}_[lr]|[lr]\.{col})\b", blob):
            used.append(col)
    return ["unique_id", *[c for c in used if c != "unique_id"]]


def settings_fingerprint(settings: dict[str, Any]) -> str:
    """Hash of the model's structure (comparisons and rules, not parameters)."""
    shape = {k: settings.get(k) for k in ("link_type", "blocking_rules_to_generate_predictions")}
    shape["comparisons"] = [
        {"name": c["output_column_name"],
         "levels": [{k: v for k, v in lvl.items() if k not in ("m_probability", "u_probability", "tf_minimum_u_value")}
                    for lvl in c["comparison_levels"]]}
        for c in settings["comparisons"]]
    return hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()[:8]


def model_columns_from_settings(settings: dict[str, Any]) -> list[str]:
    """silver.persons columns a trained settings dict reads."""
    blob = json.dumps({k: settings.get(k) for k in ("comparisons", "blocking_rules_to_generate_predictions")})
    used = [c for c in PERSON_COLUMNS if re.search(rf"\b(?:{c}_[lr]|[lr]\.{c})\b", blob)]
    return ["unique_id", *[c for c in used if c != "unique_id"]]


def with_rule_columns(settings: dict[str, Any], rules: list[str]) -> dict[str, Any]:
    """`settings` whose column list (`model_columns_from_settings`) also holds the columns `rules`
    read: training rules (prior, EM sessions) may use columns no comparison or prediction rule
    does (e.g. `name_clean` in a model that compares given and family names)."""
    out = dict(settings)
    out["blocking_rules_to_generate_predictions"] = [
        *settings.get("blocking_rules_to_generate_predictions", []),
        *[{"blocking_rule": r, "sql_dialect": "spark"} for r in rules]]
    return out
