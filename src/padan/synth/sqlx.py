"""A tiny Column-like builder of Spark SQL expression *text*.

The generator composes thousands of expressions; built with `pyspark.sql.functions` each function
call is a py4j round trip (tens of thousands per extract, seconds of driver time). Built here they
are Python strings, handed to Spark once per staged column through `pyspark.sql.functions.expr`.
Only what the generator uses is implemented; names follow `pyspark.sql.functions`.
"""

from __future__ import annotations

import itertools
from typing import Any, Callable, Iterable

_lambda_ids = itertools.count()


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _x(value: Any) -> "X":
    if isinstance(value, X):
        return value
    if value is None:
        return X("NULL")
    if isinstance(value, bool):
        return X("true" if value else "false")
    if isinstance(value, int):
        return X(str(value) if -(2 ** 31) <= value < 2 ** 31 else f"{value}L")
    if isinstance(value, float):
        return X(f"{value!r}D")
    if isinstance(value, str):
        return X(_quote(value))
    raise TypeError(f"cannot make a SQL literal of {type(value).__name__}")


class X:
    """One SQL expression."""

    __slots__ = ("sql",)

    def __init__(self, sql: str):
        self.sql = sql

    def __repr__(self) -> str:
        return f"X({self.sql[:80]!r})"

    def __bool__(self):
        raise TypeError("a SQL expression has no truth value; use & | ~ instead of and/or/not")

    __hash__ = object.__hash__

    def _bin(self, op: str, other: Any, reverse: bool = False) -> "X":
        o = _x(other)
        return X(f"({o.sql} {op} {self.sql})") if reverse else X(f"({self.sql} {op} {o.sql})")

    def __add__(self, o): return self._bin("+", o)
    def __radd__(self, o): return self._bin("+", o, True)
    def __sub__(self, o): return self._bin("-", o)
    def __rsub__(self, o): return self._bin("-", o, True)
    def __mul__(self, o): return self._bin("*", o)
    def __rmul__(self, o): return self._bin("*", o, True)
    def __truediv__(self, o): return self._bin("/", o)
    def __rtruediv__(self, o): return self._bin("/", o, True)
    def __mod__(self, o): return self._bin("%", o)
    def __lt__(self, o): return self._bin("<", o)
    def __le__(self, o): return self._bin("<=", o)
    def __gt__(self, o): return self._bin(">", o)
    def __ge__(self, o): return self._bin(">=", o)
    def __eq__(self, o): return self._bin("=", o)  # type: ignore[override]
    def __ne__(self, o): return self._bin("!=", o)  # type: ignore[override]
    def __and__(self, o): return self._bin("AND", o)
    def __rand__(self, o): return self._bin("AND", o, True)
    def __or__(self, o): return self._bin("OR", o)
    def __ror__(self, o): return self._bin("OR", o, True)
    def __invert__(self): return X(f"(NOT {self.sql})")
    def __neg__(self): return X(f"(- {self.sql})")

    def cast(self, type_name: str) -> "X":
        return X(f"CAST({self.sql} AS {type_name})")

    def isin(self, *values: Any) -> "X":
        return X(f"({self.sql} IN ({', '.join(_x(v).sql for v in values)}))")

    def isNull(self) -> "X":
        return X(f"({self.sql} IS NULL)")

    def isNotNull(self) -> "X":
        return X(f"({self.sql} IS NOT NULL)")

    def substr(self, start: Any, length: Any) -> "X":
        return X(f"substring({self.sql}, {_x(start).sql}, {_x(length).sql})")

    def bitwiseAND(self, other: Any) -> "X":
        return self._bin("&", other)


class _Case(X):
    __slots__ = ("branches",)

    def __init__(self, branches: list[tuple[X, X]]):
        self.branches = branches
        super().__init__(self._render(None))

    def _render(self, otherwise: X | None) -> str:
        parts = " ".join(f"WHEN {c.sql} THEN {v.sql}" for c, v in self.branches)
        tail = f" ELSE {otherwise.sql}" if otherwise is not None else ""
        return f"CASE {parts}{tail} END"

    def when(self, cond: Any, value: Any) -> "_Case":
        return _Case(self.branches + [(_x(cond), _x(value))])

    def otherwise(self, value: Any) -> X:
        return X(self._render(_x(value)))


def when(cond: Any, value: Any) -> _Case:
    return _Case([(_x(cond), _x(value))])


def lit(value: Any) -> X:
    return _x(value)


