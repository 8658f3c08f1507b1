"""The bad-input corpus: every kind of bad value, encoding and file layout, and its outcome.

Each kind has one obvious outcome: a reject with a reason, a flag on the silver row, a kept value,
or a clear error (exit 3 for a source-contract problem, exit 2 for a bad config) whose message
names the source, the file and, where there is one, the column. Nothing is lost: for every file,
rows in = rows accepted + rows rejected.

Fast tier: the row-level kinds of each source are one small file, read and standardised with the
real ingest functions (one Spark job per file, no Delta); file-level kinds stop before any row is
read. One integration test runs the whole `run_ingest` (Delta tables, ledger) on the corpus.
All names are obviously synthetic ("CONTOH SATU").
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from padan.errors import ConfigError, ContractError

REPO = Path(__file__).resolve().parents[1]

P3KE_HEADER = ["id_individu", "id_keluarga", "no_kk", "nik", "nama", "tgl_lahir", "jenis_kelamin", "hubungan_keluarga",
               "alamat", "rt", "rw", "desa_kelurahan", "kecamatan", "kabupaten_kota", "provinsi", "kode_wilayah", "desil",
               "pekerjaan", "pendidikan", "penerima_pkh"]
PRAKERJA_HEADER = ["id_pendaftar", "nik", "no_kk", "nama_lengkap", "tanggal_lahir", "jenis_kelamin", "email", "no_hp",
                   "alamat_domisili", "kabupaten_kota", "provinsi", "status_pekerjaan", "pendidikan_terakhir",
                   "tanggal_daftar", "gelombang", "status_penerima"]
P3KE_GOOD = {"id_keluarga": "K1", "no_kk": "3201010101010001", "nik": "3201014508900001", "nama": "SITI CONTOH",
             "tgl_lahir": "05-08-1990", "jenis_kelamin": "P", "hubungan_keluarga": "ISTRI", "alamat": "JL CONTOH",
             "rt": "001", "rw": "002", "desa_kelurahan": "DESA A", "kecamatan": "KEC B", "kabupaten_kota": "KAB. CONTOH",
             "provinsi": "JAWA BARAT", "kode_wilayah": "3201010001", "desil": "1", "pekerjaan": "", "pendidikan": "",
             "penerima_pkh": "Ya"}
PRAKERJA_GOOD = {"nik": "3201010508900002", "no_kk": "", "nama_lengkap": "BUDI CONTOH", "tanggal_lahir": "1990-08-05",
                 "jenis_kelamin": "LAKI-LAKI", "email": "budi.contoh@contoh.example", "no_hp": "081234567890",
                 "alamat_domisili": "JL CONTOH", "kabupaten_kota": "KAB. CONTOH", "provinsi": "JAWA BARAT",
                 "status_pekerjaan": "", "pendidikan_terakhir": "", "tanggal_daftar": "2021-03-05", "gelombang": "1",
                 "status_penerima": "Ya"}


@dataclass(frozen=True)
class Kind:
    key: str
    what: str
    values: dict            # raw column -> text (str) or raw bytes (bytes: written as is)
    reject: str | None = None    # the reason it is rejected with (the only one), or None: accepted
    flag: str | None = None      # a flag the accepted row carries
    expect: dict | None = None   # silver column -> value


# P3KE: desil, sex, nik, name, birth_date, kabupaten, provinsi are required (conf/base/sources/p3ke.yml)
P3KE_KINDS = [
    Kind("B01", "clean row", {}, flag=None, expect={"desil": 1, "sex": "P", "name_clean": "SITI CONTOH"}),
    Kind("B02", "desil -1", {"desil": "-1"}, reject="invalid_desil"),
    Kind("B03", "desil 0", {"desil": "0"}, reject="invalid_desil"),
    Kind("B04", "desil 11", {"desil": "11"}, reject="invalid_desil"),
    Kind("B05", "desil 1.5", {"desil": "1.5"}, reject="invalid_desil"),
    Kind("B06", "desil as a word", {"desil": "sepuluh"}, reject="invalid_desil"),
    Kind("B07", "desil in Arabic-Indic digits", {"desil": "\u0663"}, reject="invalid_desil"),
    Kind("B08", "desil with a leading zero", {"desil": "01"}, expect={"desil": 1}),
    Kind("B09", "desil padded with spaces", {"desil": " 3 "}, expect={"desil": 3}),
    Kind("B10", "desil from a numeric column", {"desil": "4.0"}, expect={"desil": 4}),
    Kind("B11", "desil blank (required)", {"desil": ""}, flag="desil_missing", expect={"desil": None}),
    Kind("B12", "sex outside the value map", {"jenis_kelamin": "X"}, reject="invalid_sex"),
    Kind("B13", "sex code 3", {"jenis_kelamin": "3"}, reject="invalid_sex"),
    Kind("B14", "sex blank (required)", {"jenis_kelamin": ""}, flag="sex_missing", expect={"sex": None}),
    Kind("B15", "sex in lower case with spaces", {"jenis_kelamin": " perempuan "}, expect={"sex": "P"}),
    Kind("B16", "region code of an unknown province", {"kode_wilayah": "99"}, flag="kode_wilayah_invalid",
         expect={"province_code": "32"}),     # the province name still gives the code
    Kind("B17", "region code without digits", {"kode_wilayah": "abc"}, flag="kode_wilayah_invalid"),
    Kind("B18", "region code of 7 digits", {"kode_wilayah": "3201010"}, flag="kode_wilayah_invalid",
         expect={"province_code": "32"}),   # its known province prefix is still used
    Kind("B19", "region code with dots", {"kode_wilayah": "32.01.01.0001"}, expect={"regency_code": "3201"}),
    Kind("B20", "impossible birth date", {"tgl_lahir": "31-02-1990"}, flag="birth_date_invalid",
         expect={"birth_date": None}),
    Kind("B21", "NIK blank (required)", {"nik": ""}, flag="nik_missing"),
    Kind("B22", "one byte that is not UTF-8 in a name", {"nama": b"CONTOH DU\xff"}, reject="undecodable_text"),
    Kind("B23", "a Latin-1 name in a UTF-8 file", {"nama": "JOSÉ MARÍA CONTOH".encode("latin-1")},
         reject="undecodable_text"),
    Kind("B24", "Arabic-script name with vowel points", {"nama": "عَبْدُ الله"}, expect={"name_clean": "عبد الله"}),
    Kind("B25", "Devanagari name", {"nama": "राम कुमार"}, expect={"name_clean": "राम कुमार", "name_tokens": 2}),
    Kind("B26", "Cyrillic name", {"nama": "Иван Контоев"}, expect={"name_clean": "ИВАН КОНТОЕВ"}),
    Kind("B27", "Han name", {"nama": "王 小明"}, expect={"name_clean": "王 小明"}),
    Kind("B28", "Latin and Arabic script mixed", {"nama": "Siti مريم"}, expect={"name_clean": "SITI مريم"}),
    Kind("B29", "name of an emoji only", {"nama": "😀"}, reject="no_name"),
    Kind("B30", "accented Latin name in UTF-8", {"nama": "JOSÉ MARÍA CONTOH"}, expect={"name_clean": "JOSE MARIA CONTOH"}),
    Kind("B31", "title and degree around a name", {"nama": '"H. CONTOH SATU, S.Pd."'}, expect={"name_clean": "CONTOH SATU"}),
    Kind("B32", "blank name", {"nama": ""}, reject="no_name"),
    Kind("B33", "a NUL character inside a name", {"nama": "CONTOH\x00SATU"}, expect={"name_clean": "CONTOH SATU"}),
    Kind("B34", "SQL-looking text in desil", {"desil": "1' OR '1'='1"}, reject="invalid_desil"),
    Kind("B35", "zero-width space in a name", {"nama": "CONTOH\u200bDUA"}, expect={"name_clean": "CONTOH DUA"}),
]

# Prakerja: only record_key, nik, name, birth_date are required, so bad coded values are flags
PRAKERJA_KINDS = [
    Kind("K01", "clean row", {}, expect={"sex": "L", "phone": "6281234567890"}),
    Kind("K02", "sex outside the value map (not required)", {"jenis_kelamin": "?"}, flag="sex_invalid",
         expect={"sex": None}),
    Kind("K03", "sex blank", {"jenis_kelamin": ""}, flag="sex_missing"),
    Kind("K04", "a landline, not a mobile number", {"no_hp": "021-555-1234"}, flag="phone_invalid",
         expect={"phone": None}),
    Kind("K05", "an e-mail that is not an address", {"email": "not an email"}, flag="email_invalid"),
    Kind("K06", "registration date that parses with no format", {"tanggal_daftar": "garbage"},
         flag="registered_at_invalid"),
    Kind("K07", "registration date with month 13", {"tanggal_daftar": "2020-13-01"}, flag="registered_at_invalid"),
    Kind("K08", "Arabic-script name", {"nama_lengkap": "محمد رضا"}, expect={"name_clean": "محمد رضا"}),
    Kind("K09", "one byte that is not UTF-8", {"alamat_domisili": b"JL \xc0 CONTOH"}, reject="undecodable_text"),
    Kind("K10", "desil is not mapped for Prakerja: no desil flag", {}, expect={"desil": None}),
    Kind("K11", "the last column, before a CRLF line end", {"status_penerima": "Penerima"},
         expect={"program_status": "PENERIMA"}),
    Kind("K12", "a record key with spaces around it", {"id_pendaftar": " K12 "}, expect={"unique_id": "prakerja:K12"}),
]


def _line(header: list[str], good: dict, key: str, values: dict) -> bytes:
    fields = []
    for col in header:
        v = values.get(col, key if col == header[0] else good.get(col, ""))
        fields.append(v if isinstance(v, bytes) else v.encode("utf-8"))
    return b",".join(fields)


def write_corpus(folder: Path, header: list[str], good: dict, kinds: list[Kind], bom: bool = False,
                 newline: bytes = b"\n") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    text = newline.join([(b"\xef\xbb\xbf" if bom else b"") + ",".join(header).encode(),
                         *[_line(header, good, k.key, k.values) for k in kinds]]) + newline
    (folder / "part-0.csv").write_bytes(text)
    return folder


@pytest.fixture(scope="module")
def base_cfg():
    from padan import config

    return config.load(env="base", conf_dir=REPO / "conf")


def standardise_files(spark, cfg, source: str, path: Path, contract=None, **extra):
    """The ingest's own read, keys and standardisation (no Delta), as a DataFrame."""
    from padan.ingest.read import list_files, read_source
    from padan.standardise.persons import standardise_rows, with_record_keys

    contract = contract or cfg.sources[source]
    s = cfg.standardise
    raw = read_source(spark, source, contract, list_files(spark, source, str(path)))
    keyed = with_record_keys(raw.rows, contract.record_key)
    kwargs = dict(source=source, batch_id="b1", columns=contract.columns, date_formats=contract.date_formats,
                  value_maps=contract.value_maps, key_column=contract.record_key, titles=s.name_titles,
                  muhammad_variants=s.muhammad_variants, placeholder_dates=s.placeholder_dates,
                  day15_placeholder=s.day15_placeholder, placeholder_niks=s.placeholder_niks,
                  min_birth_year=s.min_birth_year, reference_date="2026-11-28", required=contract.required,
                  valid_ranges=contract.valid_ranges)
    kwargs.update(extra)
    return standardise_rows(keyed, **kwargs)


