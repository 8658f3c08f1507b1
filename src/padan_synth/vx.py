"""Vectorised helpers for the generator: numpy for numbers and dates, pyarrow for strings.

Every function works on whole arrays (one partition's batch of rows); none loops over rows in
Python. Dates are numpy ``datetime64[D]``; strings are pyarrow ``StringArray``s (null = missing);
"missing" integers use a sentinel given by the caller.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

STR = pa.string()


# ---------------------------------------------------------------- strings

def const(value: str | None, n: int) -> pa.Array:
    return pa.nulls(n, STR) if value is None else pa.array(np.full(n, value, dtype=object), STR)


@lru_cache(maxsize=None)
def table(values: tuple) -> pa.Array:
    """A constant string array (cached per tuple of values) to take from."""
    return pa.array(list(values), STR)


def take(values: Sequence[str] | pa.Array, idx: np.ndarray) -> pa.Array:
    arr = values if isinstance(values, pa.Array) else table(tuple(values))
    return arr.take(pa.array(np.asarray(idx, dtype=np.int64)))


def _scalar(v):
    return pa.scalar(v, STR) if v is None or isinstance(v, str) else v


def where(mask: np.ndarray, a, b) -> pa.Array:
    """a where mask else b (a, b: string arrays, or a str / None for every row)."""
    if isinstance(a, (str, type(None))) and isinstance(b, (str, type(None))):
        return take(table((a, b)), np.where(mask, 0, 1))
    return pc.if_else(pa.array(np.asarray(mask, dtype=bool)), _scalar(a), _scalar(b))


def cat(*parts) -> pa.Array:
    """concat: null when any part is null."""
    if len(parts) == 1:
        return parts[0]
    return pc.binary_join_element_wise(*[_scalar(p) for p in parts], "")


def cat_ws(sep: str, *parts) -> pa.Array:
    """concat_ws: nulls skipped."""
    n = next(len(p) for p in parts if not (p is None or isinstance(p, str)))
    arrs = [_scalar(p) for p in parts if p is not None]
    if all(isinstance(p, pa.Scalar) for p in arrs):
        arrs[0] = const(arrs[0].as_py(), n)
    # (binary_join_element_wise with null_handling="skip" drops rows whose parts are all null in
    # pyarrow 26, so the parts are joined pairwise)
    acc = arrs[0]
    for p in arrs[1:]:
        acc = pc.coalesce(pc.binary_join_element_wise(acc, p, sep), acc, p)
    return pc.fill_null(acc, "")


def itos(x: np.ndarray) -> pa.Array:
    return pc.cast(pa.array(np.asarray(x, dtype=np.int64)), STR)


def lpad(x, width: int) -> pa.Array:
    s = x if isinstance(x, pa.Array) else itos(x)
    return pc.utf8_lpad(s, width=width, padding="0")


def eq(a: pa.Array, value: str) -> np.ndarray:
    return pc.fill_null(pc.equal(a, value), False).to_numpy(zero_copy_only=False)


def length(a: pa.Array) -> np.ndarray:
    return pc.fill_null(pc.utf8_length(a), 0).to_numpy(zero_copy_only=False).astype(np.int64)


def is_null(a: pa.Array) -> np.ndarray:
    return pc.is_null(a).to_numpy(zero_copy_only=False)


def sub(a: pa.Array, idx: np.ndarray) -> pa.Array:
    return a.take(pa.array(np.asarray(idx, dtype=np.int64)))


def scatter(base: pa.Array, idx: np.ndarray, values: pa.Array) -> pa.Array:
    """base with rows idx replaced by values."""
    if len(idx) == 0:
        return base
    order = np.arange(len(base), dtype=np.int64)
    order[idx] = len(base) + np.arange(len(idx), dtype=np.int64)
    return pa.concat_arrays([base, values.cast(base.type)]).take(pa.array(order))


def regex(a: pa.Array, pattern: str, replacement: str) -> pa.Array:
    return pc.replace_substring_regex(a, pattern=pattern, replacement=replacement)


def lower(a: pa.Array) -> pa.Array:
    return pc.utf8_lower(a)


def upper(a: pa.Array) -> pa.Array:
    return pc.utf8_upper(a)


# ---------------------------------------------------------------- strings as byte matrices (ASCII)

def to_mat(a: pa.Array, width: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 matrix rows x width, lengths) of an ASCII string array (nulls as "")."""
    a = pc.fill_null(a, "")
    if isinstance(a, pa.ChunkedArray):
        a = a.combine_chunks()
    a = a.cast(STR)
    n = len(a)
    offsets = np.frombuffer(a.buffers()[1], dtype=np.int32, count=n + 1 + a.offset)[a.offset:].astype(np.int64)
    data = a.buffers()[2]
    data = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, np.uint8)
    lens = np.diff(offsets)
    w = int(width if width is not None else max(int(lens.max()) if n else 0, 1))
    cols = np.arange(w)
    pos = offsets[:-1, None] + cols
    valid = cols < lens[:, None]
    mat = np.zeros((n, w), dtype=np.uint8)
    if data.size:
        mat[valid] = data[pos[valid]]
    return mat, lens


def from_mat(mat: np.ndarray, lens: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    n, w = mat.shape
    lens = np.minimum(lens, w)
    valid = np.arange(w) < lens[:, None]
    data = mat[valid].tobytes()
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(lens, out=offsets[1:])
    validity = None
    if null is not None and null.any():
        validity = pa.array(~null).buffers()[1]
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets.tobytes()), pa.py_buffer(data), validity,
                                       int(null.sum()) if null is not None else 0)