def col(name: str) -> X:
    return X(f"`{name}`")


def _fn(name: str, *args: Any) -> X:
    return X(f"{name}({', '.join(_x(a).sql for a in args)})")


def concat(*cols: Any) -> X: return _fn("concat", *cols)
def concat_ws(sep: str, *cols: Any) -> X: return _fn("concat_ws", sep, *cols)
def lpad(c: Any, width: int, pad: str) -> X: return _fn("lpad", c, width, pad)
def get(arr: Any, index: Any) -> X: return _fn("get", arr, index)
def split(c: Any, pattern: str) -> X: return _fn("split", c, pattern)
def size(c: Any) -> X: return _fn("size", c)
def element_at(c: Any, i: Any) -> X: return _fn("element_at", c, i)
def slice(c: Any, start: Any, length: Any) -> X: return _fn("slice", c, start, length)  # noqa: A001
def array_join(c: Any, sep: str) -> X: return _fn("array_join", c, sep)
def array_contains(c: Any, v: Any) -> X: return _fn("array_contains", c, v)
def array(*cols: Any) -> X: return _fn("array", *cols)
def regexp_replace(c: Any, pattern: str, repl: Any) -> X: return _fn("regexp_replace", c, pattern, repl)
def date_add(d: Any, n: Any) -> X: return _fn("date_add", d, n)
def date_sub(d: Any, n: Any) -> X: return _fn("date_sub", d, n)
def add_months(d: Any, n: Any) -> X: return _fn("add_months", d, n)
def make_date(y: Any, m: Any, d: Any) -> X: return _fn("make_date", y, m, d)
def year(d: Any) -> X: return _fn("year", d)
def month(d: Any) -> X: return _fn("month", d)
def dayofmonth(d: Any) -> X: return _fn("dayofmonth", d)
def date_format(d: Any, fmt: str) -> X: return _fn("date_format", d, fmt)
def datediff(end: Any, start: Any) -> X: return _fn("datediff", end, start)
def least(*cols: Any) -> X: return _fn("least", *cols)
def greatest(*cols: Any) -> X: return _fn("greatest", *cols)
def floor(c: Any) -> X: return _fn("floor", c)
def pow(c: Any, p: Any) -> X: return _fn("pow", c, p)  # noqa: A001
def round(c: Any, scale: int = 0) -> X: return _fn("round", c, scale)  # noqa: A001
def initcap(c: Any) -> X: return _fn("initcap", c)
def lower(c: Any) -> X: return _fn("lower", c)
def upper(c: Any) -> X: return _fn("upper", c)
def length(c: Any) -> X: return _fn("length", c)
def coalesce(*cols: Any) -> X: return _fn("coalesce", *cols)
def xxhash64(*cols: Any) -> X: return _fn("xxhash64", *cols)
def shiftrightunsigned(c: Any, n: int) -> X: return _fn("shiftrightunsigned", c, n)
def shiftright(c: Any, n: int) -> X: return _fn("shiftright", c, n)
def shiftleft(c: Any, n: int) -> X: return _fn("shiftleft", c, n)
def substring(c: Any, pos: Any, length: Any) -> X: return _fn("substring", c, pos, length)
def sum(c: Any) -> X: return _fn("sum", c)  # noqa: A001


def transform(arr: Any, fn: Callable[[X], Any]) -> X:
    var = f"t{next(_lambda_ids)}"
    body = _x(fn(X(var)))
    return X(f"transform({_x(arr).sql}, {var} -> {body.sql})")


def array_literal(values: Iterable[Any]) -> X:
    """A constant array written as split(<one string literal>) (cast for numbers/booleans); the
    optimizer folds it into one array literal."""
    values = list(values)
    if all(isinstance(v, bool) for v in values):
        return X(f"CAST(split({_quote(','.join('true' if v else 'false' for v in values))}, ',') AS ARRAY<BOOLEAN>)")
    if all(isinstance(v, int) for v in values):
        return X(f"CAST(split({_quote(','.join(str(v) for v in values))}, ',') AS ARRAY<INT>)")
    if all(isinstance(v, (int, float)) for v in values):
        return X(f"CAST(split({_quote(','.join(repr(float(v)) for v in values))}, ',') AS ARRAY<DOUBLE>)")
    texts = [str(v) for v in values]
    if any("|" in t for t in texts):
        raise ValueError("array values may not contain '|'")
    return X(f"split({_quote('|'.join(texts))}, '[|]')")