# A contract declaring the files Latin-1 and P3KE's own deciles, [1, 4] (the shipped range is [1, 10]).
LATIN1_KINDS = [Kind("L1", "Latin-1 name under a Latin-1 contract, desil 4", {"nama": "JOSÉ MARÍA CONTOH".encode("latin-1"),
                                                                           "desil": "4"}),
                Kind("L2", "desil 5 under a [1, 4] range", {"desil": "5"}),
                Kind("L3", "a UTF-8 name under a Latin-1 contract", {"nama": "JOSÉ CONTOH".encode("utf-8")}),
                Kind("L4", "Windows-1252 quotes under a Latin-1 contract", {"alamat": "JL \u201cCONTOH\u201d".encode("cp1252")})]


@pytest.fixture(scope="module")
def corpus(spark, base_cfg, tmp_path_factory):
    """{part: {record key: standardised row}} for the row-level kinds, from one Spark job over the
    three files. The P3KE file starts with a UTF-8 byte-order mark and the Prakerja file has
    Windows (CRLF) line ends: both just work."""
    from padan.config import CsvOptions

    root = tmp_path_factory.mktemp("bad_input")
    latin1 = base_cfg.sources["p3ke"].model_copy(update={"csv": CsvOptions(encoding="ISO-8859-1"),
                                                         "valid_ranges": {"desil": (1, 4)}})
    parts = []
    for part, source, header, good, kinds, bom, nl, contract in (
            ("p3ke", "p3ke", P3KE_HEADER, P3KE_GOOD, P3KE_KINDS, True, b"\n", None),
            ("prakerja", "prakerja", PRAKERJA_HEADER, PRAKERJA_GOOD, PRAKERJA_KINDS, False, b"\r\n", None),
            ("latin1", "p3ke", P3KE_HEADER, P3KE_GOOD, LATIN1_KINDS, False, b"\n", latin1)):
        folder = write_corpus(root / part, header, good, kinds, bom, nl)
        parts.append(standardise_files(spark, base_cfg, source, folder, contract=contract)
                     .withColumn("_part", F.lit(part)))
    union = parts[0]
    for p in parts[1:]:
        union = union.unionByName(p)
    out: dict[str, dict] = {"p3ke": {}, "prakerja": {}, "latin1": {}}
    for r in union.collect():
        out[r["_part"]][r.record_key] = r
    for part, kinds in (("p3ke", P3KE_KINDS), ("prakerja", PRAKERJA_KINDS), ("latin1", LATIN1_KINDS)):
        assert len(out[part]) == len(kinds)     # rows in = rows out, one per input line
    return out


