"""Deterministic pseudo-random numbers as Spark SQL expressions.

Every random value is `xxhash64(tag, key...)` where `tag` is a 64-bit number derived on the driver
from (seed, stream, purpose) and `key` are row-level columns (a row number, a household id, ...).
So a value depends only on the seed and the row's identity -- never on partitioning, task order or
the number of cores -- and no Python runs on the executors.
"""

from __future__ import annotations

import hashlib
from typing import Sequence

from pyspark.sql import Column
from pyspark.sql import functions as F

_TWO53 = float(1 << 53)


def lit_array(values: Sequence) -> Column:
    """One array literal (not an array of literals): compact in plans and generated code."""
    return F.lit(list(values))


def at(values: Sequence | Column, index: Column) -> Column:
    """values[index] (0-based), null when out of range."""
    arr = values if isinstance(values, Column) else lit_array(values)
    return F.get(arr, index.cast("int"))


class Rng:
    def __init__(self, seed: int, stream: str):
        self.seed = int(seed)
        self.stream = stream

    def tag(self, purpose: str) -> int:
        digest = hashlib.blake2b(f"{self.seed}|{self.stream}|{purpose}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "little", signed=True)

    def hash(self, purpose: str, *keys: Column) -> Column:
        return F.xxhash64(F.lit(self.tag(purpose)).cast("long"), *keys)

    def u(self, purpose: str, *keys: Column) -> Column:
        """Uniform double in [0, 1)."""
        return F.shiftrightunsigned(self.hash(purpose, *keys), 11).cast("double") / F.lit(_TWO53)

    def int(self, purpose: str, n: int | Column, *keys: Column) -> Column:
        """Uniform int in [0, n)."""
        n_col = n if isinstance(n, Column) else F.lit(int(n))
        return F.floor(self.u(purpose, *keys) * n_col).cast("int")

    def pick(self, values: Sequence, purpose: str, *keys: Column) -> Column:
        """A uniformly random element (lists expanded by weight pick by frequency)."""
        return at(values, self.int(purpose, len(values), *keys))

    def chance(self, p: float | Column, purpose: str, *keys: Column) -> Column:
        p_col = p if isinstance(p, Column) else F.lit(float(p))
        return self.u(purpose, *keys) < p_col

    def category(self, weights: Sequence[tuple[object, float]], purpose: str, *keys: Column) -> Column:
        """A value drawn with the given (value, probability) pairs (probabilities need not sum to 1:
        the last value takes the rest)."""
        u = self.u(purpose, *keys)
        cum = 0.0
        expr = None
        for value, p in weights[:-1]:
            cum += p
            expr = (F.when(u < cum, F.lit(value)) if expr is None else expr.when(u < cum, F.lit(value)))
        last = F.lit(weights[-1][0])
        return last if expr is None else expr.otherwise(last)
