"""The model's family-aware levels (conf/base/model.yml, issue 21): which level a pair lands in.

A twin registered with its sibling has a valid NIK with the same region, issue date and sex and
another serial: that is not rewarded as "same region prefix" and never as a typo; an adjacent
transposition in the first 12 digits with the same serial is a typo. With pseudonymised NIKs
(nik_cmp = 6-digit prefix + HMAC tag) the twin still falls to "all other" and the transposition
level never fires. Sharing a family card counts as "the same person" only with a given name alike (one letter off
counts); the region gives no evidence for pairs sharing a card. A NIK shared by records born years
apart, one of them not on the NIK's date, is a relative's NIK, not "exact NIK"; a twin of the other
sex (the sex digit differs) is not "same region prefix", nor are two NIKs of one district on one
family card. A one-letter typo in a short name and a
dropped given or family name have name levels of their own.
"""

from __future__ import annotations

import datetime as dt

import pytest
from pyspark.sql import functions as F

from padan import config
from padan.model.settings import untrained_settings
from padan.tables import PERSONS, column_names
from tests.conftest import REPO

D = dt.date(1990, 8, 15)
BASE = dict(source_dataset="p3ke", nik_birth_date=D, nik_sex="L", nik_dob_mismatch=False, no_kk="3201010101010001", name_clean="BUDI SANTOSO",
            name_sorted="BUDI SANTOSO", name_first="BUDI", name_last="SANTOSO", name_first_phonetic="BT",
            name_last_phonetic="SNTS", name_phonetic="BTSNTS", birth_date=D, birth_year=1990, birth_month=8,
            birth_day=15, dob_placeholder=False, sex="L", desa="SUKAMAJU", kecamatan="CIBEUREUM",
            kabupaten="KAB. BOGOR", province_code="32", name_tokens=2)
ANDI = dict(name_clean="ANDI SANTOSO", name_sorted="ANDI SANTOSO", name_first="ANDI", name_first_phonetic="ANT",
            name_phonetic="ANTSNTS")
TAG_A, TAG_B = "0f3c9a7d21be4455", "9e01b2c3d4f5a6b7"

PEOPLE = {
    "a": dict(nik_cmp="3201011508900012"),
    "twin": dict(nik_cmp="3201011508900013", **ANDI),                      # same 12 digits, serial + 1
    "twin_swapped_serial": dict(nik_cmp="3201011508900021", **ANDI),       # same 12, serial digits swapped
    "typo": dict(nik_cmp="3201011508090012", no_kk=None),                   # date digits 09 <-> 90, same serial
    "neighbour": dict(nik_cmp="3201010303850007", nik_birth_date=dt.date(1985, 3, 3), no_kk=None,
                      name_clean="SITI AMINAH", name_sorted="AMINAH SITI", name_first_phonetic="ST"),
    "a_pseudo": dict(nik_cmp="320101" + TAG_A),
    # a's NIK on a record of a child born 2015 (a register copying the head's NIK): not a's record
    "child_with_as_nik": dict(nik_cmp="3201011508900012", nik_dob_mismatch=True, birth_date=dt.date(2015, 3, 2),
                              birth_year=2015, birth_month=3, birth_day=2, **ANDI),
    # a's own record with the birth year slipped by one: the NIK is still a's
    "a_year_slip": dict(nik_cmp="3201011508900012", nik_dob_mismatch=True, birth_date=dt.date(1991, 8, 15),
                        birth_year=1991),
    # a twin sister: same region and issue date, the sex digit differs (day + 40), another serial
    "twin_sister": dict(nik_cmp="3201015508900013", nik_sex="P", sex="P", name_clean="SITI SANTOSO",
                        name_sorted="SANTOSO SITI", name_first="SITI", name_first_phonetic="ST", name_phonetic="STSNTS"),
    # one person with the given name dropped on one record, and a one-letter typo in a short name
    "fitri_aminah": dict(name_clean="FITRIANINGSIH AMINAH", name_sorted="AMINAH FITRIANINGSIH", name_first="FITRIANINGSIH",
                         name_last="AMINAH", name_first_phonetic="PTRNNKS", name_last_phonetic="AMN",
                         name_phonetic="PTRNNKSAMN", no_kk=None),
    "aminah": dict(name_clean="AMINAH", name_sorted="AMINAH", name_first="AMINAH", name_last="AMINAH",
                   name_first_phonetic="AMN", name_last_phonetic="AMN", name_phonetic="AMN", name_tokens=1, no_kk=None),
    "rina": dict(name_clean="RINA", name_sorted="RINA", name_first="RINA", name_last="RINA", name_first_phonetic="RN",
                 name_last_phonetic="RN", name_phonetic="RN", name_tokens=1),
    "rika": dict(name_clean="RIKA", name_sorted="RIKA", name_first="RIKA", name_last="RIKA", name_first_phonetic="RK",
                 name_last_phonetic="RK", name_phonetic="RK", name_tokens=1),
    "twin_pseudo": dict(nik_cmp="320101" + TAG_B, **ANDI),
    # a brother on a's family card, his NIK issued in a's district for his own birth date
    "brother": dict(nik_cmp="3201010303920008", nik_birth_date=dt.date(1992, 3, 3), birth_date=dt.date(1992, 3, 3),
                    birth_year=1992, birth_month=3, birth_day=3, **ANDI),
}