def _check(rows: dict, kind: Kind) -> None:
    r = rows[kind.key]
    if kind.reject:
        assert list(r.reasons) == [kind.reject], kind.what
    else:
        assert list(r.reasons) == [], kind.what
        if kind.flag:
            assert kind.flag in r.flags, kind.what
        else:    # no checked-field flag on a clean value
            assert not [f for f in r.flags if f.endswith(("_invalid", "desil_missing"))], kind.what
    for col, want in (kind.expect or {}).items():
        assert r[col] == want, (kind.what, col)


@pytest.mark.parametrize("kind", P3KE_KINDS, ids=lambda k: f"{k.key}-{k.what}")
def test_p3ke_kind(corpus, kind):
    _check(corpus["p3ke"], kind)


@pytest.mark.parametrize("kind", PRAKERJA_KINDS, ids=lambda k: f"{k.key}-{k.what}")
def test_prakerja_kind(corpus, kind):
    _check(corpus["prakerja"], kind)


def test_nothing_is_lost_and_every_line_keeps_its_place(corpus):
    """Rows in = accepted + rejected, per source; each row keeps its own line number."""
    for source, kinds in (("p3ke", P3KE_KINDS), ("prakerja", PRAKERJA_KINDS)):
        rows = corpus[source]
        accepted = [r for r in rows.values() if not r.reasons]
        rejected = [r for r in rows.values() if r.reasons]
        assert len(accepted) + len(rejected) == len(kinds) == len(rows)
        assert len(rejected) == sum(1 for k in kinds if k.reject)
        assert {k.key: i for i, k in enumerate(kinds, 2)} == {r.record_key: r.line for r in rows.values()}


