"""Builds the P3KE and Prakerja extracts (with hidden ground-truth and damage columns, prefixed '_')."""

from __future__ import annotations

import math

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as PF

from padan.synth import sqlx as F
from padan.synth.sqlx import X as Column

from padan.synth import corrupt as C
from padan.synth import names as N
from padan.synth import world as W
from padan.synth.profiles import Profile
from padan.synth.rng import SEED_COLUMN, Rng, at
from padan.synth.world import BLOCK, BLOCK_BITS, N_TEMPLATES, NP_ADULT_BASE, NP_BASE, Ctx

P3KE_COLUMNS = ["id_individu", "id_keluarga", "no_kk", "nik", "nama", "tgl_lahir", "jenis_kelamin",
                "hubungan_keluarga", "alamat", "rt", "rw", "desa_kelurahan", "kecamatan", "kabupaten_kota",
                "provinsi", "kode_wilayah", "desil", "pekerjaan", "pendidikan", "penerima_pkh", "penerima_bpnt"]
PRAKERJA_COLUMNS = ["id_pendaftar", "nik", "no_kk", "nama_lengkap", "tanggal_lahir", "jenis_kelamin", "email",
                    "no_hp", "alamat_domisili", "kabupaten_kota", "provinsi", "status_pekerjaan",
                    "pendidikan_terakhir", "tanggal_daftar", "gelombang", "status_penerima"]

REG_START = "2020-04-11"      # first Prakerja wave
REG_SPAN_DAYS = 960
CALIBRATION_SAMPLE = 20_000
ROWS_PER_PARTITION = 1_000_000


_stage = W.stage


def _select(df: W.Plan, cols: dict[str, Column]) -> DataFrame:
    return df.select(cols)


def partitions_for(spark: SparkSession, rows: int, partitions: int | None) -> int:
    if partitions:
        return max(1, int(partitions))
    return max(spark.sparkContext.defaultParallelism, math.ceil(rows / ROWS_PER_PARTITION), 1)


def _yn(flag: Column) -> Column:
    return F.when(flag, "Ya").otherwise("Tidak")


def person_id(hh: Column, k: Column) -> Column:
    return F.concat(F.lit("ORG-"), hh.cast("string"), F.lit("-"), k.cast("string"))


def p3ke_person_at(ctx: Ctx, row: Column) -> dict[str, Column]:
    """Who is on P3KE row `row`: (hh, k) of the person shown, the household the row sits in, and
    whether the row repeats a person shown elsewhere (a within-source duplicate)."""
    rng = Rng("p3ke")
    block = F.shiftright(row, BLOCK_BITS)
    pos = row.bitwiseAND(BLOCK - 1).cast("int")
    tpl = rng.int("tpl", N_TEMPLATES, block)
    code = at(ctx.tpl_codes, tpl * BLOCK + pos)
    pos2 = rng.int("dup_pos", BLOCK, row)
    dup = (rng.u("dup", row) < ctx.profile.p3ke.duplicate) & (pos2 != pos)
    shown = F.when(dup, at(ctx.tpl_codes, tpl * BLOCK + pos2)).otherwise(code)
    base = F.shiftleft(block, BLOCK_BITS)
    return {
        "hh": base + (shown / 100).cast("int"),
        "k": ((shown / 10).cast("int") % 10).cast("int"),
        "host_hh": base + (code / 100).cast("int"),
        "dup": dup,
    }


def _perm_params(prefix: str, n: int, salt: int) -> dict[str, int]:
    """Parameters of the bijection x -> (x * a + c) mod n of [0, n)."""
    n = max(int(n), 1)
    return {f"{prefix}_n": n, f"{prefix}_a": W.permutation_multiplier(n, salt), f"{prefix}_c": (salt * 7919) % n}


def _permute(x: Column, prefix: str) -> Column:
    return (x * F.col(f"{prefix}_a") + F.col(f"{prefix}_c")) % F.col(f"{prefix}_n")


def _params(ctx: Ctx, **extra: int | float) -> dict[str, int | float]:
    return {SEED_COLUMN: ctx.seed, **_perm_params("pp", ctx.p3ke_rows, 11), **extra}


