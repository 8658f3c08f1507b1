"""Ingest and standardisation on purpose-built bad input: every row ends in silver or rejects."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import functions as F

from padan.errors import ContractError
from padan.stages import Ctx, run_ingest

HEADER = ("id_individu,id_keluarga,no_kk,nik,nama,tgl_lahir,jenis_kelamin,hubungan_keluarga,alamat,rt,rw,"
          "desa_kelurahan,kecamatan,kabupaten_kota,provinsi,kode_wilayah,desil,pekerjaan,pendidikan,penerima_pkh,"
          "penerima_bpnt")


def row(key: str, nik: str = "3201014508900001", name: str = "SITI CONTOH", dob: str = "05-08-1990", sex: str = "P",
        kab: str = "KAB. CONTOH", prov: str = "JAWA BARAT", desil: str = "1", kode: str = "3201010001") -> str:
    return ",".join([key, "K1", "3201010101010001", nik, name, dob, sex, "ISTRI", "JL CONTOH", "001", "002", "DESA A",
                     "KEC B", kab, prov, kode, desil, "", "", "Ya", "Tidak"])


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    folder = tmp_path / name
    folder.mkdir(parents=True, exist_ok=True)
    f = folder / "part-0.csv"
    f.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return folder


@pytest.fixture
def ctx(spark, cfg):
    return Ctx.create(spark, cfg, run_date="2026-11-28")


def test_bad_rows_flow_through_or_are_rejected_with_reasons(ctx, tmp_path):
    long_name = "A" * 10_000
    lines = [
        HEADER,
        row("R01"),                                               # good
        row("R02", name='"O\'Brien; DROP TABLE persons; --"'),    # quotes, semicolon, SQL-looking text
        row("R03", name="Siti 😀 Aminah"),                        # emoji
        row("R04", dob="31-02-1990"),                             # impossible date -> null + flag
        row("R05", dob="00-00-0000", nik=""),                     # no NIK, no date: a name and a kabupaten
        row("R06", name=long_name),                               # 10,000-character name
        "R07,broken,line",                                        # malformed
        row("R08", name=""),                                      # no name
        row("R01"),                                               # duplicate key
        row("", name="NO KEY"),                                   # no key
        row("R09", nik="9999999999999999", dob="01-07-1980"),    # placeholder NIK, placeholder date
        row("R10", name='"Budi, S.Pd."'),                         # quoted delimiter
        row("R11", dob="", nik="", kab="", prov="", kode=""),     # a name, nothing else: nothing identifies
        row("R12", dob="", nik="", kab=""),                       # a name and a province only: not enough
    ]
    path = write(tmp_path, "p3ke", "\n".join(lines) + "\n")
    r = run_ingest(ctx, "p3ke", path=str(path))
    assert r.rows_read == 14
    assert r.rows_read == r.rows_standardised + r.rows_rejected

    persons = {x.record_key: x for x in ctx.lake.read("silver.persons").collect()}
    rejects = {(x.record_key, x.line): x for x in ctx.lake.read("ops.rejects").collect()}
    assert set(persons) == {"R01", "R02", "R03", "R04", "R05", "R09", "R10"}
    assert persons["R05"].nik_valid is False and persons["R05"].birth_date is None
    assert persons["R05"].kabupaten == "CONTOH" and "nik_missing" in persons["R05"].flags
    assert persons["R02"].name_clean == "O BRIEN DROP TABLE PERSONS"
    assert persons["R03"].name_clean == "SITI AMINAH"
    assert persons["R04"].birth_date is None and persons["R04"].birth_date_invalid
    assert "birth_date_invalid" in persons["R04"].flags
    assert persons["R09"].nik_valid is False and persons["R09"].nik_issue == "placeholder"
    assert persons["R09"].dob_placeholder is True
    assert persons["R10"].name_clean == "BUDI"
    reasons = {k: set(v.reasons) for k, v in rejects.items()}
    assert reasons[("R11", 14)] == reasons[("R12", 15)] == {"no_identifying_field"}
    assert "name_too_long" in reasons[("R06", 7)]
    assert "malformed_line" in reasons[("R07", 8)]
    assert "no_name" in reasons[("R08", 9)]
    assert reasons[("R01", 10)] == {"duplicate_record_key"}
    assert "missing_record_key" in reasons[(None, 11)]
    # the raw text is kept for the rejected rows, so nothing is lost
    assert rejects[("R07", 8)].raw_text == "R07,broken,line"
    # the ledger has the counts
    runs = ctx.lake.read("ops.runs").where(F.col("stage") == "ingest").first()
    assert runs.status == "succeeded" and runs.row_counts["read"] == 14


def test_rerun_of_same_batch_is_skipped_and_changes_nothing(ctx, tmp_path):
    path = write(tmp_path, "p3ke", "\n".join([HEADER, row("A1"), row("A2", name="BUDI")]) + "\n")
    first = run_ingest(ctx, "p3ke", path=str(path))
    v = ctx.lake.version("silver.persons")
    again = run_ingest(ctx, "p3ke", path=str(path))
    assert again.skipped and again.batch_id == first.batch_id
    assert ctx.lake.version("silver.persons") == v


def test_missing_required_column_stops_before_writing(ctx, tmp_path):
    header = HEADER.replace(",nama,", ",nama_x,")
    path = write(tmp_path, "p3ke", header + "\n" + row("R1") + "\n")
    versions = {t: ctx.lake.version(t) for t in ("silver.persons", "ops.rejects", "ops.runs")}
    with pytest.raises(ContractError) as err:
        run_ingest(ctx, "p3ke", path=str(path))
    msg = str(err.value)
    assert "p3ke" in msg and "nama" in msg and "part-0.csv" in msg
    assert not ctx.lake.exists("bronze.p3ke")
    assert {t: ctx.lake.version(t) for t in versions} == versions      # nothing was written anywhere


def test_wrong_delimiter_is_named(ctx, tmp_path):
    path = write(tmp_path, "p3ke", HEADER.replace(",", ";") + "\n" + row("R1").replace(",", ";") + "\n")
    with pytest.raises(ContractError, match="delimiter"):
        run_ingest(ctx, "p3ke", path=str(path))


@pytest.mark.parametrize("content", ["", HEADER + "\n"], ids=["empty-file", "header-only"])
def test_empty_inputs_ingest_zero_rows(ctx, tmp_path, content):
    path = write(tmp_path, "p3ke", content)
    r = run_ingest(ctx, "p3ke", path=str(path))
    assert (r.rows_read, r.rows_standardised, r.rows_rejected) == (0, 0, 0)


def test_non_utf8_bytes_are_rejected_and_all_null_columns_flow_through(ctx, tmp_path):
    good = row("U1", name="SITI CONTOH").encode()
    bad = row("U2", name="RAHMAT\xc9").encode("latin-1")            # invalid UTF-8 byte in a name
    nulls = row("U3").replace(",K1,", ",,").encode()
    path = write(tmp_path, "p3ke", b"\n".join([HEADER.encode(), good, bad, nulls]) + b"\n")
    r = run_ingest(ctx, "p3ke", path=str(path))
    assert (r.rows_read, r.rows_standardised, r.rows_rejected) == (3, 2, 1)
    assert {x.record_key for x in ctx.lake.read("silver.persons").collect()} == {"U1", "U3"}
    (rej,) = ctx.lake.read("ops.rejects").collect()
    assert (rej.record_key, rej.line, list(rej.reasons)) == ("U2", 3, ["undecodable_text"])


def test_missing_input_path_is_a_contract_error(ctx, tmp_path):
    with pytest.raises(ContractError, match="no input found"):
        run_ingest(ctx, "p3ke", path=str(tmp_path / "nothing-here"))


@pytest.mark.integration    # whole stages end to end: full suite, not the fast tier
def test_a_third_register_is_added_by_a_file_alone(spark, tmp_path):
    """DTKS-like source in Parquet with its own column names and codes: one YAML file, no code."""
    import shutil

    from padan import config

    repo = Path(__file__).resolve().parents[1]
    conf = tmp_path / "conf"
    shutil.copytree(repo / "conf" / "base", conf / "base")
    data = tmp_path / "dtks"
    rows = [("D-1", "3201014508900001", "Hj. Siti Aminah", "1990/08/05", "2", "Kab. Bogor", "Jawa Barat"),
            ("D-2", "", "Moh. Rizki", "1988/01/15", "1", "Kota Bandung", "Jawa Barat"),
            ("D-3", "", "", "", "1", "", "")]
    spark.createDataFrame(rows, "idartbdt string, nik_art string, nama_art string, tanggal_lahir string, "
                                "jnskel string, kabkot string, prov string").write.parquet(str(data))
    (conf / "base" / "sources" / "dtks.yml").write_text(f"""