def test_an_undecodable_line_keeps_its_raw_text_for_the_rejects(corpus):
    r = corpus["p3ke"]["B22"]
    assert "\ufffd" in r.raw_text and r.raw_text.startswith("B22,")


def test_a_contract_declaring_latin1_and_a_narrower_desil_range(corpus):
    """A Latin-1 file under a contract that says so keeps its letters; a contract declaring P3KE's
    own deciles, [1, 4], rejects a 5 (the shipped [1, 10] keeps it: B09, golden test)."""
    rows = corpus["latin1"]
    assert list(rows["L1"].reasons) == [] and rows["L1"].name_clean == "JOSE MARIA CONTOH" and rows["L1"].desil == 4
    assert list(rows["L2"].reasons) == ["invalid_desil"]
    # bytes of another encoding that ISO-8859-1 decodes to C1 control characters are not text
    assert list(rows["L3"].reasons) == list(rows["L4"].reasons) == ["undecodable_text"]


# ---------------------------------------------------------------- whole-file kinds: clear errors


def _contract_error(spark, base_cfg, source: str, folder: Path) -> ContractError:
    from padan.ingest.read import list_files, read_source

    with pytest.raises(ContractError) as err:
        read_source(spark, source, base_cfg.sources[source], list_files(spark, source, str(folder)))
    assert err.value.exit_code == 3 and err.value.source == source
    assert f"source '{source}'" in str(err.value) and "file '" in str(err.value)
    return err.value