def _household_full(df: DataFrame, ctx: Ctx, hh: Column, p: str) -> tuple[DataFrame, dict[str, Column]]:
    return W.household(df, ctx, hh, p)


def _age_ok(reg_date: Column, dob: Column) -> Column:
    """Aged 18-64 on any day from the registration up to a year later."""
    gap = F.year(reg_date) - F.year(dob)
    return (gap >= 19) & (gap <= 63)


def _overlap_candidate(df: DataFrame, ctx: Ctx, j: Column, reg_date: Column) -> tuple[DataFrame, dict[str, Column]]:
    """The P3KE person registrant j would be if it is one of the overlap, its eligibility and weight."""
    prof = ctx.profile
    P = ctx.p3ke_rows
    if P <= 0:
        return df, {"c_hh": F.lit(None).cast("long"), "c_k": F.lit(None).cast("int"),
                    "c_ok": F.lit(False), "c_w": F.lit(0.0), "c_desil": F.lit(None).cast("int")}
    cand = _permute(j % F.col("pp_n"), "pp")
    sel = p3ke_person_at(ctx, cand)
    df, S = _stage(df, {"c_hh": sel["hh"], "c_k": sel["k"]})
    df, H = _household_full(df, ctx, S["c_hh"], "c_")
    df, M = W.member(df, ctx, S["c_hh"], S["c_k"], H, "c_", "cm_")
    weight = at(list(prof.overlap_desil_weights), H["c_desil"] - 1) * F.when(H["c_pkh"], prof.overlap_pkh_factor).otherwise(1.0)
    df, R = _stage(df, {"c_ok": (j < F.col("pp_n")) & _age_ok(reg_date, M["cm_dob"]), "c_w": weight})
    return df, {**S, **R, "c_desil": H["c_desil"]}


def _registrant(rng: Rng, r: Column, ctx: Ctx) -> dict[str, Column]:
    block = F.shiftright(r, BLOCK_BITS)
    pos = r.bitwiseAND(BLOCK - 1).cast("int")
    tpl = rng.int("tpl", N_TEMPLATES, block)
    code = at(ctx.acct_codes, tpl * BLOCK + pos)
    slot = (code / 10).cast("int")
    acct = code % 10
    j = F.shiftleft(block, BLOCK_BITS) + slot
    return {"slot": slot, "acct": acct, "j": j}


def _reg_date(rng: Rng, j: Column) -> Column:
    return F.date_add(F.lit(REG_START).cast("date"), rng.int("regday", REG_SPAN_DAYS, j))


_MEAN_WEIGHT: dict[Profile, float] = {}
# Measured with `_mean_weight` for the default desil weights and PKH factor (the built-in profiles;
# the other profile settings move it by < 0.001). Re-measure when the population model changes --
# test_synth checks that the realised overlap stays near the configured one.
MODEL_MEAN_WEIGHT = {((0.35, 0.6, 0.9, 1.0), 0.5): 0.3989}


def mean_weight(spark: SparkSession, profile: Profile) -> float:
    known = MODEL_MEAN_WEIGHT.get((tuple(profile.overlap_desil_weights), profile.overlap_pkh_factor))
    return known if known is not None else _mean_weight(spark, profile)


def _mean_weight(spark: SparkSession, profile: Profile) -> float:
    """Mean acceptance weight (eligible age x desil/PKH weight) of a P3KE candidate, measured once
    per profile and process on a fixed sample (seed 0, 20,000 registrants) with integer sums -- a
    property of the population model, not of a run, so every run and cluster gets the same number."""
    if profile not in _MEAN_WEIGHT:
        n = CALIBRATION_SAMPLE
        ctx = Ctx(seed=0, profile=profile, p3ke_rows=n, prakerja_rows=n)
        rng = Rng("prakerja")
        df = W.Plan(spark, n, 1, "j", _params(ctx))
        df, C_ = _overlap_candidate(df, ctx, F.col("j"), _reg_date(rng, F.col("j")))
        micro = F.when(C_["c_ok"], F.round(C_["c_w"] * 1_000_000).cast("long")).otherwise(F.lit(0).cast("long"))
        total = df.select({"micro": micro}).agg(PF.sum("micro").alias("s")).collect()[0]["s"] or 0
        _MEAN_WEIGHT[profile] = total / 1_000_000 / n
    return _MEAN_WEIGHT[profile]


