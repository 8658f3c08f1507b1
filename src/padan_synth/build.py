"""Builds the P3KE and Prakerja extracts (with hidden ground-truth and damage columns, prefixed '_').

`p3ke_batch` / `prakerja_batch` turn a numpy array of row numbers into an Arrow record batch, with
vectorised numpy / pyarrow code only; `frame` runs them inside Spark with `mapInArrow`, each task
generating its share of row numbers. A row's values depend only on the seed and its row number
(see `rng`), so the data are the same for any number of partitions, batch size or cores.
"""

from __future__ import annotations

import math
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import DataFrame, SparkSession

from padan_synth import corrupt as C
from padan_synth import names as N
from padan_synth import vx
from padan_synth import world as W
from padan_synth.profiles import Profile
from padan_synth.rng import Rng
from padan_synth.world import BLOCK, BLOCK_BITS, N_TEMPLATES, NP_ADULT_BASE, NP_BASE, Ctx

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
BATCH_ROWS = 32_768           # rows generated (and handed to Spark) at a time

_FLAGS = ["_f_mono", "_f_drop", "_f_muh", "_f_abd", "_f_old", "_f_swap", "_f_typo", "_f_title"]
_COMMON_HIDDEN = [("_person_id", "string"), ("_hh", "bigint"), ("_k", "int")]
_PERSON_HIDDEN = [("_nik_true", "string"), ("_nik_region", "string"), ("_nik_mismatch", "boolean"),
                  ("_dob_true", "date"), ("_sex_true", "string"), ("_name_true", "string"), ("_age", "int")]
P3KE_HIDDEN = (_COMMON_HIDDEN + [("_dup", "boolean")] + _PERSON_HIDDEN
               + [("_role", "string"), ("_desil", "int"), ("_pkh", "boolean"), ("_trad", "int"),
                  ("_home_region", "string"), ("_nik_kind", "string"), ("_dob_kind", "string"),
                  ("_family_ok", "boolean"), ("_sex_flip", "boolean"), ("_kk_missing", "boolean")]
               + [(f, "boolean") for f in _FLAGS])
PRAKERJA_HIDDEN = (_COMMON_HIDDEN + [("_j", "bigint"), ("_acct", "int"), ("_overlap", "boolean"), ("_reg_date", "date")]
                   + _PERSON_HIDDEN
                   + [("_desil", "int"), ("_pkh", "boolean"), ("_trad", "int"),
                      ("_nik_kind", "string"), ("_dob_kind", "string"), ("_family_ok", "boolean"),
                      ("_sex_flip", "boolean"), ("_kk_missing", "boolean"), ("_kk_changed", "boolean"),
                      ("_moved", "boolean")]
                   + [(f, "boolean") for f in _FLAGS + ["_f_case"]])
_ARROW = {"string": pa.string(), "bigint": pa.int64(), "int": pa.int32(), "boolean": pa.bool_(), "date": pa.date32()}


def columns(source: str, mode: str) -> list[tuple[str, str]]:
    """(name, Spark type) of the columns `mode` ('debug', 'public', 'truth') gives for a source."""
    key = "id_individu" if source == "p3ke" else "id_pendaftar"
    if mode == "truth":
        return [(key, "string"), ("_person_id", "string")]
    if mode == "truth_table":
        return [("source", "string"), ("record_id", "string"), ("person_id", "string")]
    public = [(c, "string") for c in (P3KE_COLUMNS if source == "p3ke" else PRAKERJA_COLUMNS)]
    return public if mode == "public" else public + (P3KE_HIDDEN if source == "p3ke" else PRAKERJA_HIDDEN)


def partitions_for(spark: SparkSession, rows: int, partitions: int | None) -> int:
    if partitions:
        return max(1, int(partitions))
    return max(spark.sparkContext.defaultParallelism, math.ceil(rows / ROWS_PER_PARTITION), 1)


def _yn(flag: np.ndarray) -> pa.Array:
    return vx.where(flag, "Ya", "Tidak")


def _sex(male: np.ndarray) -> pa.Array:
    return vx.where(male, "L", "P")


def person_id(hh: np.ndarray, k: np.ndarray) -> pa.Array:
    return vx.cat("ORG-", vx.itos(hh), "-", vx.itos(k))


def _kind_text(kind: np.ndarray, kinds: tuple[str, ...]) -> pa.Array:
    return vx.where(kind >= 0, vx.take(kinds, np.maximum(kind, 0)), None)


