"""Derived fields in source contracts (`padan.ingest.derive`): config checks at load, the column
expressions on tiny DataFrames, and an ingest through a contract that derives fields."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from padan import config
from padan.errors import ConfigError, ContractError

REPO = Path(__file__).resolve().parents[1]

# Prakerja's free-text domicile address (see padan_synth): "JL. X NO. 7 RT 013 RW 001, KEL. Y, KEC. Z",
# "DUSUN X RT 14/02 Y Z" or "DUSUN X, Y", in upper or title case.
ADDRESS_DERIVE = """
derive:
  rt: {regex_extract: {column: alamat_domisili, pattern: "\\\\bRT\\\\.?\\\\s*0*([0-9]{1,3})", group: 1, ignore_case: true}}
  rw: {regex_extract: {column: alamat_domisili, pattern: "\\\\bRT\\\\.?\\\\s*[0-9]{1,3}\\\\s*(?:/|\\\\s+RW\\\\.?\\\\s*)0*([0-9]{1,3})", ignore_case: true}}
  desa: {regex_extract: {column: alamat_domisili, pattern: "(?:\\\\bDESA|\\\\bKEL\\\\.|\\\\bKELURAHAN)\\\\s+([^,]+?)\\\\s*(?:,|$)", ignore_case: true}}
  kecamatan: {regex_extract: {column: alamat_domisili, pattern: "\\\\bKEC(?:AMATAN|\\\\.)\\\\s*([^,]+?)\\\\s*(?:,|$)", ignore_case: true}}
