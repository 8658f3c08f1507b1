"""Deterministic pseudo-random numbers as Spark SQL expressions.

Every random value is `xxhash64(tag, key...)` where `tag` is a 64-bit number derived on the driver
from (seed, stream, purpose) and `key` are row-level columns (a row number, a household id, ...).
So a value depends only on the seed and the row's identity -- never on partitioning, task order or
the number of cores -- and no Python runs on the executors.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Sequence

from padan.synth import sqlx as F
from padan.synth.sqlx import X

_TWO53 = float(1 << 53)
_ARRAYS: "OrderedDict[int, tuple[Sequence, X]]" = OrderedDict()
_MAX_CACHED = 512   # per-run arrays (block templates) would otherwise pile up in a long session


CONSTANTS: "OrderedDict[str, str]" = OrderedDict()   # column name -> SQL of a constant array


def lit_array(values: Sequence) -> X:
    """A constant array, as a reference to a constant column `_k_<digest>` (see `world.Plan`, which
    defines the column once per query; the optimizer folds it into every use). Writing the array
    itself at every use would repeat kilobytes of SQL text for the parser and analyser."""
    hit = _ARRAYS.get(id(values))
    if hit is not None and hit[0] is values and hit[1].sql.strip("`") in CONSTANTS:
        _ARRAYS.move_to_end(id(values))
        CONSTANTS.move_to_end(hit[1].sql.strip("`"))
        return hit[1]
    sql = F.array_literal(values).sql
    name = "_k_" + hashlib.blake2b(sql.encode(), digest_size=8).hexdigest()
    CONSTANTS[name] = sql
    CONSTANTS.move_to_end(name)
    arr = F.col(name)
    if isinstance(values, (list, tuple)):
        _ARRAYS[id(values)] = (values, arr)
    while len(_ARRAYS) > _MAX_CACHED:
        _ARRAYS.popitem(last=False)
    while len(CONSTANTS) > _MAX_CACHED:
        CONSTANTS.popitem(last=False)
    return arr


def at(values: Sequence | X, index: X) -> X:
    """values[index] (0-based), null when out of range."""
    arr = values if isinstance(values, X) else lit_array(values)
    return F.get(arr, index.cast("INT"))


SEED_COLUMN = "p_seed"


class Rng:
    """Random values for one stream ('world', 'p3ke', ...). The seed enters as a column (see
    `world.Plan`), not as a literal, so the generated code is the same for every seed and Spark's
    code cache compiles it once per JVM; `fixed_seed` makes a stream independent of the seed."""

    def __init__(self, stream: str, fixed_seed: int | None = None):
        self.stream = stream
        self.seed_sql = F.col(SEED_COLUMN) if fixed_seed is None else X(f"{int(fixed_seed)}L")

    def tag(self, purpose: str) -> int:
        digest = hashlib.blake2b(f"{self.stream}|{purpose}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "little", signed=True)

    def hash(self, purpose: str, *keys: X) -> X:
        return F.xxhash64(self.seed_sql, X(f"{self.tag(purpose)}L"), *keys)

    def u(self, purpose: str, *keys: X) -> X:
        """Uniform double in [0, 1)."""
        return X(f"(CAST(shiftrightunsigned({self.hash(purpose, *keys).sql}, 11) AS DOUBLE) / {_TWO53!r}D)")

    def int(self, purpose: str, n: int | X, *keys: X) -> X:
        """Uniform int in [0, n)."""
        n_sql = n.sql if isinstance(n, X) else str(int(n))
        return X(f"CAST(FLOOR({self.u(purpose, *keys).sql} * {n_sql}) AS INT)")

    def pick(self, values: Sequence, purpose: str, *keys: X) -> X:
        """A uniformly random element (lists expanded by weight pick by frequency)."""
        return at(values, self.int(purpose, len(values), *keys))

    def chance(self, p: float | X, purpose: str, *keys: X) -> X:
        return self.u(purpose, *keys) < p

    def category(self, weights: Sequence[tuple[object, float]], purpose: str, *keys: X) -> X:
        """A value drawn with the given (value, probability) pairs (the last value takes the rest)."""
        u = self.u(purpose, *keys)
        cum = 0.0
        expr = None
        for value, p in weights[:-1]:
            cum += p
            expr = F.when(u < cum, value) if expr is None else expr.when(u < cum, value)
        last = F.lit(weights[-1][0])
        return last if expr is None else expr.otherwise(last)
