"""Derived fields in a source contract: canonical fields computed from raw columns.

A contract's `derive` section maps a canonical field (or an intermediate whose name starts with
`_`, used only by other derivations) to one declarative operation:

    derive:
      name: {concat: [given_name, surname], sep: " "}          # blanks skipped, '' -> null
      rt:   {regex_extract: {column: alamat_domisili, pattern: "\\bRT\\.?\\s*0*([0-9]{1,3})", group: 1,
                             ignore_case: true}}
      kabupaten: {coalesce: [kab_domisili, kab_ktp]}           # first non-blank value

An operand is another derivation's name when there is one of that name, else a raw column of the
input. The operations become Spark column expressions (`concat_ws`, `regexp_extract`, `coalesce`);
the pattern is passed to Spark as a value, never pasted into SQL text. Checks at config load
(`problems`): exactly one operation, a pattern that compiles and has the group, no cycle, no field
both mapped and derived, no derived record key or pseudonymised identifier, no unused
intermediate. A raw column a derivation reads must exist in every input file (`raw_inputs`, checked
with the mapped columns before anything is read).

Derived values are standardised like mapped ones (a derived `name` is cleaned as a name, a derived
`birth_date` parsed with the contract's `date_formats`); bronze keeps the raw columns they came from.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Mapping

from padan.ingest.fields import CANONICAL_FIELDS

if TYPE_CHECKING:   # pyspark only where expressions are built: config loading does not need it
    from pyspark.sql import Column

    from padan.config import DeriveSpec, SourceContract

DERIVED_PREFIX = "_derived__"
"""Prefix of the columns that carry derived values next to the raw columns during ingest."""

_JAVA_NAMED_GROUP = re.compile(r"\(\?<([A-Za-z][A-Za-z0-9]*)>")


def operands(spec: "DeriveSpec") -> list[str]:
    if spec.concat is not None:
        return list(spec.concat)
    if spec.coalesce is not None:
        return list(spec.coalesce)
    return [spec.regex_extract.column] if spec.regex_extract is not None else []


def regex_problem(pattern: str, group: int) -> str | None:
    """Why `pattern` cannot be used by Spark's `regexp_extract` with `group`; None when it can.

    Spark uses Java regular expressions; they are checked here with Python's, which agree on the
    common syntax (classes, quantifiers, groups, anchors, `(?i)`). Java's named groups `(?<n>...)`
    are accepted; Python's `(?P<n>...)` is not Java and is refused."""
    if "(?P<" in pattern or "(?P=" in pattern:
        return "uses Python's (?P<name>...) syntax; Spark's (Java) regular expressions write (?<name>...)"
    try:
        compiled = re.compile(_JAVA_NAMED_GROUP.sub(r"(?P<\1>", pattern))
    except re.error as exc:
        return f"is not a valid regular expression ({exc.msg} at position {exc.pos})"
    if group > compiled.groups:
        return f"has {compiled.groups} group(s), so it has no group {group}"
    return None


def problems(contract: "SourceContract") -> list[str]:
    """Everything wrong with the contract's `derive` section, each naming the field (the caller adds
    the source and file)."""
    derive = contract.derive
    if not derive:
        return []
    out: list[str] = []
    pseudo = set(contract.pseudonymise.fields) if contract.pseudonymise is not None else set()
    used = {ref for spec in derive.values() for ref in operands(spec)}
    for field, spec in derive.items():
        where = f"derive.{field}"
        if not field.startswith("_") and field not in CANONICAL_FIELDS:
            out.append(f"{where}: '{field}' is not a canonical field (an intermediate used only by other "
                       f"derivations must start with '_'); known: {sorted(CANONICAL_FIELDS)}")
        elif field.startswith("_") and field not in used:
            out.append(f"{where}: the intermediate '{field}' is not used by any other derivation")
        if field == "record_key":
            out.append(f"{where}: the record key cannot be derived; name the raw column in 'record_key' "
                       f"(or leave it out and padan derives a key from the row)")
        if field in contract.columns:
            out.append(f"{where}: '{field}' is both mapped in 'columns' and derived; map it to null in "
                       f"'columns' to derive it")
        if field in pseudo:
            out.append(f"{where}: '{field}' is pseudonymised, and a pseudonymised identifier must be a "
                       f"mapped raw column (bronze keeps only its keyed hash)")
        if spec.regex_extract is not None:
            rx = spec.regex_extract
            why = regex_problem(rx.pattern, rx.group)
            if why:
                out.append(f"{where}.regex_extract.pattern {why}")
    out.extend(_cycles(derive))
    return out


