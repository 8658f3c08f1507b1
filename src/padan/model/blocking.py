"""Pair budget before a run: the candidate pairs each prediction blocking rule adds."""

from __future__ import annotations

from padan.config import ModelConfig
from padan.link import engine
from padan.model.settings import untrained_settings
from padan.tables import PERSONS


def count_comparisons(ctx, model: ModelConfig) -> list[tuple[str, int]]:
    """(rule, marginal comparisons: pairs this rule adds beyond the earlier rules), counted by
    padan's engine over the very candidate pairs predict scores (one aggregate; tests check the
    counts equal Splink's `count_comparisons_from_blocking_rules`), under the model's block-size cap
    (`model.block_size_cap`) when it has one."""
    counts = engine.candidate_counts(ctx.spark, ctx.lake.read(PERSONS.name), untrained_settings(model),
                                     block_size_cap=model.block_size_cap)
    return list(zip(model.blocking_rules, counts))


__all__ = ["count_comparisons", "untrained_settings"]