def _p3ke_text(header: list[str]) -> str:
    return "\n".join([",".join(header), ",".join("E1" if c == "id_individu" else P3KE_GOOD.get(c, "") for c in header)]) + "\n"


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-be"], ids=["utf16-le-bom", "utf16-be-bom"])
def test_a_utf16_file_under_a_utf8_contract_says_the_encoding(spark, base_cfg, tmp_path, codec):
    folder = tmp_path / "p3ke"
    folder.mkdir()
    text = _p3ke_text(P3KE_HEADER)
    data = text.encode(codec) if codec == "utf-16" else b"\xfe\xff" + text.encode(codec)
    (folder / "part-0.csv").write_bytes(data)
    err = _contract_error(spark, base_cfg, "p3ke", folder)
    assert "UTF-16" in err.reason and "UTF-8" in err.reason and err.file.endswith("part-0.csv")
    assert "required column" not in err.reason


def test_a_header_that_does_not_decode_is_a_contract_error(spark, base_cfg, tmp_path):
    folder = tmp_path / "p3ke"
    folder.mkdir()
    (folder / "part-0.csv").write_bytes(_p3ke_text(P3KE_HEADER).replace("alamat", "alamat_\xe9").encode("latin-1"))
    err = _contract_error(spark, base_cfg, "p3ke", folder)
    assert "not valid UTF-8" in err.reason and "line 1" in err.reason


@pytest.mark.parametrize("dup,label", [("nama", "same name"), ("NAMA", "differs in case"), ("id_keluarga", "unmapped")])
def test_a_column_named_twice_in_the_header_is_a_contract_error(spark, base_cfg, tmp_path, dup, label):
    folder = tmp_path / "p3ke"
    folder.mkdir()
    (folder / "part-0.csv").write_text(_p3ke_text([*P3KE_HEADER, dup]))
    err = _contract_error(spark, base_cfg, "p3ke", folder)
    assert err.column == dup and "twice" in err.reason, label


def test_a_symlink_loop_is_a_contract_error(spark, base_cfg, tmp_path):
    folder = tmp_path / "p3ke"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "part-0.csv").write_text(_p3ke_text(P3KE_HEADER))
    os.symlink(folder, folder / "sub" / "loop")
    err = _contract_error(spark, base_cfg, "p3ke", folder)
    assert "loop" in err.file and "symbolic link" in err.reason


def test_a_second_link_to_the_same_folder_or_file_is_a_contract_error(spark, base_cfg, tmp_path):
    folder = tmp_path / "p3ke"
    (folder / "a").mkdir(parents=True)
    (folder / "a" / "part-0.csv").write_text(_p3ke_text(P3KE_HEADER))
    os.symlink(folder / "a", folder / "b")
    assert "would be read twice" in _contract_error(spark, base_cfg, "p3ke", folder).reason
    os.unlink(folder / "b")
    os.symlink(folder / "a" / "part-0.csv", folder / "a" / "part-1.csv")
    assert "would be read twice" in _contract_error(spark, base_cfg, "p3ke", folder).reason


def test_a_symlinked_source_folder_is_read_once(spark, base_cfg, tmp_path):
    from padan.ingest.read import list_files

    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "part-0.csv").write_text(_p3ke_text(P3KE_HEADER))
    os.symlink(tmp_path / "real", tmp_path / "current")
    assert len(list_files(spark, "p3ke", str(tmp_path / "current"))) == 1


@pytest.mark.parametrize("overlay,words", [
    ({"csv": {"encoding": "UTF-16"}}, ["UTF-16", "not supported"]),
    ({"csv": {"encoding": "windows-1252"}}, ["windows-1252", "not supported"]),
    ({"valid_ranges": {"desil": [10, 1]}}, ["valid_ranges", "above"]),
    ({"valid_ranges": {"sex": [1, 2]}}, ["valid_ranges", "sex"]),
], ids=["utf16", "cp1252", "backwards-range", "range-of-a-code"])
def test_contract_encoding_and_ranges_are_checked_on_load(overlay, words):
    from padan import config

    with pytest.raises(ConfigError) as err:
        config.load(env="base", conf_dir=REPO / "conf", overrides={"sources": {"p3ke": overlay}})
    assert err.value.exit_code == 2 and all(w in str(err.value) for w in words)