def calibrate_overlap(spark: SparkSession, ctx: Ctx) -> float:
    """The acceptance scale that makes about `profile.overlap` of registrants P3KE people (capped:
    with few P3KE rows per registrant the overlap comes out lower)."""
    prof = ctx.profile
    P, R = ctx.p3ke_rows, ctx.prakerja_rows
    if P <= 0 or R <= 0 or prof.overlap <= 0:
        return 0.0
    mean_w = mean_weight(spark, prof)
    if mean_w <= 0:
        return 0.0
    frac_in = min(1.0, P / R)
    return round(prof.overlap / (frac_in * mean_w), 9)


# ---------------------------------------------------------------- person block shared by both sources

def _person(df: DataFrame, ctx: Ctx, hh: Column, k: Column) -> tuple[DataFrame, dict[str, Column]]:
    df, H = _household_full(df, ctx, hh, "h_")
    df, M = W.member(df, ctx, hh, k, H, "h_", "m_")
    df, K = W.person_nik(df, ctx, hh, k, H, "h_", M, "m_", "p_")
    df, NM = W.person_name(df, ctx, hh, k, H, "h_", M, "m_", "p_")
    by = F.year(M["m_dob"])
    df, P1 = _stage(df, {"p_edu": W.education(ctx, hh, k, M["m_age"], by, H["h_is_np"])}, inline=True)
    pre, suf = W.titles(ctx, hh, k, M["m_sex"], M["m_age"], by, P1["p_edu"], H["h_trad"])
    df, P2 = _stage(df, {"p_title_pre": pre, "p_title_suf": suf,
                         "p_job": W.occupation(ctx, hh, k, M["m_age"], M["m_sex"], P1["p_edu"], H["h_kota"])})
    return df, {**H, **M, **K, **NM, **P1, **P2}


def _family_nik(df: DataFrame, ctx: Ctx, hh: Column, k: Column, X: dict[str, Column]
                ) -> tuple[DataFrame, Column, Column]:
    """(NIK of another member of the person's household -- the head, or for the head the spouse or
    first child --, whether there is one)."""
    k2 = F.when(k == 0, F.lit(1)).otherwise(F.lit(0))
    df, M2 = W.member(df, ctx, hh, k2, X, "h_", "f_")
    df, K2 = W.person_nik(df, ctx, hh, k2, X, "h_", M2, "f_", "f_")
    return df, K2["f_nik"], X["h_size"] >= 2


def _name_and_damage(df: DataFrame, ctx: Ctx, rng: Rng, rates, key: Column, X: dict[str, Column], allow_case: bool):
    gpre, gsuf = W.generic_title(rng, "gt", key, X["m_sex"], X["m_age"], X["h_trad"])
    father = rng.pick(N.token_list("FATHER_M"), "father", key)
    return C.name(df, X["p_name"], rates, rng, key, sex=X["m_sex"], title_pre=X["p_title_pre"],
                  title_suf=X["p_title_suf"], generic_pre=gpre, generic_suf=gsuf, father=father,
                  allow_case=allow_case)


# ---------------------------------------------------------------- P3KE

