"""The synthetic data generator: contract columns, determinism, NIK structure, damage rates, truth."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
from pyspark.sql import functions as F

from padan.standardise.columns import nik_birth_parts, nik_digits, nik_issue, nik_sex
from padan_synth import (P3KE_COLUMNS, PRAKERJA_COLUMNS, PROFILES, TRUTH_COLUMNS, generate, generate_debug,
                         write_extracts)
from padan_synth.profiles import SourceRates

pytestmark = pytest.mark.synth

P_ROWS, Q_ROWS, SEED = 4000, 4000, 11
REF_YEAR = 2022


@pytest.fixture(scope="module")
def debug(spark):
    p, q, scale = generate_debug(spark, p3ke_rows=P_ROWS, prakerja_rows=Q_ROWS, seed=SEED, profile="typical")
    p, q = p.cache(), q.cache()
    assert p.count() == P_ROWS and q.count() == Q_ROWS
    yield p, q, scale
    p.unpersist()
    q.unpersist()


@pytest.fixture(scope="module")
def out(spark):
    return generate(spark, p3ke_rows=P_ROWS, prakerja_rows=Q_ROWS, seed=SEED, profile="typical")


@pytest.fixture(scope="module")
def rows(debug):
    p, q, _ = debug
    return p.toPandas(), q.toPandas()


def _tolerance(p: float, n: int) -> float:
    return 4.5 * math.sqrt(max(p * (1 - p), 1e-4) / max(n, 1)) + 0.004


def _close(measured: float, expected: float, n: int, what: str) -> None:
    assert abs(measured - expected) <= _tolerance(expected, n), f"{what}: {measured:.4f} vs {expected:.4f} (n={n})"


# ---------------------------------------------------------------- contract

def test_profiles_named_and_rates_sane():
    assert {"clean", "typical", "hard"} <= set(PROFILES)
    assert PROFILES["clean"].p3ke.nik_bad == 0 and PROFILES["clean"].p3ke.name_typo == 0
    assert 0.15 <= PROFILES["typical"].p3ke.nik_bad <= 0.25
    assert PROFILES["hard"].p3ke.nik_bad > PROFILES["typical"].p3ke.nik_bad
    assert PROFILES["typical"].overlap < 0.5
    w = PROFILES["typical"].overlap_desil_weights
    assert w[0] < w[2] <= w[3]
    assert isinstance(PROFILES["typical"].p3ke, SourceRates)


def test_columns_are_the_contract_and_all_strings(debug, out):
    p, q, _ = debug
    assert out.p3ke.columns == P3KE_COLUMNS
    assert out.prakerja.columns == PRAKERJA_COLUMNS
    assert out.truth.columns == TRUTH_COLUMNS
    for df in (out.p3ke, out.prakerja, out.truth):
        assert all(t == "string" for _, t in df.dtypes), df.dtypes
    assert p.select(P3KE_COLUMNS).columns == P3KE_COLUMNS
    assert q.select(PRAKERJA_COLUMNS).columns == PRAKERJA_COLUMNS


def test_formats(rows):
    P, Q = rows
    assert P.id_individu.is_unique and Q.id_pendaftar.is_unique
    assert P.id_individu.str.match(r"^P3KE-\d{10}$").all()
    assert Q.id_pendaftar.str.match(r"^PK-\d{10}$").all()
    assert P.tgl_lahir.dropna().str.match(r"^\d{2}-\d{2}-\d{4}$").all()
    assert Q.tanggal_lahir.dropna().str.match(r"^\d{4}-\d{2}-\d{2}$").all()
    assert Q.tanggal_daftar.str.match(r"^\d{4}-\d{2}-\d{2}$").all()
    assert set(P.jenis_kelamin) == {"L", "P"} and set(Q.jenis_kelamin) == {"LAKI-LAKI", "PEREMPUAN"}
    assert set(P.desil) <= {"1", "2", "3", "4"}
    assert set(P.penerima_pkh) <= {"Ya", "Tidak"} and set(P.penerima_bpnt) <= {"Ya", "Tidak"}
    assert P.kode_wilayah.str.match(r"^\d{10}$").all()
    assert (P.kode_wilayah.str[:6] == P._home_region).all()
    assert P.no_kk.dropna().str.match(r"^\d{16}$").all()
    assert P.kabupaten_kota.str.match(r"^(KAB\. |KOTA )").all()
    assert {"KEPALA KELUARGA", "ISTRI", "ANAK"} <= set(P.hubungan_keluarga)
    assert Q.no_hp.str.match(r"^(\+62|62|0)8[0-9-]{8,14}$").all()
    assert Q.email.str.match(r"^[A-Za-z0-9._]+@[a-z.]+$").all()
    # Java-heavy population; households share a family card
    assert P.provinsi.isin(["JAWA BARAT", "JAWA TENGAH", "JAWA TIMUR", "BANTEN", "DKI JAKARTA", "DI YOGYAKARTA"]).mean() > 0.3
    assert P.groupby("id_keluarga").no_kk.nunique().max() <= 2


# ---------------------------------------------------------------- NIK structure

@pytest.mark.parametrize("source", ["p3ke", "prakerja"])
def test_clean_nik_parses_back_to_region_birth_date_and_sex(debug, source):
    p, q, _ = debug
    df = p if source == "p3ke" else q
    clean = df.where(F.col("_nik_kind").isNull() & ~F.col("_nik_mismatch"))
    nik = nik_digits(F.col("nik"))
    year, month, day = nik_birth_parts(nik, REF_YEAR)
    checked = clean.select(
        nik_issue(nik, REF_YEAR).alias("issue"),
        (F.substring(nik, 1, 6) == F.col("_nik_region")).alias("region_ok"),
        (F.make_date(year, month, day) == F.col("_dob_true")).alias("dob_ok"),
        (nik_sex(nik) == F.col("_sex_true")).alias("sex_ok"),
        (nik == F.col("_nik_true")).alias("same"),
    )
    stats = checked.agg(F.count("*").alias("n"), F.count("issue").alias("issues"),
                        F.sum(F.col("region_ok").cast("int")).alias("region"),
                        F.sum(F.col("dob_ok").cast("int")).alias("dob"),
                        F.sum(F.col("sex_ok").cast("int")).alias("sex"),
                        F.sum(F.col("same").cast("int")).alias("same")).first()
    assert stats.n > 0.7 * df.count()
    assert stats.issues == 0
    assert stats.region == stats.dob == stats.sex == stats.same == stats.n


def test_movers_keep_their_nik(rows):
    P, _ = rows
    moved = (P._nik_region != P._home_region).mean()
    assert 0.03 < moved < 0.4


def test_nik_is_unique_per_person(rows):
    P, Q = rows
    both = pd.concat([P[["_person_id", "_nik_true"]], Q[["_person_id", "_nik_true"]]]).drop_duplicates()
    assert both._person_id.is_unique
    assert both._nik_true.is_unique


# ---------------------------------------------------------------- damage rates

@pytest.mark.parametrize("source", ["p3ke", "prakerja"])
def test_nik_damage_rates(rows, source):
    P, Q = rows
    df = P if source == "p3ke" else Q
    rates = getattr(PROFILES["typical"], source)
    n = len(df)
    for kind in ("missing", "placeholder", "wrong_length", "letters", "transposed", "digit_typo"):
        _close((df._nik_kind == kind).mean(), getattr(rates, f"nik_{kind}"), n, f"{source} nik {kind}")
    ok = df[df._family_ok]
    _close((ok._nik_kind == "family").mean(), rates.nik_family, len(ok), f"{source} nik family")
    if source == "p3ke":
        assert 0.15 <= df._nik_kind.notna().mean() <= 0.25
    # what the damage looks like
    bad = df[df._nik_kind == "missing"]
    assert bad.nik.isna().all()
    wl = df[df._nik_kind == "wrong_length"].nik.str.replace(r"\D", "", regex=True)
    assert wl.str.len().isin([15, 17]).all()
    tr = df[df._nik_kind == "transposed"]
    assert (tr.nik.str.replace(r"\D", "", regex=True) != tr._nik_true).mean() > 0.95
    assert (tr.nik.str.replace(r"\D", "", regex=True).apply(sorted) == tr._nik_true.apply(sorted)).all()


@pytest.mark.parametrize("source", ["p3ke", "prakerja"])
def test_name_and_birth_date_damage_rates(rows, source):
    P, Q = rows
    df = P if source == "p3ke" else Q
    r = getattr(PROFILES["typical"], source)
    n = len(df)
    for flag, rate in (("_f_typo", r.name_typo), ("_f_old", r.name_old_spelling), ("_f_title", r.name_title),
                       ("_f_mono", r.name_mononym)):
        _close(df[flag].mean(), rate, n, f"{source} {flag}")
    tokens = df._name_true.str.split().str.len()
    muh = df[df._name_true.str.contains(r"\bMUHAMMAD\b") & ~df._f_mono & ~df._f_drop]
    _close(muh._f_muh.mean(), r.name_muhammad_variant, len(muh), f"{source} muhammad")
    three = df[(tokens >= 3) & ~df._f_mono]
    _close(three._f_drop.mean(), r.name_drop_middle, len(three), f"{source} drop middle")
    for kind in ("missing", "placeholder", "year_off"):
        _close((df._dob_kind == kind).mean(), getattr(r, f"dob_{kind}"), n, f"{source} dob {kind}")
    dob = df._dob_true.astype("datetime64[ns]")
    swappable = df[(dob.dt.day <= 12) & (dob.dt.day != dob.dt.month)]
    u_rate = (swappable._dob_kind == "day_month_swap").mean()
    # the swap's share of the uniform draw sits after missing and placeholder
    _close(u_rate, r.dob_day_month_swap, len(swappable), f"{source} day/month swap")
    if source == "prakerja":
        _close(df._f_case.mean(), r.name_case, n, "prakerja case")


def test_damage_is_visible_in_the_values(rows):
    P, Q = rows
    old = P[P._f_old & ~P._f_mono & ~P._f_drop & ~P._f_typo & ~P._f_muh & ~P._f_abd & P._name_true.str.contains("U")]
    assert old.nama.str.contains("OE").all()
    muh = Q[Q._f_muh]
    assert not muh.nama_lengkap.str.upper().str.contains(r"\bMUHAMMAD\b").any()
    titled = P[P._f_title]
    assert titled.nama.str.contains(r"(?:^(?:H|HJ|DRS|DRA|IR|DR|KH|R|R\.A)\. )|(?:, [A-Z]\.)").all()
    ph = Q[Q._dob_kind == "placeholder"]
    d = ph.tanggal_lahir.str[5:]
    assert (d.isin(["01-01", "07-01", "12-31"]) | d.str.endswith("-15")).all()
    assert P.nama.str.contains(r"\b(?:SITI|NUR|MUHAMMAD)\b").mean() > 0.05


# ---------------------------------------------------------------- truth, overlap, duplicates

def _expected_truth(p, q) -> set[tuple[str, str, str]]:
    expected = {("p3ke", r.id_individu, r._person_id) for r in p.select("id_individu", "_person_id").collect()}
    expected |= {("prakerja", r.id_pendaftar, r._person_id) for r in q.select("id_pendaftar", "_person_id").collect()}
    return expected


def test_truth_has_one_row_per_record(rows):
    """Truth content is compared with the debug frames in the write test (written truth)."""
    P, Q = rows
    assert P._person_id.notna().all() and Q._person_id.notna().all()
    assert P._person_id.str.match(r"^ORG-\d+-\d+$").all()


def test_shared_people_are_the_same_people(rows):
    P, Q = rows
    cols = ["_person_id", "_nik_true", "_dob_true", "_sex_true", "_name_true"]
    joined = P[cols].drop_duplicates().merge(Q[cols].drop_duplicates(), on="_person_id", suffixes=("_p", "_q"))
    assert len(joined) > 100
    for c in cols[1:]:
        assert (joined[f"{c}_p"] == joined[f"{c}_q"]).all(), c
    assert (Q._overlap == Q._person_id.isin(set(P._person_id))).all()


def test_overlap_low_and_higher_in_richer_deciles(rows):
    P, Q = rows
    share = Q._overlap.mean()
    assert abs(share - PROFILES["typical"].overlap) < 0.04
    people = P.drop_duplicates("_person_id")
    in_q = people._person_id.isin(set(Q._person_id))
    by_desil = in_q.groupby(people._desil).mean()
    assert by_desil[3] > by_desil[1] and by_desil[4] > by_desil[1]
    assert (by_desil[3] + by_desil[4]) / 2 > 1.5 * by_desil[1]


def test_prakerja_registrants_are_18_to_64(rows):
    _, Q = rows
    dob = Q._dob_true.astype("datetime64[ns]")
    reg = Q.tanggal_daftar.astype("datetime64[ns]")
    age = reg.dt.year - dob.dt.year - ((reg.dt.month * 100 + reg.dt.day) < (dob.dt.month * 100 + dob.dt.day))
    assert age.between(18, 64).all(), age.describe()


def test_within_source_duplicates(rows):
    P, Q = rows
    p_dup = P._person_id.duplicated().mean()
    assert 0.005 < p_dup < 0.05
    accounts = Q.groupby("_person_id").size()
    assert (accounts >= 2).sum() > 0.02 * len(accounts)
    # a registrant's second account needs another e-mail (the Gmail dot trick, a number, a provider)
    per_registrant = Q.groupby("_j")
    multi = per_registrant.email.nunique()[per_registrant.size() >= 2]
    assert len(multi) > 0.02 * Q._j.nunique()
    assert (multi == per_registrant.size()[per_registrant.size() >= 2]).mean() > 0.9


def test_households_and_ages(rows):
    P, _ = rows
    heads = P[P._role == "KEPALA KELUARGA"]
    assert heads._age.min() >= 18
    assert 0.15 < (P._age < 15).mean() < 0.45
    wives = P[P._role == "ISTRI"]
    assert (wives._sex_true == "P").all()
    assert P._trad.nunique() >= 6


@pytest.mark.parametrize("writer", ["spark", "arrow"])
def test_write_extracts_csv_is_the_same_data_whatever_the_partitioning(debug, spark, tmp_path, writer):
    """Written with 3 partitions and another shuffle setting, read back from CSV: the same rows as the
    fixture generated with the session's default partitioning -- through Spark's writers, or with
    each task writing its part files through pyarrow."""
    p, q, _ = debug
    old = spark.conf.get("spark.sql.shuffle.partitions")
    spark.conf.set("spark.sql.shuffle.partitions", "7")
    try:
        res = write_extracts(spark, str(tmp_path / "out"), p3ke_rows=P_ROWS, prakerja_rows=Q_ROWS, seed=SEED,
                             fmt="csv", partitions=3, writer=writer)
    finally:
        spark.conf.set("spark.sql.shuffle.partitions", old)
    assert (res["p3ke"], res["prakerja"], res["truth"]) == (P_ROWS, Q_ROWS, P_ROWS + Q_ROWS)
    pc = spark.read.option("header", True).csv(res["paths"]["p3ke"])
    qc = spark.read.option("header", True).csv(res["paths"]["prakerja"])
    t = spark.read.parquet(res["paths"]["truth"])
    assert pc.columns == P3KE_COLUMNS and qc.columns == PRAKERJA_COLUMNS and t.columns == TRUTH_COLUMNS
    assert len(list((tmp_path / "out" / "p3ke").glob("part-*.csv"))) == 3
    assert sorted(map(tuple, pc.collect())) == sorted(map(tuple, p.select(P3KE_COLUMNS).collect()))
    assert sorted(map(tuple, qc.collect())) == sorted(map(tuple, q.select(PRAKERJA_COLUMNS).collect()))
    truth = t.toPandas()
    assert len(truth) == P_ROWS + Q_ROWS and truth.record_id.is_unique
    assert set(map(tuple, truth[TRUTH_COLUMNS].values)) == _expected_truth(p, q)
    with pytest.raises(ValueError):
        write_extracts(spark, str(tmp_path / "x"), p3ke_rows=1, prakerja_rows=1, seed=1, fmt="json")


def test_rows_do_not_depend_on_batching():
    """Inside a Spark task rows are generated a batch of row numbers at a time: a row's values depend
    only on the seed and its row number, so one batch or several (split anywhere, another task's
    rows around it or not) give the same rows, hidden columns included."""
    import numpy as np
    import pyarrow as pa

    from padan_synth import _ctx, build

    ctx, scale = _ctx(3000, 2500, SEED, "typical")
    for make, n in ((lambda r: build.p3ke_batch(ctx, r), 3000), (lambda r: build.prakerja_batch(ctx, r, scale), 2500)):
        whole = pa.Table.from_batches([make(np.arange(n, dtype=np.int64))])
        cuts = [0, 1, 777, 2048, n]
        parts = pa.Table.from_batches([make(np.arange(a, b, dtype=np.int64)) for a, b in zip(cuts, cuts[1:])])
        assert whole.num_rows == n and whole.equals(parts)
        tail = pa.Table.from_batches([make(np.arange(n - 500, n, dtype=np.int64))])
        assert tail.equals(whole.slice(n - 500))


# ---------------------------------------------------------------- damage rates not covered above

def _tokens(s: pd.Series) -> pd.Series:
    return s.str.split()


@pytest.mark.parametrize("source", ["p3ke", "prakerja"])
def test_abdul_and_token_swap_rates(rows, source):
    """ABDUL -> ABD. among names that still hold ABDUL after the mononym/middle-token steps; the
    first token moved to the end among names of two or more tokens."""
    P, Q = rows
    df = P if source == "p3ke" else Q
    r = getattr(PROFILES["typical"], source)
    toks = _tokens(df._name_true)
    plain = ~df._f_mono & ~df._f_drop
    abdul = df[plain & toks.apply(lambda t: "ABDUL" in t)]
    assert len(abdul) >= 30, len(abdul)
    _close(abdul._f_abd.mean(), r.name_abdul_abbrev, len(abdul), f"{source} abdul")
    assert not df[~toks.apply(lambda t: "ABDUL" in t)]._f_abd.any()
    name_col = "nama" if source == "p3ke" else "nama_lengkap"
    shown = abdul[abdul._f_abd & ~abdul._f_typo][name_col].str.upper()
    assert not shown.str.contains(r"\bABDUL\b").any()
    two = df[~df._f_mono & (toks.str.len() >= 2)]
    _close(two._f_swap.mean(), r.name_token_swap, len(two), f"{source} token swap")
    assert not df[~df._f_mono & (toks.str.len() < 2)]._f_swap.any()
    # an otherwise untouched swapped name is the true name with its first token moved to the end
    untouched = df[df._f_swap & ~df[["_f_drop", "_f_muh", "_f_abd", "_f_old", "_f_typo", "_f_title"]].any(axis=1)
                   & ~df._f_mono & ~df.get("_f_case", pd.Series(False, index=df.index))]
    assert len(untouched) > 0
    rotated = _tokens(untouched._name_true).apply(lambda t: " ".join(t[1:] + t[:1]))
    wrong = int((untouched[name_col] != rotated).sum())
    assert wrong == 0, f"{source}: {wrong} of {len(untouched)} swapped names are not the rotated true name"


@pytest.mark.parametrize("source", ["p3ke", "prakerja"])
def test_sex_flip_and_family_card_missing_rates(rows, source):
    P, Q = rows
    df = P if source == "p3ke" else Q
    r = getattr(PROFILES["typical"], source)
    n = len(df)
    _close(df._sex_flip.mean(), r.sex_flip, n, f"{source} sex flip")
    shown = df.jenis_kelamin.map({"L": "L", "P": "P", "LAKI-LAKI": "L", "PEREMPUAN": "P"})
    assert ((shown != df._sex_true) == df._sex_flip).all(), f"{source}: shown sex differs from the flag"
    _close(df._kk_missing.mean(), r.kk_missing, n, f"{source} kk missing")
    assert (df.no_kk.isna() == df._kk_missing).all(), f"{source}: missing cards differ from the flag"


def test_prakerja_family_card_changed_and_address_moved_rates(rows):
    """Both are drawn per registrant, so they are measured over registrants; the values agree with
    the flags where the registrant's household is also in P3KE."""
    P, Q = rows
    r = PROFILES["typical"].prakerja
    per_reg = Q.groupby("_j")
    assert (per_reg._kk_changed.nunique() == 1).all() and (per_reg._moved.nunique() == 1).all()
    reg = per_reg[["_kk_changed", "_moved"]].first()
    _close(reg._kk_changed.mean(), r.kk_changed, len(reg), "prakerja kk changed")
    _close(reg._moved.mean(), r.addr_moved, len(reg), "prakerja address moved")
    # P3KE rows that show their own household: that household's card and village
    own = P[~P._dup]
    kk = own[~own._kk_missing].drop_duplicates("_hh").set_index("_hh").no_kk
    desa = own.drop_duplicates("_hh").set_index("_hh").desa_kelurahan
    ov = Q[Q._overlap & ~Q._kk_missing & Q._hh.isin(kk.index)]
    assert len(ov) > 100, len(ov)
    changed = ov.no_kk.values != kk.loc[ov._hh].values
    assert (changed == ov._kk_changed.values).all(), f"{(changed != ov._kk_changed.values).sum()} of {len(ov)}"
    ov = Q[Q._overlap & Q._hh.isin(desa.index)]
    home = desa.loc[ov._hh].str.upper().values
    shown = ov.alamat_domisili.str.upper().values
    has_home = pd.Series([h in s for h, s in zip(home, shown)], index=ov.index)
    assert has_home[~ov._moved].all(), f"{(~has_home[~ov._moved]).sum()} unmoved addresses without their village"
    assert ov._moved.sum() > 10 and has_home[ov._moved].mean() < 0.3


