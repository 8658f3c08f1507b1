"""Deterministic pseudo-random numbers as vectorised hashes of identifiers.

Every random value is a 64-bit hash (splitmix64 finaliser, chained over the keys) of a tag derived
from (seed, stream, purpose) and of row-level keys (a row number, a household id, ...). So a value
depends only on the seed and the row's identity -- never on partitioning, batch size, task order or
the number of cores -- and a person can be rebuilt anywhere (in P3KE, in Prakerja, as somebody's
family member) from their identifiers alone. All functions take and return numpy arrays.
"""

from __future__ import annotations

import hashlib
from typing import Sequence

import numpy as np
import pyarrow as pa

from padan_synth import vx

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLD = np.uint64(0x9E3779B97F4A7C15)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
_TWO53 = float(1 << 53)


def _mix(z: np.ndarray) -> np.ndarray:
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


def _key(k) -> np.ndarray:
    return np.asarray(k).astype(np.int64, copy=False).view(np.uint64) if isinstance(k, np.ndarray) \
        else np.asarray(np.int64(k)).view(np.uint64)


class Rng:
    """Random values for one stream ('world', 'p3ke', ...) of one seed."""

    def __init__(self, seed: int, stream: str):
        self.seed, self.stream = int(seed), stream
        self._tags: dict[str, np.uint64] = {}

    def tag(self, purpose: str) -> np.uint64:
        t = self._tags.get(purpose)
        if t is None:
            digest = hashlib.blake2b(f"{self.seed}|{self.stream}|{purpose}".encode(), digest_size=8).digest()
            t = self._tags[purpose] = np.uint64(int.from_bytes(digest, "little"))
        return t

    def hash(self, purpose: str, *keys) -> np.ndarray:
        with np.errstate(over="ignore"):
            h = np.full(np.broadcast(*[np.asarray(k) for k in keys]).shape, self.tag(purpose), dtype=np.uint64)
            for k in keys:
                h = _mix(h + _GOLD + _key(k))
        return h

    def u(self, purpose: str, *keys) -> np.ndarray:
        """Uniform double in [0, 1)."""
        return (self.hash(purpose, *keys) >> _S11).astype(np.float64) / _TWO53

    def int(self, purpose: str, n, *keys) -> np.ndarray:
        """Uniform int in [0, n) (n a number or an array)."""
        return (self.u(purpose, *keys) * n).astype(np.int64)      # truncation: floor of a non-negative

    def pick(self, values: Sequence[str] | pa.Array, purpose: str, *keys) -> pa.Array:
        """A uniformly random element (lists expanded by weight pick by frequency)."""
        return vx.take(values, self.int(purpose, len(values), *keys))

    def chance(self, p, purpose: str, *keys) -> np.ndarray:
        return self.u(purpose, *keys) < p

    def category(self, weights: Sequence[tuple[int, float]], purpose: str, *keys) -> np.ndarray:
        """An int value drawn with the given (value, probability) pairs (the last takes the rest)."""
        u = self.u(purpose, *keys)
        cum = np.cumsum([p for _, p in weights[:-1]])
        return np.asarray([v for v, _ in weights], dtype=np.int64)[np.searchsorted(cum, u, side="right")]