def p3ke(spark: SparkSession, ctx: Ctx, partitions: int | None = None) -> DataFrame:
    rates = ctx.profile.p3ke
    rng = Rng("p3ke")
    n = ctx.p3ke_rows
    df = W.Plan(spark, n, partitions_for(spark, n, partitions), "r", _params(ctx))
    r = F.col("r")
    df, A = _stage(df, p3ke_person_at(ctx, r))
    df, X = _person(df, ctx, A["hh"], A["k"])
    df, O = _household_full(df, ctx, A["host_hh"], "o_")
    df, fam_nik, fam_ok = _family_nik(df, ctx, A["hh"], A["k"], X)
    df, D = _stage(df, {"nik_kind": C.nik_kind(rates, rng, r, fam_ok),
                        "dob_kind": C.dob_kind(rates, rng, r, X["m_dob"])}, inline=True)
    df, nama, flags = _name_and_damage(df, ctx, rng, rates, r, X, allow_case=False)
    nik = C.nik(X["p_nik"], D["nik_kind"], fam_nik, rng, r)
    nik = F.when(nik.isNotNull() & (rng.u("nik_apos", r) < 0.01), F.concat(F.lit("'"), nik)).otherwise(nik)
    dob = C.dob(X["m_dob"], D["dob_kind"], rng, r)
    sex_flip = rng.u("sex_flip", r) < rates.sex_flip
    sex = F.when(sex_flip, F.when(X["m_sex"] == "L", "P").otherwise("L")).otherwise(X["m_sex"])
    kk_missing = rng.u("kk_missing", r) < rates.kk_missing
    foreign = A["dup"] & (A["hh"] != A["host_hh"])
    role = F.when(foreign, F.lit("FAMILI LAIN")).otherwise(X["m_role"])
    edu_text = at(W.EDU_P3KE, X["p_edu"])
    public = {
        "id_individu": F.concat(F.lit("P3KE-"), F.lpad((r + 1).cast("string"), 10, "0")),
        "id_keluarga": F.concat(F.lit("KLG-"), F.lpad(A["host_hh"].cast("string"), 10, "0")),
        "no_kk": F.when(kk_missing, F.lit(None).cast("string")).otherwise(O["o_no_kk"]),
        "nik": nik,
        "nama": nama,
        "tgl_lahir": F.date_format(dob, "dd-MM-yyyy"),
        "jenis_kelamin": sex,
        "hubungan_keluarga": role,
        "alamat": O["o_alamat"],
        "rt": O["o_rt"],
        "rw": O["o_rw"],
        "desa_kelurahan": X["h_desa"],
        "kecamatan": X["h_kec"],
        "kabupaten_kota": X["h_reg_name"],
        "provinsi": X["h_prov_name"],
        "kode_wilayah": X["h_kode"],
        "desil": O["o_desil"].cast("string"),
        "pekerjaan": X["p_job"],
        "pendidikan": edu_text,
        "penerima_pkh": _yn(O["o_pkh"]),
        "penerima_bpnt": _yn(O["o_bpnt"]),
    }
    hidden = {
        "_person_id": person_id(A["hh"], A["k"]),
        "_hh": A["hh"], "_k": A["k"], "_dup": A["dup"],
        "_nik_true": X["p_nik"], "_nik_region": X["p_nik_region"], "_nik_mismatch": X["p_nik_mismatch"],
        "_dob_true": X["m_dob"], "_sex_true": X["m_sex"], "_name_true": X["p_name"], "_age": X["m_age"],
        "_role": X["m_role"], "_desil": X["h_desil"], "_pkh": X["h_pkh"], "_trad": X["h_trad"],
        "_home_region": F.concat(F.lpad(X["h_prov"].cast("string"), 2, "0"), F.lpad(X["h_rcode"].cast("string"), 2, "0"),
                                 F.lpad(X["h_dist"].cast("string"), 2, "0")),
        "_nik_kind": D["nik_kind"], "_dob_kind": D["dob_kind"], "_family_ok": fam_ok,
        "_sex_flip": sex_flip, "_kk_missing": kk_missing,
        **{f"_{k}": v for k, v in flags.items()},
    }
    return _select(df, {**public, **hidden})


# ---------------------------------------------------------------- Prakerja

STATUS_PEKERJAAN = [("Pencari Kerja", 0.45), ("Pekerja/Buruh", 0.25), ("Wirausaha", 0.14), ("Korban PHK", 0.10),
                    ("Dirumahkan", 0.06)]