def test_within_source_duplicate_rates(rows):
    P, Q = rows
    p, q = PROFILES["typical"].p3ke, PROFILES["typical"].prakerja
    # P3KE: a row repeats another person of its 64-row block (never itself)
    _close(P._dup.mean(), p.duplicate * (1 - 1 / 64), len(P), "p3ke duplicate rows")
    assert P[~P._dup]._person_id.is_unique
    repeated = P[P._dup]._person_id.isin(set(P[~P._dup]._person_id))
    assert repeated.mean() > 0.9
    # Prakerja: registrants with two or more accounts
    accounts = Q.groupby("_j").size()
    _close((accounts >= 2).mean(), q.duplicate, len(accounts), "prakerja registrants with 2+ accounts")
    assert accounts.max() <= 4
    assert (Q.groupby("_j")._person_id.nunique() == 1).all()


def test_phone_and_email_format_rates(rows):
    _, Q = rows
    r = PROFILES["typical"].prakerja
    n = len(Q)
    plus = Q.no_hp.str.startswith("+62")
    bare = Q.no_hp.str.startswith("62")
    _close(plus.mean(), 0.55 * r.phone_intl, n, "phone +62")
    _close(bare.mean(), 0.45 * r.phone_intl, n, "phone 62")
    _close(Q.no_hp.str.startswith("08").mean(), 1 - r.phone_intl, n, "phone 08")
    # two of the three variants put capitals in the local part (the third drops dots: not visible
    # without the original); nothing else does
    caps = Q.email.str.split("@").str[0].str.contains("[A-Z]")
    _close(caps.mean(), r.email_variant * 2 / 3, n, "e-mail with capitals")
    assert (Q.email.str.split("@").str[1] == Q.email.str.split("@").str[1].str.lower()).all()


