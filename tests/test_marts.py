"""The targeting lists on a hand-made set of persons: who is on which list, and in what order."""

from __future__ import annotations

import datetime as dt

from padan.report.marts import targeting

COLS = ("person_id string, representative_id string, in_p3ke boolean, in_prakerja boolean, desil int, "
        "birth_date date, sex string, province_code string, regency string, kecamatan string, desa string, "
        "no_kk string")


def born(age_years: int, days_after_birthday: int = 10) -> dt.date:
    """A birth date giving exactly `age_years` on 2026-11-28."""
    return dt.date(2026 - age_years, 11, 28) - dt.timedelta(days=days_after_birthday)


def person(pid, *, p3ke=True, prakerja=False, desil=1, age=30, prov="32", regency="KAB A", kk="K1"):
    return (pid, f"p3ke:{pid}", p3ke, prakerja, desil, born(age), "P", prov, regency, "KEC", "DESA", kk)


def test_targeting_lists_filter_and_rank_within_province(spark):
    rows = [
        person("A", regency="KAB B"),                      # unreached, desil 1, 30
        person("H", regency="KAB A", age=18),              # unreached, lower working-age bound
        person("I", regency="KAB A", age=64, kk="K2"),     # unreached, upper bound
        person("J", age=65),                               # too old
        person("K", age=17),                               # too young
        person("C", desil=2),                              # not the configured desil
        person("D", prakerja=True, desil=3, age=25),       # reached: on the other list
        person("G", prakerja=True, desil=None),            # in both but no desil: on neither list
        person("E", p3ke=False, prakerja=True, desil=None),  # Prakerja only: on neither list
        person("F", prov="11", age=40),                    # unreached, another province
    ]
    profile = spark.createDataFrame(rows, COLS)
    out = targeting(profile, "r1", desil=[1], working_age=(18, 64), reference_date="2026-11-28").collect()
    lists = {}
    for r in out:
        lists.setdefault(r.list, {})[r.person_id] = r
    assert set(lists["p3ke_not_in_prakerja"]) == {"A", "H", "I", "F"}
    assert set(lists["prakerja_in_p3ke"]) == {"D"}
    un = lists["p3ke_not_in_prakerja"]
    assert (un["H"].age, un["I"].age, un["A"].age) == (18, 64, 30)
    # Ranked within the province: regency, then household; province 11 starts its own ranking.
    assert [un[p].priority for p in ("H", "I", "A")] == [1, 2, 3]
    assert un["F"].priority == 1
    assert all(r.run_id == "r1" and r.unique_id == f"p3ke:{r.person_id}" for r in out)