def _np_member(df: DataFrame, ctx: Ctx, rng: Rng, j: Column, slot: Column, reg_date: Column
               ) -> tuple[DataFrame, dict[str, Column]]:
    """A working-age member of a household outside P3KE for registrant j (siblings sometimes share one)."""
    sib = (rng.u("sib", j) < 0.08) & (slot > 0)
    hh_np = F.lit(NP_BASE).cast("long") + F.when(sib, j - 1).otherwise(j)
    df, S = _stage(df, {"n_hh0": hh_np, "n_sib": sib})
    df, H = _household_full(df, ctx, S["n_hh0"], "n_")
    oks = []
    for kk in range(4):
        df, M = W.member(df, ctx, S["n_hh0"], F.lit(kk), H, "n_", f"n{kk}_")
        df, OK = _stage(df, {f"n{kk}_ok": (F.lit(kk) < H["n_size"]) & _age_ok(reg_date, M[f"n{kk}_dob"])})
        oks.append(OK[f"n{kk}_ok"])
    pref = F.when(S["n_sib"], rng.category([(2, 0.6), (3, 0.4)], "np_k", j)).otherwise(
        rng.category([(0, 0.35), (1, 0.2), (2, 0.3), (3, 0.15)], "np_k", j))
    ok_pref = F.when(pref == 0, oks[0]).when(pref == 1, oks[1]).when(pref == 2, oks[2]).otherwise(oks[3])
    k_np = F.coalesce(F.when(ok_pref, pref), *[F.when(oks[i], F.lit(i)) for i in range(4)])
    return _stage(df, {"n_k": k_np})