def test_person_level_rates(rows):
    """Properties of a person (the same in every record): NIK issued with another birth date,
    placeholder birth dates in the civil registry, NIK from another region (movers)."""
    P, Q = rows
    prof = PROFILES["typical"]
    cols = ["_person_id", "_nik_true", "_dob_true", "_nik_mismatch", "_nik_region"]
    people = pd.concat([P[cols], Q[cols]]).drop_duplicates("_person_id")
    _close(people._nik_mismatch.mean(), prof.nik_birth_mismatch, len(people), "nik birth mismatch")
    mm = people[people._nik_mismatch]
    year, month, day = (mm._nik_true.str[10:12].astype(int), mm._nik_true.str[8:10].astype(int),
                        mm._nik_true.str[6:8].astype(int) % 40)
    dob = mm._dob_true.astype("datetime64[ns]")
    differs = (dob.dt.year % 100 != year) | (dob.dt.month != month) | (dob.dt.day != day)
    assert len(mm) > 20 and differs.mean() > 0.9
    # registry placeholders: 1 July, 31 December, 1 January; a real birthday lands there 3 / 365
    dob = people._dob_true.astype("datetime64[ns]")
    on_ph = ((dob.dt.month == 7) & (dob.dt.day == 1)) | ((dob.dt.month == 12) & (dob.dt.day == 31)) \
        | ((dob.dt.month == 1) & (dob.dt.day == 1))
    natural = 3 / 365
    old = dob.dt.year < 1975
    mid = (dob.dt.year >= 1975) & (dob.dt.year < 2010)
    young = dob.dt.year >= 2010
    rate = prof.registry_placeholder_dob
    _close(on_ph[old].mean(), rate + (1 - rate) * natural, int(old.sum()), "registry placeholder, born < 1975")
    _close(on_ph[mid].mean(), rate / 6 + (1 - rate / 6) * natural, int(mid.sum()), "registry placeholder, 1975-2009")
    _close(on_ph[young].mean(), natural, int(young.sum()), "registry placeholder, born 2010+")
    # movers: the rate times a factor by family role (P3KE knows the role)
    factor = {"KEPALA KELUARGA": 1.2, "ISTRI": 2.0, "SUAMI": 2.0, "ANAK": 0.25}
    pp = P.drop_duplicates("_person_id")
    expected = pp._role.map(factor).fillna(2.5).mul(prof.mover_rate).clip(upper=0.9)
    moved = pp._nik_region != pp._home_region
    for roles in (["KEPALA KELUARGA"], ["ANAK"], ["ISTRI", "SUAMI"]):
        sel = pp._role.isin(roles)
        _close(moved[sel].mean(), expected[sel].mean(), int(sel.sum()), f"movers among {'/'.join(roles)}")