def test_encoding_spellings_are_accepted():
    from padan.config import CsvOptions

    assert [CsvOptions(encoding=e).encoding for e in ("utf8", "latin-1", "iso-8859-1", "US-ASCII")] == [
        "UTF-8", "ISO-8859-1", "ISO-8859-1", "US-ASCII"]


def test_the_cli_exits_3_naming_source_file_and_column(spark, tmp_path, capsys):
    from padan.cli import main

    folder = tmp_path / "p3ke"
    folder.mkdir()
    (folder / "part-0.csv").write_text(_p3ke_text([*P3KE_HEADER, "desil"]))
    code = main(["ingest", "--env", "base", "--lake", str(tmp_path / "lake"), "--source", "p3ke",
                 "--path", str(folder), "--run-date", "2026-11-28"])
    err = capsys.readouterr().err
    assert code == 3
    assert "source 'p3ke'" in err and "part-0.csv" in err and "column 'desil'" in err


# ---------------------------------------------------------------- the whole ingest


@pytest.mark.integration
def test_run_ingest_of_the_corpus_lands_every_row_in_silver_or_rejects(spark, tmp_path):
    """The real `run_ingest` (bronze, silver, rejects, quality, ledger) on both corpus files: the
    counted invariant holds and the rejects carry the reasons the kinds expect."""
    from padan import config
    from padan.stages import Ctx, run_ingest

    cfg = config.load(env="base", conf_dir=REPO / "conf", overrides={"lake": {"root": str(tmp_path / "lake")}})
    ctx = Ctx.create(spark, cfg, run_date="2026-11-28")
    for source, header, good, kinds in (("p3ke", P3KE_HEADER, P3KE_GOOD, P3KE_KINDS),
                                        ("prakerja", PRAKERJA_HEADER, PRAKERJA_GOOD, PRAKERJA_KINDS)):
        r = run_ingest(ctx, source, path=str(write_corpus(tmp_path / source, header, good, kinds)))
        assert r.rows_read == len(kinds) == r.rows_standardised + r.rows_rejected
        assert r.rows_rejected == sum(1 for k in kinds if k.reject)
        got = {x.record_key: list(x.reasons) for x in
               ctx.lake.read("ops.rejects").where(F.col("source") == source).collect()}
        assert got == {k.key: [k.reject] for k in kinds if k.reject}
        quality = {(q.metric, q.field): q.value for q in
                   ctx.lake.read("ops.quality").where(F.col("source") == source).collect()}
        for reason in {k.reject for k in kinds if k.reject}:
            assert quality[("rejects_by_reason", reason)] == sum(1 for k in kinds if k.reject == reason)


def test_every_reason_and_checked_field_is_documented():
    from padan.standardise.persons import CHECKED_FIELDS, REASON_CODES

    readme = (REPO / "README.md").read_text()
    assert not [r for r in REASON_CODES if not r.startswith("invalid_") and f"`{r}`" not in readme]
    assert not [f for f in CHECKED_FIELDS if f"`{f}`" not in readme]
    assert "`invalid_<field>`" in readme and "`<field>_invalid`" in readme


@pytest.mark.parametrize("kind", ["zero-bytes", "not-parquet", "nanosecond-timestamps"])
def test_a_parquet_file_spark_cannot_read_is_a_contract_error(spark, base_cfg, tmp_path, kind):
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path / "p3ke"
    folder.mkdir()
    f = folder / "part-0.parquet"
    if kind == "zero-bytes":
        f.write_bytes(b"")
    elif kind == "not-parquet":
        f.write_text(_p3ke_text(P3KE_HEADER))
    else:
        cols = {c: pa.array(["E1" if c == "id_individu" else P3KE_GOOD[c]]) for c in P3KE_HEADER}
        cols["dimuat"] = pa.array([1_700_000_000_000_000_123], type=pa.timestamp("ns"))
        pq.write_table(pa.table(cols), f, version="2.6", coerce_timestamps=None)
    contract = base_cfg.sources["p3ke"].model_copy(update={"format": "parquet"})
    from padan.ingest.read import list_files, read_source

    with pytest.raises(ContractError) as err:
        read_source(spark, "p3ke", contract, list_files(spark, "p3ke", str(folder)))
    assert err.value.exit_code == 3 and err.value.file.endswith("part-0.parquet")
    assert "cannot be read as parquet" in err.value.reason and "CONTOH" not in str(err.value)
