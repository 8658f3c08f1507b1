"""Which existing records an increment compares with its batch: those sharing a blocking key."""

from __future__ import annotations

import pytest

from padan.link.predict import equi_join_keys, existing_candidates


@pytest.mark.parametrize("rule, keys", [
    ("l.nik_cmp = r.nik_cmp", ["nik_cmp"]),
    ("l.birth_date = r.birth_date AND l.kabupaten = r.kabupaten AND NOT l.dob_placeholder", ["birth_date", "kabupaten"]),
    ("(l.a = r.a AND l.b = r.b)", ["a", "b"]),
    ("l.`x` = r.`x` and l.y = r.y", ["x", "y"]),
    ("(l.a = r.a) AND (l.b = r.b OR l.c = r.c)", ["a"]),       # the disjunction narrows nothing; `a` still must hold
    ("l.a = r.a OR l.b = r.b", None),                          # a top-level OR: no key every pair shares
    ("substr(l.a, 1, 3) = substr(r.a, 1, 3)", None),           # a function of the key: not an equi-join key
    ("l.a = r.b", None),                                       # different columns
    ("l.name = r.name AND l.note = 'x AND y'", ["name"]),      # AND inside a string literal is not a conjunction
    ("r.a = l.a AND ((l.b = r.b) AND NOT l.c)", ["a", "b"]),   # either order; nested parenthesised conjunctions
    ("l.a = r.a AND l.note = 'l.b = r.b'", ["a"]),             # an equality inside a string literal is text
    ("NOT (l.a = r.a)", None),                                 # a negated equality requires nothing
])
def test_equi_join_keys(rule, keys):
    assert equi_join_keys(rule) == keys


def _df(spark, rows):
    return spark.createDataFrame(rows, "unique_id STRING, nik STRING, name STRING, dob STRING")


RULES = ["l.nik = r.nik", "l.name = r.name AND l.dob = r.dob AND NOT l.flag"]


def test_existing_candidates_keep_only_records_sharing_a_key(spark):
    existing = _df(spark, [
        ("e1", "111", "ANI", "2000-01-01"),    # same NIK as n1
        ("e2", None, "BUDI", "1990-05-05"),    # same name and birth date as n2
        ("e3", None, "BUDI", "1991-05-05"),    # same name, other birth date: no rule pairs it
        ("e4", "222", "CICI", None),           # shares nothing
        ("e5", None, None, None),              # all keys missing: never paired
    ])
    new = _df(spark, [("n1", "111", "ANA", "2001-02-02"), ("n2", "333", "BUDI", "1990-05-05"),
                      ("n3", None, None, None)])
    for n_new in (3, None):                    # broadcast and shuffled joins
        got = {r[0] for r in existing_candidates(existing, new, RULES, n_new=n_new).collect()}
        assert got == {"e1", "e2"}


def test_a_rule_without_key_keeps_every_record(spark):
    existing = _df(spark, [("e1", "1", "A", "x"), ("e2", "2", "B", "y")])
    new = _df(spark, [("n1", "9", "Z", "z")])
    assert existing_candidates(existing, new, [*RULES, "levenshtein(l.name, r.name) <= 1"]).count() == 2
    assert existing_candidates(existing, new, RULES).count() == 0