# ---------------------------------------------------------------- the hard profile through padan's ingest

HARD_ROWS, RUN_DATE = 400, "2026-11-28"
REPO = Path(__file__).resolve().parents[1]


def _invalid_nik_share(spark, niks: list, ref_year: int, placeholders) -> float:
    df = spark.createDataFrame([(v,) for v in niks], "nik STRING")
    issue = nik_issue(nik_digits(F.col("nik")), ref_year, placeholders)
    return df.select(F.avg(issue.isNotNull().cast("double"))).first()[0]


def test_hard_parquet_extracts_load_through_ingest(spark, rows, tmp_path):
    """The hard profile written as Parquet goes through ingest under the shipped source contracts
    (format overridden): every generated row ends in silver.persons or in the rejects, with its
    file and row number, and silver shows more invalid NIKs than the typical profile has."""
    from padan import config
    from padan.stages import Ctx, run_ingest
    from padan.tables import PERSONS, REJECTS

    res = write_extracts(spark, str(tmp_path / "data"), p3ke_rows=HARD_ROWS, prakerja_rows=HARD_ROWS, seed=SEED,
                         fmt="parquet", profile="hard")
    cfg = config.load(env="base", conf_dir=REPO / "conf", overrides={
        "lake": {"root": str(tmp_path / "lake")},
        "sources": {s: {"format": "parquet", "path": res["paths"][s]} for s in ("p3ke", "prakerja")},
    })
    ctx = Ctx.create(spark, cfg, run_date=RUN_DATE)
    keys = {"p3ke": "id_individu", "prakerja": "id_pendaftar"}
    invalid = n_silver = 0
    for source, key in keys.items():
        assert cfg.sources[source].format == "parquet" and cfg.sources[source].record_key == key
        result = run_ingest(ctx, source)
        generated = [r[0] for r in spark.read.parquet(res["paths"][source]).select(key).collect()]
        silver = ctx.lake.read(PERSONS.name).where(F.col("source_dataset") == source).select(
            "record_key", "source_file", "line", F.col("nik_valid").cast("int").alias("ok")).toPandas()
        rejects = ctx.lake.read(REJECTS.name).where(F.col("source") == source).select(
            "record_key", "source_file", "line", F.size("reasons").alias("n_reasons")).toPandas()
        assert len(generated) == HARD_ROWS == result.rows_read
        assert (result.rows_standardised, result.rows_rejected) == (len(silver), len(rejects))
        assert sorted(silver.record_key.tolist() + rejects.record_key.tolist()) == sorted(generated), source
        assert len(silver) > 0.9 * HARD_ROWS, f"{source}: {len(rejects)} of {HARD_ROWS} rejected"
        assert (rejects.n_reasons > 0).all()
        where = pd.concat([silver[["source_file", "line"]], rejects[["source_file", "line"]]])
        assert where.line.notna().all() and (where.line >= 1).all() and not where.duplicated().any()
        assert where.source_file.str.endswith(".parquet").all()
        invalid += int((silver.ok == 0).sum())
        n_silver += len(silver)
    P, Q = rows
    typical = _invalid_nik_share(spark, P.nik.tolist() + Q.nik.tolist(), int(RUN_DATE[:4]),
                                 cfg.standardise.placeholder_niks)
    hard = invalid / n_silver
    # the hard profile has 1.8 times the typical NIK damage; 1.3 leaves room for 800 rows' sampling error
    assert hard > 1.3 * typical, f"invalid NIK share: hard {hard:.3f} (silver) vs typical {typical:.3f}"


