"""training.household_u: u of a comparison that only compares records on one family card comes from
the card's pairs of two people, not from random pairs (of which almost none share a card).

Generated households (synthetic): a father, a mother and twins, each registered in both sources
with one valid NIK consistent with the birth date; the twins' NIKs are one serial apart. Every
record is in the u sample (40 records, all 780 pairs), so without household_u the card comparison's
u is its share among ALL card pairs (one person's two records included); with it, among the card's
pairs of two people only.
"""

from __future__ import annotations

import datetime as dt

import pytest

from padan.config import ModelConfig
from padan.errors import ConfigError
from padan.model.train import train_model
from padan.tables import PERSONS, column_names

HOUSEHOLD_DATE = {
    "name": "household_date",
    "levels": [
        {"null_level": True, "sql": "no_kk_l IS NULL OR no_kk_r IS NULL OR no_kk_l <> no_kk_r "
                                    "OR birth_date_l IS NULL OR birth_date_r IS NULL"},
        {"label": "same card, exact date", "sql": "birth_date_l = birth_date_r"},
        {"label": "same card, day and month swapped",
         "sql": "birth_year_l = birth_year_r AND birth_month_l = birth_day_r AND birth_day_l = birth_month_r"},
        {"label": "same card, all other", "else": True},
    ]}
HOUSEHOLD_U = {"key": "l.no_kk = r.no_kk",
               "not_same_person": "l.nik_valid AND r.nik_valid AND NOT l.nik_dob_mismatch "
                                  "AND NOT r.nik_dob_mismatch AND l.nik_cmp <> r.nik_cmp",
               "comparisons": ["household_date"]}


def _model(household_u: dict | None) -> ModelConfig:
    return ModelConfig.model_validate({
        "comparisons": [
            {"name": "name", "levels": [{"null_level": True, "sql": "name_clean_l IS NULL OR name_clean_r IS NULL"},
                                        {"label": "exact", "sql": "name_clean_l = name_clean_r"},
                                        {"label": "other", "else": True}]},
            HOUSEHOLD_DATE],
        "blocking_rules": ["l.nik_cmp = r.nik_cmp"],
        "training": {"prior_rules": ["l.nik_cmp = r.nik_cmp"], "u_max_pairs": 1000, "max_label_pairs": 1000,
                     "em_blocking_rules": ["l.nik_cmp = r.nik_cmp"], "household_u": household_u}})


@pytest.fixture(scope="module")
def persons(spark):
    cols = column_names(PERSONS.ddl)
    rows = []
    members = [("AYAH", dt.date(1960, 3, 4), "L", "0001"), ("IBU", dt.date(1962, 7, 9), "P", "0001"),
               ("ADI", dt.date(1990, 8, 15), "L", "0002"), ("ANDI", dt.date(1990, 8, 15), "L", "0003")]
    for h in range(5):
        for name, born, sex, serial in members:
            day = born.day + (40 if sex == "P" else 0)
            nik = f"32010{h}{day:02d}{born.month:02d}{born.year % 100:02d}{serial}"
            for source in ("p3ke", "prakerja"):
                rec = dict(unique_id=f"{source}:{h}{name}", source_dataset=source, nik=nik, nik_cmp=nik,
                           nik_valid=True, nik_dob_mismatch=False, nik_sex_mismatch=False, nik_birth_date=born,
                           name_clean=f"{name} KELUARGA{h}", birth_date=born, birth_year=born.year,
                           birth_month=born.month, birth_day=born.day, sex=sex, no_kk=f"32010{h}000000000{h}",
                           dob_placeholder=False, kabupaten="KAB. CONTOH", name_tokens=2)
                rows.append(tuple(rec.get(c) for c in cols))
    return spark.createDataFrame(rows, PERSONS.ddl).cache()


def _levels(settings: dict, comparison: str) -> dict[str, tuple[float, float]]:
    comp = next(c for c in settings["comparisons"] if c["output_column_name"] == comparison)
    return {lvl["label_for_charts"]: (lvl["m_probability"], lvl["u_probability"])
            for lvl in comp["comparison_levels"] if not lvl.get("is_null_level")}


def test_the_card_comparisons_u_comes_from_the_cards_pairs_of_two_people(spark, persons):
    # per household 8 records on one card, 28 pairs: 4 one person's (same NIK, same date), 24 of two
    # people, of which 4 twins' (same date) and 20 born years apart.
    plain = train_model(spark, persons, _model(None))
    with_hh = train_model(spark, persons, _model(HOUSEHOLD_U))
    got = _levels(with_hh.settings, "household_date")
    assert got["same card, exact date"][1] == pytest.approx(4 / 24)
    assert got["same card, all other"][1] == pytest.approx(20 / 24)
    # a level none of the 5 x 24 = 120 card pairs of two people reached: the rule of three for those
    # 120 pairs, not for the 1,000 of the random sample (which would price it as ever so rare)
    assert got["same card, day and month swapped"][1] == pytest.approx(3 / 120)
    before = _levels(plain.settings, "household_date")
    assert before["same card, day and month swapped"][1] == pytest.approx(3 / 1000)
    assert before["same card, exact date"][1] == pytest.approx(8 / 28)      # random pairs: one person's too
    # m is unchanged (labels: one person's two records, all on one card with the same date), and so
    # is the u of a comparison household_u does not name
    assert got["same card, exact date"][0] == before["same card, exact date"][0] == pytest.approx(1.0)
    assert _levels(with_hh.settings, "name") == _levels(plain.settings, "name")


def test_household_u_must_name_model_comparisons(tmp_path):
    from padan import config

    with pytest.raises(ConfigError, match="household_u"):
        config.load(env="base", conf_dir=_conf_with(tmp_path, {**HOUSEHOLD_U, "comparisons": ["no_such"]}))


def _conf_with(tmp_path, household_u: dict):
    import shutil

    import yaml

    from tests.conftest import REPO

    shutil.copytree(REPO / "conf" / "base", tmp_path / "base")
    doc = yaml.safe_load((tmp_path / "base" / "model.yml").read_text())
    doc["model"]["training"]["household_u"] = household_u
    (tmp_path / "base" / "model.yml").write_text(yaml.safe_dump(doc))
    return tmp_path