# ---------------------------------------------------------------- identities

def p3ke_person_at(ctx: Ctx, row: np.ndarray) -> dict[str, np.ndarray]:
    """Who is on P3KE row `row`: (hh, k) of the person shown, the household the row sits in, and
    whether the row repeats a person shown elsewhere (a within-source duplicate)."""
    rng = Rng(ctx.seed, "p3ke")
    block = row >> BLOCK_BITS
    pos = row & (BLOCK - 1)
    tpl = rng.int("tpl", N_TEMPLATES, block)
    code = ctx.tpl_codes[tpl * BLOCK + pos]
    pos2 = rng.int("dup_pos", BLOCK, row)
    dup = (rng.u("dup", row) < ctx.profile.p3ke.duplicate) & (pos2 != pos)
    shown = np.where(dup, ctx.tpl_codes[tpl * BLOCK + pos2], code)
    base = block << BLOCK_BITS
    return {"hh": base + shown // 100, "k": (shown // 10) % 10, "host_hh": base + code // 100, "dup": dup}


def _perm(n: int, salt: int) -> tuple[int, int, int]:
    """(n, a, c) of the bijection x -> (x * a + c) mod n of [0, n)."""
    n = max(int(n), 1)
    return n, W.permutation_multiplier(n, salt), (salt * 7919) % n


def _permute(x: np.ndarray, p: tuple[int, int, int]) -> np.ndarray:
    n, a, c = p
    return (x * a + c) % n


def _age_ok(reg_year: np.ndarray, birth_year: np.ndarray) -> np.ndarray:
    """Aged 18-64 on any day from the registration up to a year later."""
    gap = reg_year - birth_year
    return (gap >= 19) & (gap <= 63)


def _overlap_candidate(ctx: Ctx, j: np.ndarray, reg_date: np.ndarray) -> dict[str, np.ndarray]:
    """The P3KE person registrant j would be if it is one of the overlap, its eligibility and weight."""
    prof = ctx.profile
    P = ctx.p3ke_rows
    n = len(j)
    if P <= 0:
        return {"c_hh": np.zeros(n, np.int64), "c_k": np.zeros(n, np.int64), "c_ok": np.zeros(n, bool),
                "c_w": np.zeros(n)}
    sel = p3ke_person_at(ctx, _permute(j % P, _perm(P, 11)))
    H = W.household(ctx, sel["hh"], full=False)
    by = W.birth_year(ctx, sel["hh"], sel["k"], H)
    weight = np.asarray(prof.overlap_desil_weights)[H["desil"] - 1] * np.where(H["pkh"], prof.overlap_pkh_factor, 1.0)
    return {"c_hh": sel["hh"], "c_k": sel["k"], "c_ok": (j < P) & _age_ok(vx.year(reg_date), by), "c_w": weight}


def _registrant(ctx: Ctx, r: np.ndarray) -> dict[str, np.ndarray]:
    rng = Rng(ctx.seed, "prakerja")
    block = r >> BLOCK_BITS
    pos = r & (BLOCK - 1)
    code = ctx.acct_codes[rng.int("tpl", N_TEMPLATES, block) * BLOCK + pos]
    slot = code // 10
    return {"slot": slot, "acct": code % 10, "j": (block << BLOCK_BITS) + slot}


def _reg_date(ctx: Ctx, j: np.ndarray) -> np.ndarray:
    return vx.add_days(vx.date(REG_START, len(j)), Rng(ctx.seed, "prakerja").int("regday", REG_SPAN_DAYS, j))


def _np_member(ctx: Ctx, j: np.ndarray, slot: np.ndarray, reg_date: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(household, member or -1) of a working-age member of a household outside P3KE for registrant j
    (siblings sometimes share one)."""
    rng = Rng(ctx.seed, "prakerja")
    sib = (rng.u("sib", j) < 0.08) & (slot > 0)
    hh = NP_BASE + np.where(sib, j - 1, j)
    H = W.household(ctx, hh, full=False)
    reg_year = vx.year(reg_date)
    oks = np.stack([(kk < H["size"]) & _age_ok(reg_year, W.birth_year(ctx, hh, kk, H)) for kk in range(4)], axis=1)
    pref = np.where(sib, rng.category([(2, 0.6), (3, 0.4)], "np_k", j),
                    rng.category([(0, 0.35), (1, 0.2), (2, 0.3), (3, 0.15)], "np_k", j))
    rows = np.arange(len(j))
    first_ok = np.where(oks.any(axis=1), oks.argmax(axis=1), -1)
    return hh, np.where(oks[rows, pref], pref, first_ok)


def prakerja_identity(ctx: Ctx, r: np.ndarray, scale: float) -> dict[str, np.ndarray]:
    """Registrant, accounts and who the person behind Prakerja row r is."""
    A = _registrant(ctx, r)
    j = A["j"]
    rng = Rng(ctx.seed, "prakerja")
    reg_date = _reg_date(ctx, j)
    c = _overlap_candidate(ctx, j, reg_date)
    n_hh, n_k = _np_member(ctx, j, A["slot"], reg_date)
    ov = c["c_ok"] & (rng.u("ov", j) < scale * c["c_w"])
    hh = np.where(ov, c["c_hh"], np.where(n_k >= 0, n_hh, NP_ADULT_BASE + j))
    k = np.where(ov, c["c_k"], np.where(n_k >= 0, n_k, 0))
    return {**A, "reg_date": reg_date, "hh": hh, "k": k, "ov": ov}


# ---------------------------------------------------------------- overlap calibration

def mean_weight(profile: Profile) -> float:
    """Mean acceptance weight (eligible age x desil/PKH weight) of a P3KE candidate, measured on a
    fixed sample (seed 0, 20,000 registrants) with integer sums -- a property of the population
    model, not of a run, so every run and cluster gets the same number. Cheap: numpy on the driver."""
    n = CALIBRATION_SAMPLE
    ctx = Ctx(seed=0, profile=profile, p3ke_rows=n, prakerja_rows=n)
    j = np.arange(n, dtype=np.int64)
    c = _overlap_candidate(ctx, j, _reg_date(ctx, j))
    micro = np.where(c["c_ok"], np.round(c["c_w"] * 1_000_000), 0).astype(np.int64)
    return int(micro.sum()) / 1_000_000 / n


def calibrate_overlap(ctx: Ctx) -> float:
    """The acceptance scale that makes about `profile.overlap` of registrants P3KE people (capped:
    with few P3KE rows per registrant the overlap comes out lower)."""
    prof = ctx.profile
    P, R = ctx.p3ke_rows, ctx.prakerja_rows
    if P <= 0 or R <= 0 or prof.overlap <= 0:
        return 0.0
    mean_w = mean_weight(prof)
    if mean_w <= 0:
        return 0.0
    return round(prof.overlap / (min(1.0, P / R) * mean_w), 9)


# ---------------------------------------------------------------- person block shared by both sources

def _person(ctx: Ctx, hh: np.ndarray, k: np.ndarray) -> dict:
    H = W.household(ctx, hh)
    M = W.member(ctx, hh, k, H)
    K = W.person_nik(ctx, hh, k, H, M)
    name = W.person_name(ctx, hh, k, H, M)
    by = M["by"]
    edu = W.education(ctx, hh, k, M["age"], by, H["is_np"])
    pre, suf = W.titles(ctx, hh, k, M["male"], M["age"], by, edu, H["trad"])
    job = W.occupation(ctx, hh, k, M["age"], M["male"], edu, H["kota"])
    return {"H": H, "M": M, "K": K, "name": name, "edu": edu, "title_pre": pre, "title_suf": suf, "job": job}


def _family_nik(ctx: Ctx, hh: np.ndarray, k: np.ndarray, H: dict, need: np.ndarray) -> np.ndarray:
    """NIK of another member of the person's household (the head, or for the head the spouse or
    first child), computed where `need`; 0 elsewhere."""
    out = np.zeros(len(hh), np.int64)
    idx = np.nonzero(need)[0]
    if len(idx):
        h, k2 = hh[idx], np.where(k[idx] == 0, 1, 0)
        Hs = W.subset(H, idx)
        out[idx] = W.person_nik(ctx, h, k2, Hs, W.member(ctx, h, k2, Hs))["nik"]
    return out


def _name_and_damage(ctx: Ctx, rng: Rng, rates, key: np.ndarray, X: dict, allow_case: bool):
    H, M = X["H"], X["M"]
    gpre, gsuf = W.generic_title(rng, "gt", key, M["male"], M["age"], H["trad"])
    father = rng.pick(N.token_list("FATHER_M"), "father", key)
    title_pre = X["title_pre"]
    if ctx.profile.title_spelled > 0:
        spelled = rng.u("t_spell", key) < ctx.profile.title_spelled
        form = rng.int("t_form", len(_SPELLED_HAJJ), key)
        title_pre, gpre = (_spell_hajj(t, spelled, form) for t in (title_pre, gpre))
    return C.name(X["name"], rates, rng, key, male=M["male"], title_pre=title_pre, title_suf=X["title_suf"],
                  generic_pre=gpre, generic_suf=gsuf, father=father, allow_case=allow_case)


# (H. as, HJ. as): pilgrimage titles as typed out on some cards and forms
_SPELLED_HAJJ = (("HAJI", "HAJJAH"), ("HJ", "HJ"), ("HAJI", "HAJAH"), ("H", "HJH"))


def _spell_hajj(title: pa.Array, spelled: np.ndarray, form: np.ndarray) -> pa.Array:
    """Where `spelled`, the abbreviated pilgrimage title (H. / HJ.) written in form `form`."""
    out = title
    for i, (m, f) in enumerate(_SPELLED_HAJJ):
        variant = vx.regex(vx.regex(title, r"\bHJ\.", f), r"\bH\.", m)
        out = vx.where(spelled & (form == i), variant, out)
    return out


def _hidden_person(X: dict) -> dict:
    H, M, K = X["H"], X["M"], X["K"]
    return {"_nik_true": vx.itos(K["nik"]), "_nik_region": vx.itos(K["nik_region"]), "_nik_mismatch": K["nik_mismatch"],
            "_dob_true": vx.to_date32(M["dob"]), "_sex_true": _sex(M["male"]), "_name_true": X["name"],
            "_age": M["age"], "_desil": pa.array(H["desil"], pa.int32(), mask=H["desil"] == 0), "_pkh": H["pkh"],
            "_trad": H["trad"]}


def _batch(cols: dict, schema: list[tuple[str, str]]) -> pa.RecordBatch:
    arrays = []
    for name, typ in schema:
        v = cols[name]
        at = _ARROW[typ]
        arrays.append(v.cast(at) if isinstance(v, pa.Array) else pa.array(v).cast(at))
    return pa.RecordBatch.from_arrays(arrays, names=[n for n, _ in schema])


# ---------------------------------------------------------------- P3KE

def p3ke_batch(ctx: Ctx, r: np.ndarray, mode: str = "debug") -> pa.RecordBatch:
    schema = columns("p3ke", mode)
    A = p3ke_person_at(ctx, r)
    id_individu = vx.cat("P3KE-", vx.lpad(r + 1, 10))
    if mode in ("truth", "truth_table"):
        pid = person_id(A["hh"], A["k"])
        return _batch({"id_individu": id_individu, "_person_id": pid, "source": vx.const("p3ke", len(r)),
                       "record_id": id_individu, "person_id": pid}, schema)
    rates = ctx.profile.p3ke
    rng = Rng(ctx.seed, "p3ke")
    hh, k = A["hh"], A["k"]
    X = _person(ctx, hh, k)
    H, M, K = X["H"], X["M"], X["K"]
    # the household the row sits in (another one only for a few duplicate rows)
    O = {c: H[c] for c in ("no_kk", "alamat", "rt", "rw", "desil", "pkh", "bpnt")}
    other = np.nonzero(A["host_hh"] != hh)[0]
    if len(other):
        O = W.merge(O, other, W.household(ctx, A["host_hh"][other]))
    fam_ok = H["size"] >= 2
    nik_kind = C.nik_kind(rates, rng, r, fam_ok)
    dob_kind = C.dob_kind(rates, rng, r, M["dob"])
    fam_nik = _family_nik(ctx, hh, k, H, nik_kind == C.NIK_KINDS.index("family"))
    nama, flags = _name_and_damage(ctx, rng, rates, r, X, allow_case=False)
    nik = C.nik(K["nik"], nik_kind, fam_nik, rng, r)
    apos = ~vx.is_null(nik) & (rng.u("nik_apos", r) < 0.01)
    nik = vx.where(apos, vx.cat("'", nik), nik)
    dob, dob_missing = C.dob(M["dob"], dob_kind, rng, r)
    sex_flip = rng.u("sex_flip", r) < rates.sex_flip
    kk_missing = rng.u("kk_missing", r) < rates.kk_missing
    foreign = A["dup"] & (hh != A["host_hh"])
    role = np.where(foreign, W.R_EXTRA + W.X_FAMILI_LAIN, M["role"])
    cols = {
        "id_individu": id_individu,
        "id_keluarga": vx.cat("KLG-", vx.lpad(A["host_hh"], 10)),
        "no_kk": vx.where(kk_missing, None, vx.itos(O["no_kk"])),
        "nik": nik,
        "nama": nama,
        "tgl_lahir": vx.date_format(dob, "dd-MM-yyyy", dob_missing),
        "jenis_kelamin": _sex(M["male"] ^ sex_flip),
        "hubungan_keluarga": vx.take(W.ROLES, role),
        "alamat": O["alamat"], "rt": O["rt"], "rw": O["rw"],
        "desa_kelurahan": H["desa"], "kecamatan": H["kec"], "kabupaten_kota": H["reg_name"],
        "provinsi": H["prov_name"], "kode_wilayah": H["kode"],
        "desil": vx.itos(O["desil"]),
        "pekerjaan": X["job"],
        "pendidikan": vx.take(W.EDU_P3KE, X["edu"]),
        "penerima_pkh": _yn(O["pkh"]), "penerima_bpnt": _yn(O["bpnt"]),
    }
    if mode == "debug":
        cols.update({
            "_person_id": person_id(hh, k), "_hh": hh, "_k": k, "_dup": A["dup"], **_hidden_person(X),
            "_role": vx.take(W.ROLES, M["role"]),
            "_home_region": vx.cat(vx.lpad(H["prov"], 2), vx.lpad(H["rcode"], 2), vx.lpad(H["dist"], 2)),
            "_nik_kind": _kind_text(nik_kind, C.NIK_KINDS), "_dob_kind": _kind_text(dob_kind, C.DOB_KINDS),
            "_family_ok": fam_ok, "_sex_flip": sex_flip, "_kk_missing": kk_missing,
            **{f"_{f}": v for f, v in flags.items()},
        })
    return _batch(cols, schema)


# ---------------------------------------------------------------- Prakerja

STATUS_PEKERJAAN = [("Pencari Kerja", 0.45), ("Pekerja/Buruh", 0.25), ("Wirausaha", 0.14), ("Korban PHK", 0.10),
                    ("Dirumahkan", 0.06)]


def prakerja_batch(ctx: Ctx, r: np.ndarray, scale: float, mode: str = "debug") -> pa.RecordBatch:
    schema = columns("prakerja", mode)
    n = len(r)
    rates = ctx.profile.prakerja
    rng = Rng(ctx.seed, "prakerja")
    S = prakerja_identity(ctx, r, scale)
    id_pendaftar = vx.cat("PK-", vx.lpad(_permute(r, _perm(ctx.prakerja_rows, 29)) + 1, 10))
    hh, k, j, acct = S["hh"], S["k"], S["j"], S["acct"]
    if mode in ("truth", "truth_table"):
        pid = person_id(hh, k)
        return _batch({"id_pendaftar": id_pendaftar, "_person_id": pid, "source": vx.const("prakerja", n),
                       "record_id": id_pendaftar, "person_id": pid}, schema)
    acct_shift = np.where(acct > 0, 1 + rng.int("acct_day", 240, j, acct), 0)
    acct_date = np.minimum(vx.add_days(S["reg_date"], acct_shift), np.datetime64("2022-12-31", "D"))
    X = _person(ctx, hh, k)
    H, M, K = X["H"], X["M"], X["K"]
    fam_ok = H["size"] >= 2
    nik_kind = C.nik_kind(rates, rng, r, fam_ok)
    dob_kind = C.dob_kind(rates, rng, r, M["dob"])
    fam_nik = _family_nik(ctx, hh, k, H, nik_kind == C.NIK_KINDS.index("family"))
    nama, flags = _name_and_damage(ctx, rng, rates, r, X, allow_case=True)
    nik = C.nik(K["nik"], nik_kind, fam_nik, rng, r)
    spaced = ~vx.is_null(nik) & (vx.length(nik) == 16) & (rng.u("nik_sp", r) < 0.02)
    idx = np.nonzero(spaced)[0]
    if len(idx):
        nik = vx.scatter(nik, idx, vx.regex(vx.sub(nik, idx), "^(.{6})(.{6})(.{4})$", "\\1 \\2 \\3"))
    dob, dob_missing = C.dob(M["dob"], dob_kind, rng, r)
    sex_flip = rng.u("sex_flip", r) < rates.sex_flip
    # family card: sometimes a newer one (moved, married) -- a property of the registrant, not the row
    kk_changed = rng.u("kk_changed", j) < rates.kk_changed
    kk_missing = rng.u("kk_missing", r) < rates.kk_missing
    kk_date = vx.add_days(vx.date("2019-01-01", n), rng.int("kk_new_d", 1300, j))
    new_kk = (H["no_kk"] // 10_000_000_000) * 10_000_000_000 + W._digits_date(kk_date) * 10_000 + 1 \
        + rng.int("kk_new_s", 9999, j)
    no_kk = vx.where(kk_missing, None, vx.itos(np.where(kk_changed, new_kk, H["no_kk"])))
    # domicile: the household's village, or (moved) another village of the same regency
    moved = rng.u("moved", j) < rates.addr_moved
    same_dist = rng.u("moved_d", j) < 0.6
    reg = H["reg"]
    d_dist = np.where(moved & ~same_dist, 1 + rng.int("moved_dist", ctx.reg_ndist[reg], j), H["dist"])
    nvil = W.n_villages(ctx, reg, d_dist, H["kota"])
    new_v = rng.int("moved_vil", nvil, j)
    new_v = np.where((d_dist == H["dist"]) & (new_v == H["vnum"]), (new_v + 1) % nvil, new_v)
    street, rt, rw = H["alamat"], H["rt"], H["rw"]
    desa, kec, vcode = H["desa"], H["kec"], H["vcode"]
    mi = np.nonzero(moved)[0]
    if len(mi):
        Rg = W.region(ctx, reg[mi], d_dist[mi], new_v[mi])
        jm = j[mi]
        street = vx.scatter(street, mi, W.street_address(ctx, rng, "dom", Rg["group"], Rg["kota"], reg[mi],
                                                         Rg["dist"], Rg["vcode"], jm))
        rt = vx.scatter(rt, mi, vx.lpad(1 + rng.int("dom_rt", 14, jm), 3))
        rw = vx.scatter(rw, mi, vx.lpad(1 + rng.int("dom_rw", 8, jm), 3))
        desa, kec = vx.scatter(desa, mi, Rg["desa"]), vx.scatter(kec, mi, Rg["kec"])
        vcode = vcode.copy()
        vcode[mi] = Rg["vcode"]
    desa_word = vx.where(vcode < 2000, "KEL. ", "DESA ")
    addr_style = rng.int("addr_style", 3, r)
    alamat = vx.where(addr_style == 0, vx.cat(street, " RT ", rt, " RW ", rw, ", ", desa_word, desa, ", KEC. ", kec),
                      vx.where(addr_style == 1, vx.cat(street, " RT ", pc.utf8_slice_codeunits(rt, 1, 3), "/",
                                                       pc.utf8_slice_codeunits(rw, 1, 3), " ", desa, " ", kec),
                               vx.cat(street, ", ", desa)))
    typed = np.nonzero(rng.u("addr_case", r) < 0.4)[0]
    alamat = vx.scatter(alamat, typed, vx.initcap(vx.sub(alamat, typed)))
    reg_style = rng.int("reg_style", 4, r)
    base = H["reg_base"]
    kab = vx.where(H["kota"], vx.cat("KOTA ", base), vx.where(reg_style < 2, vx.cat("KABUPATEN ", base),
                                                               vx.cat("KAB. ", base)))
    ki = np.nonzero(reg_style == 3)[0]
    kab = vx.scatter(kab, ki, vx.initcap(vx.sub(kab, ki)))
    pi = np.nonzero(rng.u("prov_case", r) < 0.3)[0]
    prov = vx.scatter(H["prov_name"], pi, vx.initcap(vx.sub(H["prov_name"], pi)))
    # contact details: the person's own phone / e-mail, variants for second accounts
    new_phone = (acct > 0) & (rng.u("ph_new", j, acct) < 0.4)
    nat = vx.where(new_phone, W.phone_national(ctx, hh, k, acct), W.phone_national(ctx, hh, k, np.zeros(n, np.int64)))
    ph_u = rng.u("ph_fmt", r)
    phone = vx.cat(vx.where(ph_u < rates.phone_intl * 0.55, "+62", vx.where(ph_u < rates.phone_intl, "62", "0")), nat)
    si = np.nonzero(rng.u("ph_sep", r) < 0.04)[0]
    if len(si):
        phone = vx.scatter(phone, si, vx.regex(vx.sub(phone, si), "^(\\+?[0-9]{4})([0-9]{4})", "\\1-\\2-"))
    email = _email(ctx, rng, r, j, acct, hh, k, X, rates.email_variant)
    # registration outcome
    nik_bad = nik_kind >= 0
    accept_p = np.where(H["pkh"], 0.02, 0.16)
    status = np.select([nik_bad & (rng.u("st_nik", r) < 0.85), (acct == 0) & (rng.u("st", j) < accept_p),
                        rng.u("st_w", r) < 0.03], [0, 1, 2], 3)
    gelombang = np.minimum(50, 1 + (acct_date - np.datetime64(REG_START, "D")).astype(np.int64) // 20)
    cols = {
        "id_pendaftar": id_pendaftar,
        "nik": nik,
        "no_kk": no_kk,
        "nama_lengkap": nama,
        "tanggal_lahir": vx.date_format(dob, "yyyy-MM-dd", dob_missing),
        "jenis_kelamin": vx.where(M["male"] ^ sex_flip, "LAKI-LAKI", "PEREMPUAN"),
        "email": email,
        "no_hp": phone,
        "alamat_domisili": alamat,
        "kabupaten_kota": kab,
        "provinsi": prov,
        "status_pekerjaan": vx.take([s for s, _ in STATUS_PEKERJAAN],
                                    rng.category(list(enumerate(p for _, p in STATUS_PEKERJAAN)), "st_kerja", j)),
        "pendidikan_terakhir": vx.take(W.EDU_PRAKERJA, X["edu"]),
        "tanggal_daftar": vx.date_format(acct_date, "yyyy-MM-dd"),
        "gelombang": vx.itos(gelombang),
        "status_penerima": vx.take(["Gagal Verifikasi NIK", "Penerima", "Menunggu Verifikasi", "Tidak Lolos"], status),
    }
    if mode == "debug":
        cols.update({
            "_person_id": person_id(hh, k), "_hh": hh, "_k": k, "_j": j, "_acct": acct, "_overlap": S["ov"],
            "_reg_date": vx.to_date32(S["reg_date"]), **_hidden_person(X),
            "_nik_kind": _kind_text(nik_kind, C.NIK_KINDS), "_dob_kind": _kind_text(dob_kind, C.DOB_KINDS),
            "_family_ok": fam_ok, "_sex_flip": sex_flip, "_kk_missing": kk_missing, "_kk_changed": kk_changed,
            "_moved": moved, **{f"_{f}": v for f, v in flags.items()},
        })
    return _batch(cols, schema)


def _email(ctx: Ctx, rng: Rng, r, j, acct, hh, k, X: dict, variant_rate: float) -> pa.Array:
    w = ctx.world
    n = len(r)
    vals, off = vx.split(vx.lower(vx.regex(X["name"], "[^A-Z ]", "")))
    ntok = np.diff(off)
    t1 = vx.sub(vals, off[:-1])
    tl = vx.where(ntok > 1, vx.sub(vals, np.maximum(off[1:] - 1, 0)), "")
    yy = vx.lpad(X["M"]["by"] % 100, 2)
    nn = vx.itos(w.int("em_num", 1000, hh, k))
    style = w.int("em_style", 5, hh, k)
    local = vx.where(style == 0, vx.cat(t1, tl, yy),
                     vx.where(style == 1, vx.cat_ws(".", t1, tl, nn),
                              vx.where(style == 2, vx.cat(t1, "_", tl, nn),
                                       vx.where(style == 3, vx.cat(t1, nn, yy), vx.cat(t1, tl, nn)))))
    local = vx.regex(vx.regex(local, "\\.+", "."), "^\\.|\\.$", "")
    domain = w.pick(W.EMAIL_DOMAINS, "em_dom", hh, k)
    vk = rng.int("em_acct", 3, j, acct)
    # a second account needs another address: the Gmail dot trick, another number, another provider
    ai = np.nonzero(acct > 0)[0]
    if len(ai):
        la, ja, aa = vx.sub(local, ai), j[ai], acct[ai]
        mat, lens = vx.to_mat(la)
        mat = vx.widen(mat, 1)
        cut = 1 + rng.int("em_cut", np.maximum(lens - 1, 1), ja, aa)     # dot after `cut` characters
        t = np.arange(mat.shape[1])[None, :]
        dotted = np.where(t == cut[:, None], 46, vx.gather(mat, t - (t > cut[:, None]))).astype(np.uint8)
        dotted = vx.regex(vx.from_mat(dotted, np.minimum(lens, cut) + 1 + np.maximum(lens - cut, 0)), "\\.\\.+", ".")
        v = vk[ai]
        acct_local = vx.where(v == 0, dotted, vx.where(v == 1, vx.cat(la, vx.itos(aa)), la))
        da = vx.sub(domain, ai)
        alt = w.pick(W.EMAIL_DOMAINS, "em_dom2", hh[ai], k[ai], aa)
        acct_domain = vx.where(v == 2, vx.where(pc.equal(alt, da).to_numpy(zero_copy_only=False), "yahoo.com", alt), da)
        local, domain = vx.scatter(local, ai, acct_local), vx.scatter(domain, ai, acct_domain)
    # typed differently: capitals, dots removed
    fi = np.nonzero(rng.u("em_var", r) < variant_rate)[0]
    if len(fi):
        lf = vx.sub(local, fi)
        vv = rng.int("em_var_k", 3, r[fi])
        local = vx.scatter(local, fi, vx.where(vv == 0, vx.initcap(lf), vx.where(vv == 1, vx.upper(lf),
                                                                                 vx.regex(lf, "\\.", ""))))
    return vx.cat(local, "@", domain)


# ---------------------------------------------------------------- in Spark

def _ranges(rows: int, parts: int, pid: int) -> Iterator[np.ndarray]:
    lo, hi = rows * pid // parts, rows * (pid + 1) // parts
    for start in range(lo, hi, BATCH_ROWS):
        yield np.arange(start, min(hi, start + BATCH_ROWS), dtype=np.int64)


def frame(spark: SparkSession, ctx: Ctx, source: str, *, mode: str = "debug", scale: float = 0.0,
          partitions: int | None = None) -> DataFrame:
    """One extract (or its truth) as a DataFrame: `parts` tasks, task i generating the i-th share of
    the row numbers with `mapInArrow`."""
    rows = ctx.p3ke_rows if source == "p3ke" else ctx.prakerja_rows
    parts = partitions_for(spark, rows, partitions)
    schema = ", ".join(f"`{n}` {t}" for n, t in columns(source, mode))

    def generate(batches):
        for b in batches:
            for pid in b.column(0).to_numpy():
                for r in _ranges(rows, parts, int(pid)):
                    yield p3ke_batch(ctx, r, mode) if source == "p3ke" else prakerja_batch(ctx, r, scale, mode)

    return spark.range(0, parts, 1, parts).mapInArrow(generate, schema)


def write_direct(spark: SparkSession, ctx: Ctx, source: str, path: str, fmt: str, *, mode: str = "public",
                 scale: float = 0.0, partitions: int | None = None) -> int:
    """Write one extract (or its truth) with each task writing its own part file through pyarrow
    (Parquet, snappy; or CSV with a header, strings quoted), skipping Spark's row conversion and
    writers. `path` must be a local or shared file system folder; it is replaced. Returns rows."""
    import os
    import shutil

    rows = ctx.p3ke_rows if source == "p3ke" else ctx.prakerja_rows
    parts = partitions_for(spark, rows, partitions)
    out = path[len("file:"):] if path.startswith("file:") else path
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)

    def write(batches):
        import pyarrow.csv as pacsv
        import pyarrow.parquet as pq

        for b in batches:
            for pid in b.column(0).to_numpy():
                name = os.path.join(out, f"part-{int(pid):05d}." + ("snappy.parquet" if fmt == "parquet" else "csv"))
                tmp = os.path.join(out, "." + os.path.basename(name) + ".tmp")
                writer, n = None, 0
                for r in _ranges(rows, parts, int(pid)):
                    batch = p3ke_batch(ctx, r, mode) if source == "p3ke" else prakerja_batch(ctx, r, scale, mode)
                    if writer is None:
                        writer = (pq.ParquetWriter(tmp, batch.schema, compression="snappy") if fmt == "parquet" else
                                  pacsv.CSVWriter(tmp, batch.schema, write_options=pacsv.WriteOptions(include_header=True)))
                    writer.write_batch(batch)
                    n += batch.num_rows
                if writer is not None:
                    writer.close()
                    os.replace(tmp, name)
                yield pa.RecordBatch.from_arrays([pa.array([int(pid)], pa.int64()), pa.array([n], pa.int64())],
                                                 names=["part", "rows"])

    written = spark.range(0, parts, 1, parts).mapInArrow(write, "part bigint, rows bigint").collect()
    open(os.path.join(out, "_SUCCESS"), "w").close()
    return sum(r["rows"] for r in written)