# ---------------------------------------------------------------- the generator is not shipped

def test_generator_is_not_in_what_spark_submit_receives(tmp_path):
    """The generator is a development tool in its own package (src/padan_synth) and the benchmark
    harness lives in bench/: the wheel and the --py-files zip that `make package` builds
    (scripts/package.py) hold padan but neither of them, and padan's modules import the generator
    only inside the synth / demo commands."""
    import importlib.util
    import zipfile

    spec = importlib.util.spec_from_file_location("padan_package_script", REPO / "scripts" / "package.py")
    package = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(package)
    out = package.build(tmp_path / "dist")
    with zipfile.ZipFile(out["wheel"]) as whl, zipfile.ZipFile(out["pyfiles"]) as pyfiles:
        for names in (whl.namelist(), pyfiles.namelist()):
            assert "padan/cli.py" in names and "padan/demo.py" in names
            assert not [n for n in names if n.startswith("padan_synth") or "/synth/" in n]
            assert not [n for n in names if "padan_synth" in n]
            assert not [n for n in names if "bench" in n.lower() or "harness" in n]
    # padan's own modules never import the generator at module level
    for path in (REPO / "src" / "padan").rglob("*.py"):
        for line in path.read_text().splitlines():
            if line.startswith(("import padan_synth", "from padan_synth")):
                raise AssertionError(f"{path} imports padan_synth at module level")