description: DTKS social welfare register extract
format: parquet
path: {data}
record_key: idartbdt
columns:
  record_key: idartbdt
  nik: nik_art
  name: nama_art
  birth_date: tanggal_lahir
  sex: jnskel
  kabupaten: kabkot
  provinsi: prov
required: [record_key, name, birth_date]
date_formats:
  birth_date: [yyyy/MM/dd]
value_maps:
  sex: {{"1": L, "2": P}}
""")
    cfg = config.load(env="base", conf_dir=conf, overrides={"lake": {"root": str(tmp_path / "lake")}})
    ctx = Ctx.create(spark, cfg, run_date="2026-11-28")
    r = run_ingest(ctx, "dtks")
    assert (r.rows_read, r.rows_standardised, r.rows_rejected) == (3, 2, 1)
    got = {x.unique_id: x for x in ctx.lake.read("silver.persons").collect()}
    assert got["dtks:D-1"].name_clean == "SITI AMINAH" and got["dtks:D-1"].sex == "P"
    assert got["dtks:D-1"].nik_valid and got["dtks:D-1"].province_code == "32"
    assert got["dtks:D-2"].name_clean == "MUHAMMAD RIZKI" and got["dtks:D-2"].dob_placeholder
    assert got["dtks:D-2"].kabupaten == "KOTA BANDUNG"
    line = ctx.lake.read("ops.rejects").first()
    assert line.source == "dtks" and line.line is not None and "no_name" in line.reasons


def test_cli_with_a_relative_lake_root(spark, tmp_path, monkeypatch, capsys):
    """`make run` uses the local env's relative root './lake'; Delta refuses a relative table location,
    so the lake makes it absolute (a regression: the tests all used absolute temp paths)."""
    from padan.cli import main

    path = write(tmp_path, "p3ke", "\n".join([HEADER, row("A1"), row("A2", name="BUDI")]) + "\n")
    monkeypatch.chdir(tmp_path)
    code = main(["ingest", "--env", "base", "--lake", "./rel_lake", "--source", "p3ke", "--path", str(path),
                 "--run-date", "2026-11-28"])
    assert code == 0
    assert "standardised=2" in capsys.readouterr().out
    assert spark.read.format("delta").load(str(tmp_path / "rel_lake" / "silver" / "persons")).count() == 2


def test_a_mapped_column_absent_from_a_csv_file_is_a_contract_error(ctx, tmp_path):
    """Not required, but mapped: absent it would read as null in every row."""
    header = HEADER.replace(",pekerjaan,", ",pekerjaan_x,")
    path = write(tmp_path, "p3ke", header + "\n" + row("R1") + "\n")
    versions = {t: ctx.lake.version(t) for t in ("silver.persons", "ops.rejects", "ops.runs")}
    with pytest.raises(ContractError) as err:
        run_ingest(ctx, "p3ke", path=str(path))
    assert err.value.exit_code == 3
    assert (err.value.source, err.value.column) == ("p3ke", "pekerjaan")
    assert err.value.file.endswith("part-0.csv") and "occupation" in str(err.value)
    assert {t: ctx.lake.version(t) for t in versions} == versions


def test_a_mapped_column_absent_from_one_parquet_file_is_an_error_until_unmapped(spark, tmp_path):
    """Two Parquet files, one without the mapped province column: an error naming the file; an
    overlay-only conf folder that maps the field to null ingests both files."""
    from padan import config

    data = tmp_path / "dtks"
    spark.createDataFrame([("D-1", "Siti Aminah", "1990/08/05", "Jawa Barat")],
                          "idartbdt string, nama_art string, tanggal_lahir string, prov string"
                          ).write.parquet(str(data / "a"))
    spark.createDataFrame([("D-2", "Budi Contoh", "1988/01/15")],
                          "idartbdt string, nama_art string, tanggal_lahir string").write.parquet(str(data / "b"))
    overlay = tmp_path / "conf"
    (overlay / "sources").mkdir(parents=True)
    contract = f"""
format: parquet
path: {data}
record_key: idartbdt
columns: {{record_key: idartbdt, name: nama_art, birth_date: tanggal_lahir, provinsi: prov}}
required: [record_key, name]
date_formats: {{birth_date: [yyyy/MM/dd]}}
"""
    (overlay / "sources" / "dtks.yml").write_text(contract)
    lake = {"lake": {"root": str(tmp_path / "lake")}}
    ctx = Ctx.create(spark, config.load(env="base", conf_dir=overlay, overrides=lake), run_date="2026-11-28")
    with pytest.raises(ContractError) as err:
        run_ingest(ctx, "dtks")
    assert (err.value.source, err.value.column) == ("dtks", "prov") and "/b/" in err.value.file
    (overlay / "dev" / "sources").mkdir(parents=True)
    (overlay / "dev" / "sources" / "dtks.yml").write_text("columns: {provinsi: null}\n")
    ctx = Ctx.create(spark, config.load(env="dev", conf_dir=overlay, overrides=lake), run_date="2026-11-28")
    r = run_ingest(ctx, "dtks")
    assert (r.rows_read, r.rows_standardised) == (2, 2)
    assert {x.provinsi for x in ctx.lake.read("silver.persons").collect()} == {None}