def _cycles(derive: Mapping[str, "DeriveSpec"]) -> list[str]:
    """One problem per cycle among derivations (a field that, through others, reads itself)."""
    out: list[str] = []
    state: dict[str, int] = {}   # 1: on the current path, 2: done
    reported: set[frozenset[str]] = set()

    def visit(field: str, path: list[str]) -> None:
        state[field] = 1
        path.append(field)
        for ref in operands(derive[field]):
            if ref not in derive:
                continue
            if state.get(ref) == 1:
                cycle = path[path.index(ref):] + [ref]
                if frozenset(cycle) not in reported:
                    reported.add(frozenset(cycle))
                    out.append(f"derive.{ref}: the derivations form a cycle ({' -> '.join(cycle)})")
            elif state.get(ref) is None:
                visit(ref, path)
        path.pop()
        state[field] = 2

    for field in derive:
        if state.get(field) is None:
            visit(field, [])
    return out


def raw_inputs(contract: "SourceContract") -> dict[str, str]:
    """raw column -> the derived field that reads it (first one), for every raw column the
    derivations read (operands that are not themselves derivations)."""
    out: dict[str, str] = {}
    for field, spec in contract.derive.items():
        for ref in operands(spec):
            if ref not in contract.derive:
                out.setdefault(ref, field)
    return out


def field_columns(contract: "SourceContract") -> dict[str, str]:
    """canonical field -> the column of the ingest rows that holds it: the mapped raw column, or the
    derived column `derived_columns` adds."""
    out = dict(contract.columns)
    out.update({f: DERIVED_PREFIX + f for f in contract.derive if not f.startswith("_")})
    return out


def _nonblank(c: "Column") -> "Column":
    from pyspark.sql import functions as F

    trimmed = F.trim(c)
    return F.when(trimmed != "", trimmed)


def expressions(contract: "SourceContract") -> dict[str, "Column"]:
    """derived canonical field -> its column expression over the raw columns (intermediates inlined).
    Every value is trimmed text or null ('' never)."""
    from pyspark.sql import functions as F

    derive = contract.derive
    built: dict[str, Column] = {}

    def ref(name: str) -> "Column":
        return build(name) if name in derive else _nonblank(F.col(f"`{name}`").cast("string"))

    def build(field: str) -> "Column":
        if field in built:
            return built[field]
        spec = derive[field]
        if spec.concat is not None:
            expr = _nonblank(F.concat_ws(" " if spec.sep is None else spec.sep, *[ref(c) for c in spec.concat]))
        elif spec.coalesce is not None:
            expr = F.coalesce(*[ref(c) for c in spec.coalesce])
        else:
            rx = spec.regex_extract
            pattern = f"(?i){rx.pattern}" if rx.ignore_case else rx.pattern
            expr = _nonblank(F.regexp_extract(ref(rx.column), pattern, rx.group))
        built[field] = expr
        return expr

    return {f: build(f) for f in derive if not f.startswith("_")}


def with_derived(rows, contract: "SourceContract"):
    """`rows` (raw columns + ingest bookkeeping) with one `_derived__<field>` column per derived
    field; unchanged when the contract derives nothing."""
    exprs = expressions(contract)
    return rows.withColumns({DERIVED_PREFIX + f: e for f, e in exprs.items()}) if exprs else rows
