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


# ---------------------------------------------------------------- small-cell suppression

def _people(prov, regency, desil, n, both, prakerja_only=0):
    """n P3KE persons of one region and desil, `both` of them also in Prakerja; plus Prakerja-only persons."""
    rows = []
    for i in range(n):
        pid = f"{prov}-{regency}-{desil}-{i}"
        rows.append((pid, f"p3ke:{pid}", True, i < both, desil, born(30), "P", prov, regency, "KEC", "DESA", pid))
    for i in range(prakerja_only):
        pid = f"{prov}-{regency}-k-{i}"
        rows.append((pid, f"prakerja:{pid}", False, True, None, born(30), "P", prov, regency, "KEC", "DESA", None))
    return rows


def _overlap(spark, k):
    from padan.report.marts import overlap_by_region

    rows = (_people("32", "KAB A", 1, 30, 12, prakerja_only=40) + _people("32", "KAB A", 2, 3, 0)
            + _people("32", "KAB B", 1, 20, 15) + _people("32", "KAB B", 2, 15, 0) + _people("11", "KAB C", 1, 8, 0))
    out = overlap_by_region(spark.createDataFrame(rows, COLS), "r1", suppress_below=k).collect()
    return {(r.level, r.province_code, r.regency, r.desil): r for r in out}


def test_overlap_withholds_counts_below_k_and_their_complements(spark):
    from padan.report.marts import COUNTS

    raw, cells = _overlap(spark, 0), _overlap(spark, 10)
    assert raw.keys() == cells.keys()
    counts = lambda r: (r.persons_p3ke, r.persons_prakerja, r.persons_both)  # noqa: E731
    # Nothing withheld at k = 0 (or 1); the full counts, zeros included.
    assert counts(raw["national", None, None, None]) == (76, 67, 27)
    assert counts(raw["regency", "32", "KAB A", 2]) == (3, 0, 0)
    assert not any(r.suppressed for r in raw.values()) and all(r.suppression_k is None for r in raw.values())
    assert [counts(r) for r in _overlap(spark, 1).values()] == [counts(r) for r in raw.values()]

    for key, r in cells.items():
        assert r.suppression_k == 10
        for c in COUNTS:
            full, shown = raw[key][c], r[c]
            assert shown is None or shown == full, (key, c)
            assert shown is None or shown >= 10, (key, c)       # no count below k is published
            if full < 10:
                assert shown is None, (key, c)
        assert r.suppressed == any(r[c] is None for c in COUNTS)
        if r.persons_both is None:
            assert r.share_p3ke_in_prakerja is None and r.share_prakerja_in_p3ke is None
    # Counts of k or more stay where no small count could be derived from them: the nation's and
    # KAB B's P3KE persons ...
    assert cells["national", None, None, None].persons_p3ke == 76
    assert cells["regency", "32", "KAB B", None].persons_p3ke == 35
    # ... and KAB B's desil-1 P3KE-only count (20 - 15 = 5) withholds its count in both.
    assert raw["regency", "32", "KAB B", 1].persons_both == 15 and cells["regency", "32", "KAB B", 1].persons_both is None
    # Secondary: no total and its parts (the desil rows of a region; the regencies of a province or
    # the provinces of the nation, per desil) with exactly one withheld count of a measure, which
    # the others would give by subtraction.
    groups: dict = {}
    for key in cells:
        level, prov, regency, desil = key
        groups.setdefault((level, prov, regency, None), set()).add(key)
        if level == "regency":
            groups.setdefault(("province", prov, None, desil), {("province", prov, None, desil)}).add(key)
        if level == "province":
            groups.setdefault(("national", None, None, desil), {("national", None, None, desil)}).add(key)
    for total, members in groups.items():
        for c in COUNTS:
            assert sum(cells[m][c] is None for m in members) != 1, (total, c)
    # Province 11 (8 P3KE persons) is withheld, and so is a partner against the national total,
    # and one against province 32's regencies, so that 76 - (33 + 35) cannot give it.
    assert cells["province", "11", None, None].persons_p3ke is None
    assert cells["province", "32", None, None].persons_p3ke is None
    assert None in (cells["regency", "32", "KAB A", None].persons_p3ke, cells["regency", "32", "KAB B", None].persons_p3ke)