def gather(mat: np.ndarray, src: np.ndarray) -> np.ndarray:
    """out[i, t] = mat[i, src[i, t]] (src clipped into the matrix)."""
    src = np.clip(src, 0, mat.shape[1] - 1)
    return np.take_along_axis(mat, src, axis=1)


def widen(mat: np.ndarray, extra: int) -> np.ndarray:
    return np.concatenate([mat, np.zeros((mat.shape[0], extra), dtype=mat.dtype)], axis=1)


def initcap(a: pa.Array) -> pa.Array:
    """Spark's initcap: first letter of every space-separated word upper case, the rest lower."""
    null = is_null(a)
    mat, lens = to_mat(pc.utf8_lower(a))
    prev = np.concatenate([np.full((mat.shape[0], 1), 32, np.uint8), mat[:, :-1]], axis=1)
    up = (prev == 32) & (mat >= 97) & (mat <= 122)
    mat = np.where(up, mat - 32, mat).astype(np.uint8)
    return from_mat(mat, lens, null)


# ---------------------------------------------------------------- token lists

def split(a: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """(flat tokens, offsets) of space-separated strings (no nulls)."""
    lst = pc.split_pattern(a, " ")
    if isinstance(lst, pa.ChunkedArray):
        lst = lst.combine_chunks()
    offsets = lst.offsets.to_numpy().astype(np.int64)
    values = lst.values.slice(offsets[0], offsets[-1] - offsets[0]) if len(lst) else lst.values
    return values, offsets - offsets[0]


def join(values: pa.Array, offsets: np.ndarray) -> pa.Array:
    lst = pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), values)
    return pc.binary_join(lst, " ")


def token_pos(offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row of each token, its position in the row)."""
    counts = np.diff(offsets)
    row = np.repeat(np.arange(len(counts)), counts)
    return row, np.arange(offsets[-1]) - offsets[:-1][row]


# ---------------------------------------------------------------- dates (datetime64[D])

def _civil(z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(year, month, day) of days since 1970-01-01 (integer arithmetic, proleptic Gregorian)."""
    z = z + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = np.where(mp < 10, mp + 3, mp - 9)
    return yoe + era * 400 + (m <= 2), m, d


def _days(y, m, d) -> np.ndarray:
    """Days since 1970-01-01 of (year, month, day)."""
    y = np.asarray(y, np.int64) - (np.asarray(m) <= 2)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * np.where(np.asarray(m) > 2, np.asarray(m, np.int64) - 3, np.asarray(m, np.int64) + 9) + 2) // 5 \
        + np.asarray(d, np.int64) - 1
    return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468


_T0, _T1 = -44_000, 60_000          # days since 1970 covered by the lookup table: 1849 to 2134


@lru_cache(maxsize=1)
def _ymd_table() -> np.ndarray:
    y, m, d = _civil(np.arange(_T0, _T1, dtype=np.int64))
    return np.stack([y, m, d]).astype(np.int64)


def ymd(d: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    z = d.astype("datetime64[D]").view(np.int64)
    if len(z) and (z.min() < _T0 or z.max() >= _T1):
        return _civil(z)
    t = _ymd_table()[:, z - _T0]
    return t[0], t[1], t[2]


def year(d: np.ndarray) -> np.ndarray:
    z = d.astype("datetime64[D]").view(np.int64)
    if len(z) and (z.min() < _T0 or z.max() >= _T1):
        return _civil(z)[0]
    return _ymd_table()[0, z - _T0]


def make_date(y, m, d) -> np.ndarray:
    return _days(y, m, d).astype("datetime64[D]")


def _month_days(y: np.ndarray, m: np.ndarray) -> np.ndarray:
    leap = (y % 4 == 0) & ((y % 100 != 0) | (y % 400 == 0))
    return np.asarray([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])[m] + ((m == 2) & leap)


def add_months(d: np.ndarray, n) -> np.ndarray:
    """Spark's add_months: the same day of the month, or the month's last day."""
    y, m, day = ymd(d)
    mm = y * 12 + (m - 1) + np.asarray(n, np.int64)
    ny, nm = mm // 12, mm % 12 + 1
    return make_date(ny, nm, np.minimum(day, _month_days(ny, nm)))


def add_days(d: np.ndarray, n) -> np.ndarray:
    return d + np.asarray(n, np.int64).astype("timedelta64[D]")


def date(text: str, n: int) -> np.ndarray:
    return np.full(n, np.datetime64(text, "D"))


def date_format(d: np.ndarray, style: str, null: np.ndarray | None = None) -> pa.Array:
    """'dd-MM-yyyy' or 'yyyy-MM-dd' (null where `null`)."""
    y, m, day = ymd(d)
    n = len(d)
    mat = np.zeros((n, 10), dtype=np.uint8)
    digits = lambda v, k: ((v[:, None] // (10 ** np.arange(k - 1, -1, -1))) % 10 + 48).astype(np.uint8)  # noqa: E731
    if style == "dd-MM-yyyy":
        mat[:, 0:2], mat[:, 3:5], mat[:, 6:10] = digits(day, 2), digits(m, 2), digits(y, 4)
        mat[:, 2] = mat[:, 5] = 45
    else:
        mat[:, 0:4], mat[:, 5:7], mat[:, 8:10] = digits(y, 4), digits(m, 2), digits(day, 2)
        mat[:, 4] = mat[:, 7] = 45
    return from_mat(mat, np.full(n, 10), null)


def to_date32(d: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    days = d.astype("datetime64[D]").astype(np.int64).astype(np.int32)
    return pa.array(days, pa.int32(), mask=null).cast(pa.date32())