"""


@pytest.fixture
def conf_copy(tmp_path):
    dst = tmp_path / "conf"
    shutil.copytree(REPO / "conf" / "base", dst / "base")
    (dst / "dev" / "sources").mkdir(parents=True)
    return dst


def _overlay(conf_copy: Path, text: str, source: str = "prakerja") -> Path:
    path = conf_copy / "dev" / "sources" / f"{source}.yml"
    path.write_text(text)
    return path


def _problems(conf_copy: Path) -> list[str]:
    with pytest.raises(ConfigError) as err:
        config.load(env="dev", conf_dir=conf_copy)
    assert err.value.exit_code == 2
    return err.value.problems


# ---------------------------------------------------------------- config


def test_a_contract_derives_a_field_in_place_of_a_mapping(conf_copy):
    _overlay(conf_copy, "columns: {name: null, address: null}\n"
                        "derive:\n  name: {concat: [nama_depan, nama_belakang], sep: ' '}\n"
                        "  _alamat: {coalesce: [alamat_domisili, alamat_ktp]}\n"
                        "  address: {concat: [_alamat]}\n" + ADDRESS_DERIVE.replace("derive:\n", ""))
    c = config.load(env="dev", conf_dir=conf_copy).sources["prakerja"]
    assert "name" not in c.columns and c.derive["name"].concat == ["nama_depan", "nama_belakang"]
    assert c.derive["desa"].regex_extract.ignore_case
    from padan.ingest.derive import field_columns, raw_inputs

    assert raw_inputs(c) == {"nama_depan": "name", "nama_belakang": "name", "alamat_domisili": "_alamat", "alamat_ktp": "_alamat"}
    cols = field_columns(c)
    assert cols["name"] == "_derived__name" and cols["nik"] == "nik" and "_alamat" not in cols
    # an overlay drops an inherited derivation with null; the birth date's formats stay when it is derived
    (conf_copy / "dev2" / "sources").mkdir(parents=True)
    (conf_copy / "dev2" / "sources" / "prakerja.yml").write_text(
        "columns: {birth_date: null}\nderive:\n  birth_date: {concat: [thn, bln, tgl], sep: '-'}\n")
    c2 = config.load(env="dev2", conf_dir=conf_copy).sources["prakerja"]
    assert c2.date_formats["birth_date"] and "birth_date" in c2.derive


def test_derivation_errors_are_reported_together_with_source_and_field(conf_copy):
    path = _overlay(conf_copy, "derive:\n"
                               "  name: {concat: [a, b]}\n"                        # name is mapped too
                               "  nama: {concat: [a, b]}\n"                        # not a canonical field
                               "  desa: {regex_extract: {column: x, pattern: '([A-Z]+'}}\n"   # bad regex
                               "  kecamatan: {regex_extract: {column: x, pattern: 'KEC ([A-Z]+)', group: 2}}\n"
                               "  rt: {concat: [_b]}\n  _a: {concat: [rt, z]}\n  _b: {coalesce: [_a]}\n"   # a cycle
                               "  _unused: {concat: [a]}\n"
                               "  rw: {regex_extract: {column: x, pattern: '(?P<rw>[0-9]+)'}}\n")
    (conf_copy / "dev" / "link.yml").write_text("link:\n  threshold_match_probability: 1.5\n")
    problems = _problems(conf_copy)
    mine = [p for p in problems if str(path) in p]
    assert len(mine) == 1 and "key 'sources.prakerja'" in mine[0]
    text = mine[0]
    assert "derive.name: 'name' is both mapped in 'columns' and derived" in text
    assert "derive.nama: 'nama' is not a canonical field" in text
    assert "derive.desa.regex_extract.pattern is not a valid regular expression" in text
    assert "derive.kecamatan.regex_extract.pattern has 1 group(s), so it has no group 2" in text
    assert "derive.rw.regex_extract.pattern uses Python's (?P<name>...) syntax" in text
    assert "the derivations form a cycle" in text and text.count("cycle") == 1
    assert "rt -> _b -> _a -> rt" in text or "_b -> _a -> rt -> _b" in text or "_a -> rt -> _b -> _a" in text
    assert "derive._unused: the intermediate '_unused' is not used" in text
    assert any("threshold_match_probability" in p for p in problems)     # the other files' problems too


def test_a_derivation_takes_exactly_one_operation_and_no_record_key(conf_copy):
    _overlay(conf_copy, "derive:\n  desa: {concat: [a], coalesce: [b]}\n  rt: {coalesce: [a], sep: '-'}\n"
                        "  kecamatan: {}\n")
    problems = "\n".join(_problems(conf_copy))
    assert "sources.prakerja.derive.desa" in problems and "exactly one of" in problems
    assert "sources.prakerja.derive.rt" in problems and "'sep' goes with 'concat' only" in problems
    assert "sources.prakerja.derive.kecamatan" in problems
    _overlay(conf_copy,
        "record_key: null\ncolumns: {record_key: null, phone: null}\nrequired: [nik, name]\n"
        "derive:\n  record_key: {concat: [a, b]}\n  phone: {coalesce: [hp1, hp2]}\n"
        "pseudonymise: {fields: [nik, phone], key_env: PADAN_TEST_DERIVE_KEY}\n")
    problems = "\n".join(_problems(conf_copy))
    assert "derive.record_key: the record key cannot be derived" in problems
    assert "derive.phone: 'phone' is pseudonymised" in problems


def test_required_and_date_formats_accept_derived_fields(conf_copy):
    _overlay(conf_copy, "columns: {birth_date: null}\nrequired: [record_key, nik, name, birth_date]\n"
                        "derive:\n  birth_date: {concat: [thn, bln, tgl], sep: '-'}\n"
                        "date_formats: {birth_date: [yyyy-M-d]}\n")
    c = config.load(env="dev", conf_dir=conf_copy).sources["prakerja"]
    assert c.date_formats["birth_date"] == ["yyyy-M-d"] and "birth_date" in c.required


# ---------------------------------------------------------------- expressions


def _contract(derive_yaml: str, **extra):
    import yaml

    return config.SourceContract.model_validate({"format": "csv", "path": "/x", "columns": {"record_key": "id"},
                                                 "derive": yaml.safe_load(derive_yaml)["derive"], **extra})


def test_derived_expressions_on_a_tiny_frame(spark):
    from padan.ingest.derive import DERIVED_PREFIX, with_derived

    c = _contract("derive:\n  name: {concat: [depan, belakang]}\n  address: {concat: [_jalan, kota], sep: ', '}\n"
                  "  _jalan: {coalesce: [jalan1, jalan2]}\n" + ADDRESS_DERIVE.replace("derive:\n", ""))
    rows = [
        ("1", "Budi", "Santoso", None, "Jl. Mawar 3", "Bogor", "JL. NANGKA NO. 77 RT 013 RW 001, KEL. WONOHARJO, KEC. GUNUNGJATI"),
        ("2", "  ", "Sutrisno", "", "  Gg. Melati ", None, "Dusun Parang Lemo Rt 001 Rw 002, Desa Bonto Majannang, Kec. Salu Raya"),
        ("3", None, None, None, None, None, "DUSUN AIR BARU RT 14/02 RANTAU BARU BUKIT HILIR"),
        ("4", "Ani", None, "Jl. A", None, "", "KP. WANAGALIH, SUMURRAHAYU"),
        ("5", "X", "Y", None, None, None, None),
    ]
    df = spark.createDataFrame(rows, "id STRING, depan STRING, belakang STRING, jalan1 STRING, jalan2 STRING, "
                                     "kota STRING, alamat_domisili STRING")
    got = {r["id"]: r for r in with_derived(df, c).collect()}
    d = lambda i, f: got[i][DERIVED_PREFIX + f]  # noqa: E731
    assert [d(i, "name") for i in "12345"] == ["Budi Santoso", "Sutrisno", None, "Ani", "X Y"]
    assert [d(i, "address") for i in "12345"] == ["Jl. Mawar 3, Bogor", "Gg. Melati", None, "Jl. A", None]
    assert [d(i, "rt") for i in "12345"] == ["13", "1", "14", None, None]
    assert [d(i, "rw") for i in "12345"] == ["1", "2", "2", None, None]
    assert [d(i, "desa") for i in "12345"] == ["WONOHARJO", "Bonto Majannang", None, None, None]
    assert [d(i, "kecamatan") for i in "12345"] == ["GUNUNGJATI", "Salu Raya", None, None, None]
    assert DERIVED_PREFIX + "_jalan" not in got["1"].asDict()
    assert with_derived(df, _contract("derive: {}")).columns == df.columns


def test_a_pattern_is_a_value_not_sql(spark):
    """A pattern holding SQL quotes and comment marks is matched as a regular expression, not run."""
    from padan.ingest.derive import DERIVED_PREFIX, with_derived

    c = _contract("derive:\n  desa: {regex_extract: {column: a, pattern: \"'\\\\); DROP TABLE x; -- (.+)\", group: 1}}\n")
    df = spark.createDataFrame([("1", "'); DROP TABLE x; -- ok"), ("2", "plain")], "id STRING, a STRING")
    got = sorted((r["id"], r[DERIVED_PREFIX + "desa"]) for r in with_derived(df, c).collect())
    assert got == [("1", "ok"), ("2", None)]


# ---------------------------------------------------------------- ingest


def _tiny_register(root: Path) -> Path:
    src = root / "reg"
    src.mkdir(parents=True)
    (src / "part-0.csv").write_text(
        "id,nama_depan,nama_belakang,thn,bln,tgl,alamat_domisili,kab\n"
        "A1,Budi,Santoso,1980,3,7,\"JL. NANGKA NO. 77 RT 013 RW 001, KEL. WONOHARJO, KEC. GUNUNGJATI\",Kab. Bogor\n"
        "A2,,Sutrisno,1975,12,31,\"Dusun Parang Lemo Rt 001 Rw 002, Desa Bonto Majannang, Kec. Salu Raya\",Kota Bogor\n"
        "A3,,,1990,1,2,,Bogor\n")
    return src


@pytest.mark.integration    # whole stages end to end: full suite, not the fast tier
def test_ingest_through_a_contract_with_derived_fields(spark, tmp_path):
    from pyspark.sql import functions as F

    from padan.stages import Ctx, run_ingest

    src = _tiny_register(tmp_path)
    contract = {"format": "csv", "path": str(src), "record_key": "id",
                "columns": {"record_key": "id", "kabupaten": "kab", "address": "alamat_domisili"},
                "required": ["record_key", "name"],
                "derive": {"name": {"concat": ["nama_depan", "nama_belakang"]},
                           "birth_date": {"concat": ["thn", "bln", "tgl"], "sep": "-"},
                           "rt": {"regex_extract": {"column": "alamat_domisili", "pattern": r"\bRT\.?\s*0*([0-9]{1,3})",
                                                    "ignore_case": True}},
                           "desa": {"regex_extract": {"column": "alamat_domisili", "ignore_case": True,
                                                      "pattern": r"(?:\bDESA|\bKEL\.)\s+([^,]+?)\s*(?:,|$)"}}},
                "date_formats": {"birth_date": ["yyyy-M-d"]}}
    cfg = config.load(env="base", conf_dir=REPO / "conf", overrides={
        "lake": {"root": str(tmp_path / "lake")}, "sources": {"reg": contract}})
    ctx = Ctx.create(spark, cfg, run_date="2026-11-28")
    res = run_ingest(ctx, "reg")
    assert (res.rows_read, res.rows_standardised, res.rows_rejected) == (3, 2, 1)
    got = {r["record_key"]: r for r in ctx.lake.read("silver.persons").where(F.col("source_dataset") == "reg").collect()}
    assert got["A1"]["name_clean"] == "BUDI SANTOSO" and got["A2"]["name_clean"] == "SUTRISNO"
    assert str(got["A1"]["birth_date"]) == "1980-03-07" and got["A2"]["dob_placeholder"]
    assert (got["A1"]["rt"], got["A2"]["rt"]) == ("13", "1")
    assert (got["A1"]["desa"], got["A2"]["desa"]) == ("WONOHARJO", "BONTO MAJANNANG")
    rejected = ctx.lake.read("ops.rejects").where(F.col("source") == "reg").collect()
    assert [(r["record_key"], r["reasons"]) for r in rejected] == [("A3", ["no_name"])]
    bronze_cols = set(ctx.lake.read("bronze.reg").columns)
    assert {"nama_depan", "thn", "alamat_domisili"} <= bronze_cols
    assert not any(c.startswith("_derived__") for c in bronze_cols)


def test_a_derivation_reading_an_absent_column_stops_the_ingest(spark, tmp_path):
    from padan.stages import Ctx, run_ingest

    src = _tiny_register(tmp_path)
    contract = {"format": "csv", "path": str(src), "record_key": "id", "columns": {"record_key": "id"},
                "derive": {"name": {"concat": ["nama_depan", "nama_tengah", "nama_belakang"]}}}
    cfg = config.load(env="base", conf_dir=REPO / "conf", overrides={
        "lake": {"root": str(tmp_path / "lake")}, "sources": {"reg": contract}})
    with pytest.raises(ContractError) as err:
        run_ingest(Ctx.create(spark, cfg, run_date="2026-11-28"), "reg")
    assert err.value.exit_code == 3 and err.value.column == "nama_tengah" and err.value.source == "reg"
    assert "name, derived" in str(err.value) and "part-0.csv" in str(err.value)