@pytest.fixture(scope="module")
def levels(spark):
    """(left, right) -> {comparison: level label or None for the null level}, for the pairs below."""
    from padan.link import engine
    from padan.model.counts import _records

    model_cfg = config.load(env="base", conf_dir=REPO / "conf").model
    settings = untrained_settings(model_cfg)
    cols = column_names(PERSONS.ddl)
    rows = [tuple({**BASE, **person, "unique_id": uid}.get(c) for c in cols) for uid, person in PEOPLE.items()]
    persons = spark.createDataFrame(rows, PERSONS.ddl)
    model, df, names = _records(spark, persons, settings)
    pairs = [("a", "twin"), ("a", "twin_swapped_serial"), ("a", "typo"), ("a", "neighbour"),
             ("a_pseudo", "twin_pseudo"), ("typo", "neighbour"), ("a", "a_pseudo"), ("a", "child_with_as_nik"),
             ("a", "a_year_slip"), ("a", "twin_sister"), ("fitri_aminah", "aminah"), ("rina", "rika"),
             ("a", "brother")]
    want = spark.createDataFrame(pairs, "unique_id_l string, unique_id_r string")
    side = lambda s: df.select(*[F.col(c).alias(f"{c}_{s}") for c in names])  # noqa: E731
    got = (want.join(side("l"), "unique_id_l").join(side("r"), "unique_id_r")
           .select("unique_id_l", "unique_id_r", *[engine._gamma(c).alias(c.name) for c in model.comparisons])
           .collect())
    labels = {}
    for comp in model_cfg.comparisons:
        non_null = [lvl for lvl in comp.levels if not lvl.is_null]
        labels[comp.name] = {len(non_null) - 1 - i: (lvl.label or "else") for i, lvl in enumerate(non_null)}
    out = {(r.unique_id_l, r.unique_id_r): {c: (None if r[c] == -1 else labels[c][r[c]]) for c in labels} for r in got}
    assert len(out) == len(pairs)
    return out


def test_a_twins_nik_is_neither_a_typo_nor_same_region(levels):
    for twin in ("twin", "twin_swapped_serial"):
        assert levels[("a", twin)]["nik"].startswith("all other"), twin
    assert levels[("a", "typo")]["nik"].startswith("adjacent digits transposed")
    assert levels[("a", "neighbour")]["nik"].startswith("same region prefix")


def test_pseudonymised_niks_degrade_without_rewarding_twins(levels):
    assert levels[("a_pseudo", "twin_pseudo")]["nik"].startswith("all other")
    assert not levels[("typo", "neighbour")]["nik"].startswith("adjacent")


def test_the_family_card_needs_a_given_name_alike_and_the_region_then_says_nothing(levels):
    assert levels[("a", "twin")]["no_kk"] == "same family card and another given name"
    assert levels[("a", "a_pseudo")]["no_kk"] == "same family card and a similar given name"
    assert levels[("a", "twin")]["region"] is None
    assert levels[("a", "typo")]["no_kk"] is None            # no card on one side: the region counts
    assert levels[("a", "typo")]["region"] == "same desa"


def test_a_shared_nik_whose_date_fits_one_record_only_is_a_relatives(levels):
    assert levels[("a", "child_with_as_nik")]["nik"].startswith("exact NIK, but one record's birth date")
    assert levels[("a", "a_year_slip")]["nik"] == "exact NIK"        # a year slip keeps the NIK's weight


def test_a_twin_of_the_other_sex_is_not_same_region(levels):
    assert levels[("a", "twin_sister")]["nik"].startswith("all other")
    assert levels[("a", "neighbour")]["nik"].startswith("same region prefix")


def test_a_dropped_given_or_family_name_and_a_short_names_typo_have_levels_of_their_own(levels):
    assert levels[("fitri_aminah", "aminah")]["name"].startswith("one name a single token of the other")
    assert levels[("rina", "rika")]["name"].startswith("one letter off")
    assert levels[("rina", "rika")]["no_kk"] == "same family card and a similar given name"


def test_two_niks_of_one_district_on_one_family_card_are_not_same_region(levels):
    """A household registers where it lives: for two records on one card the NIKs' shared district
    is no evidence of one person (as the region is none), so the brother's NIK is "all other"; without
    a shared card (the neighbour) it still is "same region prefix"."""
    assert levels[("a", "brother")]["nik"].startswith("all other")
    assert levels[("a", "brother")]["no_kk"] == "same family card and another given name"
    assert levels[("a", "neighbour")]["nik"].startswith("same region prefix")
