"""`padan explain`: the waterfall of one scored pair, read back from gold.pairs."""

from __future__ import annotations

import math

from pyspark.sql import functions as F

from padan.errors import PadanError
from padan.lake import Lake
from padan.tables import MODEL_PARAMS, PAIRS


def explain_pair(lake: Lake, id_l: str, id_r: str, run_id: str | None = None) -> str:
    a, b = sorted([id_l, id_r])
    pairs = lake.read(PAIRS.name).where((F.col("unique_id_l") == a) & (F.col("unique_id_r") == b))
    if run_id:
        pairs = pairs.where(F.col("run_id") == run_id)
    rows = pairs.orderBy(F.desc("run_id")).limit(1).collect()
    if not rows:
        raise PadanError(f"pair ({a}, {b}) is not in gold.pairs" + (f" for run {run_id}" if run_id else "")
                         + " (it was not blocked together, or scored below link.min_pair_probability)")
    pair = rows[0]
    params = {(r.comparison, r.level): (r.label, r.prior) for r in
              lake.read(MODEL_PARAMS.name).where(F.col("model_version") == pair.model_version).collect()}
    prior = next(iter(params.values()))[1] if params else None
    lines = [f"pair {a}  <->  {b}", f"run {pair.run_id}, model {pair.model_version}", ""]
    total = 0.0
    if prior:
        prior_w = math.log2(prior / (1 - prior))
        total += prior_w
        lines.append(f"  {'prior':<12} {'':<40} {prior_w:+8.2f}   {total:+8.2f}")
    for comp, gamma in pair.gammas.items():
        w = pair.weights.get(comp) or 0.0
        total += w
        label = params.get((comp, gamma), ("?", None))[0] or ""
        lines.append(f"  {comp:<12} {f'[{gamma}] {label}'[:40]:<40} {w:+8.2f}   {total:+8.2f}")
    lines += ["", f"  match weight {pair.match_weight:+.2f}   match probability {pair.match_probability:.4f}"]
    return "\n".join(lines)