# ---------------------------------------------------------------- held-out stress profile

def test_stress_profile_has_twins_with_sequential_niks_namesakes_and_spelled_titles():
    """`stress` (for reporting only): second twins get a valid NIK of their own that shares the
    first twin's region and issue date (12 digits, the day + 40 for a girl) with a serial a few
    apart or one adjacent transposition apart; some children carry a parent's name; pilgrimage
    titles appear spelled out; other profiles are unchanged by the new knobs (all 0)."""
    import numpy as np

    from padan_synth import _ctx, build

    for name in ("clean", "typical", "hard"):
        prof = PROFILES[name]
        assert prof.twin_sequential_nik == prof.namesake_child == prof.title_spelled == 0
    stress = PROFILES["stress"]
    assert stress.p3ke.nik_missing > PROFILES["typical"].p3ke.nik_missing
    assert stress.p3ke.dob_year_off > PROFILES["hard"].p3ke.dob_year_off
    ctx, _ = _ctx(6000, 100, SEED, "stress")
    p = build.p3ke_batch(ctx, np.arange(6000, dtype=np.int64)).to_pandas().drop_duplicates("_person_id")
    kids = p[p["_role"] == "ANAK"]
    sequential = transposed = 0
    for (_, dob), grp in kids.groupby(["_hh", "_dob_true"]):
        niks = grp["_nik_true"].tolist()
        for i, a in enumerate(niks):
            for b in niks[i + 1:]:
                assert a != b, "twins keep distinct NIKs"
                if a[:6] != b[:6] or a[8:12] != b[8:12]:
                    continue
                days = {int(a[6:8]), int(b[6:8])}
                assert len({d - 40 if d > 40 else d for d in days}) == 1, "one issue date, the day + 40 for a girl"
                assert nik_issue_ok(a) and nik_issue_ok(b)
                if 0 < abs(int(a[12:]) - int(b[12:])) <= 3:
                    sequential += 1
                elif sorted(a[12:]) == sorted(b[12:]) and sum(x != y for x, y in zip(a[12:], b[12:])) == 2:
                    transposed += 1
    assert sequential >= 20 and transposed >= 5, (sequential, transposed)
    namesakes = (p[p["_role"] == "ANAK"].merge(p[p["_role"] != "ANAK"], on=["_hh", "_name_true"]).shape[0])
    assert namesakes >= 10
    shown = p["nama"].str.split().explode()
    assert {"HAJI", "HJ"} <= set(shown) and shown.isin(["HAJJAH", "HAJAH", "HJH"]).any()


def nik_issue_ok(nik: str) -> bool:
    """16 digits, day 1-31 or 41-71, month 1-12, serial not 0000 (the DOMAIN.md checks)."""
    d, m = int(nik[6:8]), int(nik[8:10])
    return len(nik) == 16 and nik.isdigit() and (1 <= d <= 31 or 41 <= d <= 71) and 1 <= m <= 12 and nik[12:] != "0000"