def prakerja(spark: SparkSession, ctx: Ctx, scale: float, partitions: int | None = None) -> DataFrame:
    prof = ctx.profile
    rates = prof.prakerja
    rng = Rng("prakerja")
    n = ctx.prakerja_rows
    df = W.Plan(spark, n, partitions_for(spark, n, partitions), "r",
                _params(ctx, ov_scale=float(scale), **_perm_params("pk", n, 29)))
    r = F.col("r")
    df, A = _stage(df, _registrant(rng, r, ctx))
    j = A["j"]
    reg_date = _reg_date(rng, j)
    acct_shift = F.when(A["acct"] > 0, 1 + rng.int("acct_day", 240, j, A["acct"])).otherwise(0)
    df, T = _stage(df, {"reg_date": reg_date,
                        "acct_date": F.least(F.date_add(reg_date, acct_shift), F.lit("2022-12-31").cast("date"))})
    df, Cn = _overlap_candidate(df, ctx, j, T["reg_date"])
    df, Nn = _np_member(df, ctx, rng, j, A["slot"], T["reg_date"])
    ov = Cn["c_ok"] & (rng.u("ov", j) < F.col("ov_scale") * Cn["c_w"])
    hh = (F.when(ov, Cn["c_hh"]).when(Nn["n_k"].isNotNull(), F.col("n_hh0"))
          .otherwise(F.lit(NP_ADULT_BASE).cast("long") + j))
    k = F.when(ov, Cn["c_k"]).when(Nn["n_k"].isNotNull(), Nn["n_k"]).otherwise(F.lit(0))
    df, S = _stage(df, {"hh": hh, "k": k.cast("int"), "ov": ov})
    # keep only what later stages use, so the candidate columns do not travel further
    df.keep(["r", SEED_COLUMN, "pk_n", "pk_a", "pk_c", "slot", "acct", "j", "reg_date", "acct_date", "hh", "k", "ov",
             "c_desil"])
    df, X = _person(df, ctx, S["hh"], S["k"])
    df, fam_nik, fam_ok = _family_nik(df, ctx, S["hh"], S["k"], X)
    df, D = _stage(df, {"nik_kind": C.nik_kind(rates, rng, r, fam_ok),
                        "dob_kind": C.dob_kind(rates, rng, r, X["m_dob"])}, inline=True)
    df, nama, flags = _name_and_damage(df, ctx, rng, rates, r, X, allow_case=True)
    nik = C.nik(X["p_nik"], D["nik_kind"], fam_nik, rng, r)
    nik = F.when(nik.isNotNull() & (F.length(nik) == 16) & (rng.u("nik_sp", r) < 0.02),
                 F.concat_ws(" ", F.substring(nik, 1, 6), F.substring(nik, 7, 6), F.substring(nik, 13, 4))
                 ).otherwise(nik)
    dob = C.dob(X["m_dob"], D["dob_kind"], rng, r)
    sex_flip = rng.u("sex_flip", r) < rates.sex_flip
    sex = F.when(sex_flip, F.when(X["m_sex"] == "L", "P").otherwise("L")).otherwise(X["m_sex"])
    # family card: sometimes a newer one (moved, married) -- a property of the registrant, not the row
    kk_changed = rng.u("kk_changed", j) < rates.kk_changed
    kk_missing = rng.u("kk_missing", r) < rates.kk_missing
    kk_date = F.date_add(F.lit("2019-01-01").cast("date"), rng.int("kk_new_d", 1300, j))
    kk_ddmmyy = F.dayofmonth(kk_date) * 10_000 + F.month(kk_date) * 100 + F.year(kk_date) % 100
    # region6 of the household's card, then DDMMYY and a serial: 16 digits (leading 1 dropped)
    new_kk = F.concat(F.substring(X["h_no_kk"], 1, 6),
                      F.substring((kk_ddmmyy.cast("long") * 10_000 + 1 + rng.int("kk_new_s", 9999, j)
                                   + 10_000_000_000).cast("string"), 2, 10))
    no_kk = F.when(kk_missing, F.lit(None).cast("string")).when(kk_changed, new_kk).otherwise(X["h_no_kk"])
    # domicile: the household's village, or (moved) another village of the same regency
    moved = rng.u("moved", j) < rates.addr_moved
    same_dist = rng.u("moved_d", j) < 0.6
    ndist = at(ctx.geo.reg_ndist, X["h_reg"])
    d_dist = F.when(moved & ~same_dist, 1 + rng.int("moved_dist", ndist, j)).otherwise(X["h_dist"])
    nvil = W.n_villages(ctx, X["h_reg"], d_dist, X["h_kota"])
    new_v = rng.int("moved_vil", nvil, j)
    new_v = F.when((d_dist == X["h_dist"]) & (new_v == X["h_vnum"]), (new_v + 1) % nvil).otherwise(new_v)
    d_vnum = F.when(moved, new_v).otherwise(X["h_vnum"])
    df, Dm = _stage(df, {"moved": moved, "dm_dist": d_dist}, inline=True)
    df, Dm2 = _stage(df, {"dm_vnum": F.when(moved, new_v).otherwise(X["h_vnum"])})
    Dm = {**Dm, **Dm2}
    Rg = W.region(ctx, X["h_reg"], Dm["dm_dist"], Dm["dm_vnum"], "d_")
    df, Rg = _stage(df, Rg)
    street = F.when(Dm["moved"], W.street_address(ctx, rng, "dom", Rg["d_group"], Rg["d_kota"], X["h_reg"],
                                                   Rg["d_dist"], Rg["d_vcode"], j)).otherwise(X["h_alamat"])
    rt = F.when(Dm["moved"], F.lpad((1 + rng.int("dom_rt", 14, j)).cast("string"), 3, "0")).otherwise(X["h_rt"])
    rw = F.when(Dm["moved"], F.lpad((1 + rng.int("dom_rw", 8, j)).cast("string"), 3, "0")).otherwise(X["h_rw"])
    df, St = _stage(df, {"dom_street": street, "dom_rt": rt, "dom_rw": rw})
    street, rt, rw = St["dom_street"], St["dom_rt"], St["dom_rw"]
    desa_word = F.when(Rg["d_vcode"] < 2000, "KEL. ").otherwise("DESA ")
    addr_style = rng.int("addr_style", 3, r)
    alamat = (F.when(addr_style == 0, F.concat(street, F.lit(" RT "), rt, F.lit(" RW "), rw, F.lit(", "), desa_word,
                                               Rg["d_desa"], F.lit(", KEC. "), Rg["d_kec"]))
              .when(addr_style == 1, F.concat(street, F.lit(" RT "), F.substring(rt, 2, 2), F.lit("/"), F.substring(rw, 2, 2),
                                              F.lit(" "), Rg["d_desa"], F.lit(" "), Rg["d_kec"]))
              .otherwise(F.concat(street, F.lit(", "), Rg["d_desa"])))
    typed_case = rng.u("addr_case", r) < 0.4
    df, Al = _stage(df, {"alamat0": alamat}, inline=True)
    alamat = F.when(typed_case, F.initcap(F.lower(Al["alamat0"]))).otherwise(Al["alamat0"])
    reg_style = rng.int("reg_style", 4, r)
    kab = F.when(X["h_kota"], F.concat(F.lit("KOTA "), X["h_reg_base"])).otherwise(
        F.when(reg_style < 2, F.concat(F.lit("KABUPATEN "), X["h_reg_base"])).otherwise(F.concat(F.lit("KAB. "), X["h_reg_base"])))
    kab = F.when(reg_style == 3, F.initcap(F.lower(kab))).otherwise(kab)
    prov = F.when(rng.u("prov_case", r) < 0.3, F.initcap(F.lower(X["h_prov_name"]))).otherwise(X["h_prov_name"])
    # contact details: the person's own phone / e-mail, variants for second accounts
    acct = A["acct"]
    nat = F.when((acct > 0) & (rng.u("ph_new", j, acct) < 0.4),
                 W.phone_national(ctx, S["hh"], S["k"], acct)).otherwise(W.phone_national(ctx, S["hh"], S["k"], F.lit(0)))
    df, Ph = _stage(df, {"ph_nat": nat, "ph_u": rng.u("ph_fmt", r)}, inline=True)
    nat, ph_u = Ph["ph_nat"], Ph["ph_u"]
    phone = F.when(ph_u < rates.phone_intl * 0.55, F.concat(F.lit("+62"), nat)).when(
        ph_u < rates.phone_intl, F.concat(F.lit("62"), nat)).otherwise(F.concat(F.lit("0"), nat))
    df, Ph2 = _stage(df, {"phone0": phone}, inline=True)
    phone = F.when(rng.u("ph_sep", r) < 0.04, F.regexp_replace(Ph2["phone0"], r"^(\+?[0-9]{4})([0-9]{4})", "$1-$2-")
                   ).otherwise(Ph2["phone0"])
    df, email = _email(df, ctx, rng, r, j, acct, S["hh"], S["k"], X, rates.email_variant)
    # registration outcome
    nik_bad = D["nik_kind"].isNotNull()
    accept_p = F.when(X["h_pkh"], 0.02).otherwise(0.16)
    status = (F.when(nik_bad & (rng.u("st_nik", r) < 0.85), "Gagal Verifikasi NIK")
              .when((acct == 0) & (rng.u("st", j) < accept_p), "Penerima")
              .when(rng.u("st_w", r) < 0.03, "Menunggu Verifikasi")
              .otherwise("Tidak Lolos"))
    gelombang = F.least(F.lit(50), 1 + F.floor(F.datediff(T["acct_date"], F.lit(REG_START).cast("date")) / 20).cast("int"))
    public = {
        "id_pendaftar": F.concat(F.lit("PK-"), F.lpad((_permute(r, "pk") + 1).cast("string"), 10, "0")),
        "nik": nik,
        "no_kk": no_kk,
        "nama_lengkap": nama,
        "tanggal_lahir": F.date_format(dob, "yyyy-MM-dd"),
        "jenis_kelamin": F.when(sex == "L", "LAKI-LAKI").otherwise("PEREMPUAN"),
        "email": email,
        "no_hp": phone,
        "alamat_domisili": alamat,
        "kabupaten_kota": kab,
        "provinsi": prov,
        "status_pekerjaan": rng.category(STATUS_PEKERJAAN, "st_kerja", j),
        "pendidikan_terakhir": at(W.EDU_PRAKERJA, X["p_edu"]),
        "tanggal_daftar": F.date_format(T["acct_date"], "yyyy-MM-dd"),
        "gelombang": gelombang.cast("string"),
        "status_penerima": status,
    }
    hidden = {
        "_person_id": person_id(S["hh"], S["k"]),
        "_hh": S["hh"], "_k": S["k"], "_j": j, "_acct": acct, "_overlap": S["ov"], "_reg_date": T["reg_date"],
        "_nik_true": X["p_nik"], "_nik_region": X["p_nik_region"], "_nik_mismatch": X["p_nik_mismatch"],
        "_dob_true": X["m_dob"], "_sex_true": X["m_sex"], "_name_true": X["p_name"], "_age": X["m_age"],
        "_desil": X["h_desil"], "_pkh": X["h_pkh"], "_trad": X["h_trad"],
        "_nik_kind": D["nik_kind"], "_dob_kind": D["dob_kind"], "_family_ok": fam_ok,
        "_sex_flip": sex_flip, "_kk_missing": kk_missing, "_kk_changed": kk_changed, "_moved": Dm["moved"],
        **{f"_{k}": v for k, v in flags.items()},
    }
    return _select(df, {**public, **hidden})


def _email(df: DataFrame, ctx: Ctx, rng: Rng, r: Column, j: Column, acct: Column, hh: Column, k: Column,
           X: dict[str, Column], variant_rate: float) -> tuple[DataFrame, Column]:
    w = ctx.world
    df, T0 = _stage(df, {"em_toks": F.split(F.lower(F.regexp_replace(X["p_name"], "[^A-Z ]", "")), " ")}, inline=True)
    toks = T0["em_toks"]
    t1 = F.element_at(toks, 1)
    tl = F.when(F.size(toks) > 1, F.element_at(toks, -1)).otherwise(F.lit(""))
    yy = F.lpad((F.year(X["m_dob"]) % 100).cast("string"), 2, "0")
    nn = w.int("em_num", 1000, hh, k).cast("string")
    style = w.int("em_style", 5, hh, k)
    local = (F.when(style == 0, F.concat(t1, tl, yy)).when(style == 1, F.concat_ws(".", t1, tl, nn))
             .when(style == 2, F.concat(t1, F.lit("_"), tl, nn)).when(style == 3, F.concat(t1, nn, yy))
             .otherwise(F.concat(t1, tl, nn)))
    local = F.regexp_replace(F.regexp_replace(local, r"\.+", "."), r"^\.|\.$", "")
    df, L = _stage(df, {"em_local0": local, "em_domain0": w.pick(W.EMAIL_DOMAINS, "em_dom", hh, k),
                        "em_vk": rng.int("em_acct", 3, j, acct)})
    local, domain, vk = L["em_local0"], L["em_domain0"], L["em_vk"]
    # a second account needs another address: the Gmail dot trick, another number, another provider
    cut = 1 + rng.int("em_cut", F.greatest(F.length(local) - 1, F.lit(1)), j, acct)
    dotted = F.concat(local.substr(F.lit(1), cut), F.lit("."), local.substr(cut + 1, F.length(local)))
    acct_local = (F.when(vk == 0, F.regexp_replace(dotted, r"\.\.+", "."))
                  .when(vk == 1, F.concat(local, acct.cast("string")))
                  .otherwise(local))
    alt = w.pick(W.EMAIL_DOMAINS, "em_dom2", hh, k, acct)
    acct_domain = F.when(vk == 2, F.when(alt == domain, F.lit("yahoo.com")).otherwise(alt)).otherwise(domain)
    df, M = _stage(df, {"em_local1": F.when(acct > 0, acct_local).otherwise(local),
                        "em_domain1": F.when(acct > 0, acct_domain).otherwise(domain),
                        "em_fvar": rng.u("em_var", r) < variant_rate})
    local = M["em_local1"]
    # typed differently: capitals, dots removed
    vv = rng.int("em_var_k", 3, r)
    local = F.when(M["em_fvar"], F.when(vv == 0, F.initcap(local)).when(vv == 1, F.upper(local))
                   .otherwise(F.regexp_replace(local, r"\.", ""))).otherwise(local)
    return df, F.concat(local, F.lit("@"), M["em_domain1"])
