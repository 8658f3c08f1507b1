"""The synthetic population as pure, vectorised functions of identifiers.

A person is (household id `hh`, member index `k`). Everything about a household -- where it lives,
its family card, its desil, its naming tradition, the head's age -- is a function of (seed, hh), and
everything about a member -- role, sex, birth date, NIK, name, education -- of (seed, hh, k) and the
household. So the same person can be rebuilt anywhere (in P3KE, in Prakerja, as somebody's family
member) without a join, and the same seed always gives the same people. Each function takes numpy
arrays of identifiers (one batch of rows) and returns a dict of numpy / pyarrow arrays.

Household ids:
- P3KE households: ``hh = block * 64 + slot``. P3KE rows come in blocks of 64 rows; a block is laid
  out by one of `N_TEMPLATES` templates (household sizes filling 64 rows), and all households of a
  block live in one village (extracts are ordered by region).
- Households of people who are not in P3KE: ``NP_BASE + registrant`` (general population, by
  population weight), and ``NP_ADULT_BASE + registrant`` (a last-resort household whose head is a
  working-age adult).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from padan_synth import names as N
from padan_synth import vx
from padan_synth.profiles import Profile
from padan_synth.regions import GEO_SEED, GROUPS, HAMLET_WORD, STREETS, Geography, geography
from padan_synth.rng import Rng

BLOCK = 64
BLOCK_BITS = 6
N_TEMPLATES = 256
NP_BASE = 100_000_000_000
NP_ADULT_BASE = 200_000_000_000
REF_DATE = "2022-06-30"          # P3KE reference date: ages are ages on this day
REF_YEAR = 2022

# P3KE household sizes (poor households are larger than average).
P3KE_SIZE_WEIGHTS = {1: 0.07, 2: 0.14, 3: 0.20, 4: 0.24, 5: 0.17, 6: 0.10, 7: 0.05, 8: 0.03}

ROLE_HEAD, ROLE_WIFE, ROLE_HUSBAND, ROLE_CHILD = "KEPALA KELUARGA", "ISTRI", "SUAMI", "ANAK"
EXTRA_ROLES = [("ORANG TUA", 0.30), ("CUCU", 0.25), ("FAMILI LAIN", 0.22), ("MENANTU", 0.13), ("MERTUA", 0.10)]
X_ORANG_TUA, X_CUCU, X_FAMILI_LAIN, X_MENANTU, X_MERTUA = range(5)
# role codes: 0 head, 1 wife, 2 husband, 3 child, 4 + extra kind
ROLES = (ROLE_HEAD, ROLE_WIFE, ROLE_HUSBAND, ROLE_CHILD, *[r for r, _ in EXTRA_ROLES])
R_HEAD, R_WIFE, R_HUSBAND, R_CHILD, R_EXTRA = 0, 1, 2, 3, 4

EDU_P3KE = ["TIDAK/BELUM SEKOLAH", "BELUM TAMAT SD/SEDERAJAT", "TAMAT SD/SEDERAJAT", "SLTP/SEDERAJAT",
            "SLTA/SEDERAJAT", "DIPLOMA I/II", "AKADEMI/DIPLOMA III/SARJANA MUDA", "DIPLOMA IV/STRATA I",
            "STRATA II"]
EDU_PRAKERJA = ["Tidak Sekolah", "SD", "SD", "SMP", "SMA/SMK", "D1/D2", "D3", "S1/D4", "S2"]
# cumulative shares of education levels 0..8 among adults in poor households
EDU_ADULT_CUM = [0.05, 0.17, 0.50, 0.72, 0.945, 0.955, 0.97, 0.998, 1.0]

JOBS_RURAL_M = N.expand("PETANI/PEKEBUN*30 BURUH_TANI/PERKEBUNAN*10 BURUH_HARIAN_LEPAS*18 WIRASWASTA*10 "
                        "NELAYAN/PERIKANAN*4 PEDAGANG*6 KARYAWAN_SWASTA*6 SOPIR*3 TUKANG_BATU*4 TUKANG_KAYU*2 "
                        "BELUM/TIDAK_BEKERJA*7")
JOBS_URBAN_M = N.expand("BURUH_HARIAN_LEPAS*22 WIRASWASTA*16 PEDAGANG*12 KARYAWAN_SWASTA*18 SOPIR*6 "
                        "TUKANG_BATU*5 TUKANG_KAYU*3 PETANI/PEKEBUN*3 BELUM/TIDAK_BEKERJA*10 JASA_LAINNYA*5")
JOBS_F = N.expand("MENGURUS_RUMAH_TANGGA*45 PETANI/PEKEBUN*12 BURUH_HARIAN_LEPAS*10 PEDAGANG*10 WIRASWASTA*7 "
                  "KARYAWAN_SWASTA*6 BURUH_TANI/PERKEBUNAN*4 BELUM/TIDAK_BEKERJA*6")
JOBS_OLD_M = N.expand("BELUM/TIDAK_BEKERJA*55 PETANI/PEKEBUN*30 PEDAGANG*8 PENSIUNAN*7")
JOBS_OLD_F = N.expand("BELUM/TIDAK_BEKERJA*40 MENGURUS_RUMAH_TANGGA*35 PETANI/PEKEBUN*15 PEDAGANG*7 PENSIUNAN*3")

PHONE_PREFIXES = ["812", "813", "821", "822", "823", "852", "853", "811", "851", "857", "856", "858",
                  "878", "877", "817", "818", "819", "859", "838", "831", "832", "895", "896", "897",
                  "898", "899", "881", "882", "887", "888"]
EMAIL_DOMAINS = N.expand("gmail.com*70 yahoo.com*10 yahoo.co.id*8 ymail.com*3 outlook.com*4 hotmail.com*3 "
                         "rocketmail.com*2")

MUSLIM_TRADITIONS = (N.JAVA, N.SUNDA, N.MINANG, N.BUGIS, N.MELAYU)


def _p3ke_templates(seed: int) -> tuple[list[int], list[int]]:
    """Layouts of 64-row blocks: per (template, position) a code slot*100 + member*10 + size, and
    per (template, slot) the household's size (0 for unused slots)."""
    rnd = random.Random(f"padan-synth-templates-{seed}")
    sizes_pop = list(P3KE_SIZE_WEIGHTS)
    weights = list(P3KE_SIZE_WEIGHTS.values())
    codes: list[int] = []
    slot_sizes: list[int] = []
    for _ in range(N_TEMPLATES):
        filled = 0
        sizes: list[int] = []
        while filled < BLOCK:
            s = min(rnd.choices(sizes_pop, weights)[0], BLOCK - filled)
            sizes.append(s)
            filled += s
        for slot, s in enumerate(sizes):
            for member in range(s):
                codes.append(slot * 100 + member * 10 + s)
        slot_sizes.extend(sizes + [0] * (BLOCK - len(sizes)))
    return codes, slot_sizes


def _account_templates(seed: int, duplicate: float) -> list[int]:
    """Layouts of 64-row Prakerja blocks: per position a code registrant_slot*10 + account index.
    A registrant has 2+ accounts with probability `duplicate` (2: 75%, 3: 20%, 4: 5%)."""
    rnd = random.Random(f"padan-synth-accounts-{seed}-{duplicate}")
    codes: list[int] = []
    for _ in range(N_TEMPLATES):
        filled = 0
        slot = 0
        while filled < BLOCK:
            n = 1
            if rnd.random() < duplicate:
                n = rnd.choices([2, 3, 4], [0.75, 0.20, 0.05])[0]
            n = min(n, BLOCK - filled)
            for a in range(n):
                codes.append(slot * 10 + a)
            filled += n
            slot += 1
    return codes


def permutation_multiplier(n: int, salt: int) -> int:
    """A multiplier coprime with n, so x -> (x * a + c) mod n is a bijection of [0, n)."""
    if n <= 2:
        return 1
    a = int(n * 0.6180339887) + 1 + (salt % 997)
    while math.gcd(a, n) != 1:
        a += 1
    return a


class Tokens:
    """Name lists as one string table with offsets, so a male/female pick is one `take`."""

    def __init__(self):
        self._keys: dict[str, tuple[int, int]] = {}
        values: list[str] = []
        keys = [*N.LISTS, "ARAB_M_LEAD", "ARAB_F_LEAD", "ABDUL_NEXT", "ARAB_M", "ARAB_F"]
        for key in keys:
            toks = N.token_list(key)
            self._keys[key] = (len(values), len(toks))
            values.extend(toks)
        self.values = pa.array(values, pa.string())

    def span(self, key: str) -> tuple[int, int]:
        return self._keys[key]


@dataclass
class Ctx:
    """Everything the generator needs: rates, RNG streams, lookup tables (numpy / pyarrow)."""
    seed: int
    profile: Profile
    p3ke_rows: int
    prakerja_rows: int

    def __post_init__(self) -> None:
        g: Geography = geography()
        self.world = Rng(self.seed, "world")
        self.geo_rng = Rng(GEO_SEED, "geo")
        tpl_codes, tpl_sizes = _p3ke_templates(self.seed)
        self.tpl_codes = np.asarray(tpl_codes, np.int64)
        self.tpl_sizes = np.asarray(tpl_sizes, np.int64)
        self.acct_codes = np.asarray(_account_templates(self.seed, self.profile.prakerja.duplicate), np.int64)
        i = lambda v: np.asarray(v, np.int64)  # noqa: E731
        s = lambda v: pa.array(list(v), pa.string())  # noqa: E731
        self.prov_codes, self.prov_group = i(g.prov_codes), i(g.prov_group)
        self.prov_names = s(g.prov_names)
        self.reg_prov_idx, self.reg_code, self.reg_ndist = i(g.reg_prov_idx), i(g.reg_code), i(g.reg_ndist)
        self.reg_is_kota = np.asarray(g.reg_is_kota, bool)
        self.reg_name, self.reg_base = s(g.reg_name), s(g.reg_base)
        self.prov_reg_start, self.prov_reg_count = i(g.prov_reg_start), i(g.prov_reg_count)
        self.pop_table, self.pov_table, self.trad_table = i(g.pop_table), i(g.pov_table), i(g.trad_table)
        self.place_prefix, self.place_suffix, self.joiner = s(g.place_prefix), s(g.place_suffix), s(g.joiner)
        self.prefix_off, self.prefix_len = i(g.prefix_off), i(g.prefix_len)
        self.suffix_off, self.suffix_len = i(g.suffix_off), i(g.suffix_len)
        self.hamlet_word = s([HAMLET_WORD[gr] for gr in GROUPS])
        self.tokens = Tokens()


def subset(d: dict, idx: np.ndarray) -> dict:
    """Rows idx of every array in d."""
    out = {}
    for k, v in d.items():
        out[k] = vx.sub(v, idx) if isinstance(v, pa.Array) else v[idx]
    return out


def merge(base: dict, idx: np.ndarray, part: dict) -> dict:
    """base with rows idx replaced by part's rows (same keys)."""
    out = {}
    for k, v in base.items():
        if k not in part:
            continue
        if isinstance(v, pa.Array):
            out[k] = vx.scatter(v, idx, part[k])
        else:
            nv = v.copy()
            nv[idx] = part[k]
            out[k] = nv
    return out


# ---------------------------------------------------------------- geography

def place_name(ctx: Ctx, group: np.ndarray, purpose: str, *keys) -> pa.Array:
    pre = vx.take(ctx.place_prefix, ctx.prefix_off[group] + ctx.geo_rng.int(purpose + ":p", ctx.prefix_len[group], *keys))
    suf = vx.take(ctx.place_suffix, ctx.suffix_off[group] + ctx.geo_rng.int(purpose + ":s", ctx.suffix_len[group], *keys))
    return vx.cat(pre, vx.take(ctx.joiner, group), suf)


def n_villages(ctx: Ctx, reg, dist, kota) -> np.ndarray:
    g = ctx.geo_rng
    return np.where(kota, 4 + g.int("nvil_k", 8, reg, dist), 6 + g.int("nvil", 16, reg, dist))


def village_code(ctx: Ctx, reg, dist, kota, vnum) -> np.ndarray:
    """Kemendagri-style 4-digit village code: kelurahan 1001.., desa 2001.."""
    nkel = np.where(kota, 99, ctx.geo_rng.int("nkel", 3, reg, dist))
    return np.where(vnum < nkel, 1001 + vnum, 2001 + vnum - nkel)


def region(ctx: Ctx, reg: np.ndarray, dist: np.ndarray, vnum: np.ndarray, names: bool = True) -> dict:
    """Codes (and with `names` the names) for (regency index, district number, village number)."""
    pidx = ctx.reg_prov_idx[reg]
    kota = ctx.reg_is_kota[reg]
    group = ctx.prov_group[pidx]
    vcode = village_code(ctx, reg, dist, kota, vnum)
    prov = ctx.prov_codes[pidx]
    rcode = ctx.reg_code[reg]
    out = {"pidx": pidx, "kota": kota, "group": group, "prov": prov, "rcode": rcode, "dist": dist, "vcode": vcode}
    if names:
        out.update(
            kode=vx.itos(prov * 100_000_000 + rcode * 1_000_000 + dist * 10_000 + vcode),
            prov_name=vx.take(ctx.prov_names, pidx), reg_name=vx.take(ctx.reg_name, reg),
            reg_base=vx.take(ctx.reg_base, reg),
            kec=place_name(ctx, group, "kec", reg, dist),
            desa=place_name(ctx, group, "desa", reg, dist, vcode))
    return out


def pick_regency(ctx: Ctx, table: str, purpose: str, *keys) -> np.ndarray:
    values = ctx.pop_table if table == "pop" else ctx.pov_table
    return values[ctx.world.int(purpose, len(values), *keys)]


def street_address(ctx: Ctx, rng: Rng, purpose: str, group, kota, reg, dist, vcode, *keys) -> pa.Array:
    """'JL. MAWAR NO. 12' in towns; 'DUSUN X' / 'KP. X' / 'BANJAR X' in villages (hamlets are shared
    by the households of one village)."""
    hamlet_idx = rng.int(purpose + ":ham", 6, *keys)
    hamlet = place_name(ctx, group, "hamlet", reg, dist, vcode, hamlet_idx)
    street = vx.cat("JL. ", rng.pick(STREETS, purpose + ":st", *keys), " NO. ",
                    vx.itos(1 + rng.int(purpose + ":no", 150, *keys)))
    rural = vx.cat(vx.take(ctx.hamlet_word, group), " ", hamlet)
    urban = rng.u(purpose + ":urb", *keys) < np.where(kota, 0.85, 0.15)
    return vx.where(urban, street, rural)


def _digits_date(d: np.ndarray) -> np.ndarray:
    y, m, day = vx.ymd(d)
    return day * 10_000 + m * 100 + y % 100


# ---------------------------------------------------------------- households

def household(ctx: Ctx, hh: np.ndarray, full: bool = True) -> dict:
    """Household columns for ids `hh`. Without `full`, only what members and identities need
    (no names, addresses or cards)."""
    w = ctx.world
    hh = np.asarray(hh, np.int64)
    is_np = hh >= NP_BASE
    block = hh >> BLOCK_BITS
    key = np.where(is_np, hh, block)  # P3KE: one village per block
    reg = np.where(is_np, pick_regency(ctx, "pop", "reg_np", key), pick_regency(ctx, "pov", "reg", key))
    tpl = Rng(ctx.seed, "p3ke").int("tpl", N_TEMPLATES, block)
    slot = hh & (BLOCK - 1)
    npsize = w.int("npsize", 5, hh)
    size = np.where(hh >= NP_ADULT_BASE, 1 + npsize, np.where(is_np, 2 + npsize, ctx.tpl_sizes[tpl * BLOCK + slot]))
    dist0 = 1 + w.int("dist", ctx.reg_ndist[reg], key)
    kota0 = ctx.reg_is_kota[reg]
    vnum = w.int("vil", n_villages(ctx, reg, dist0, kota0), key)
    R = region(ctx, reg, dist0, vnum, names=full)
    poor_east = R["group"] == GROUPS.index("east")
    u_desil = w.u("desil", hh)
    desil = np.where(u_desil < np.where(poor_east, 0.40, 0.27), 1,
                     np.where(u_desil < np.where(poor_east, 0.66, 0.53), 2,
                              np.where(u_desil < np.where(poor_east, 0.85, 0.77), 3, 4)))
    desil = np.where(is_np, 0, desil)            # 0: not a P3KE household (null)
    head_male = w.u("hsex", hh) < 0.86
    tri = (w.u("hage1", hh) + w.u("hage2", hh)) / 2
    head_age = np.where(hh >= NP_ADULT_BASE, 22 + w.int("hage_a", 38, hh),
                        np.where(w.u("hage_t", hh) < 0.04, 80 + w.int("hage_o", 15, hh),
                                 20 + np.floor(tri * 62).astype(np.int64)))
    ek = w.category(list(enumerate(p for _, p in EXTRA_ROLES)), "extra_kind", hh)
    trad = ctx.trad_table[R["pidx"] * 100 + w.int("trad", 100, hh)]
    u_hsp = w.u("hsp", hh)
    has_spouse = (size >= 2) & np.where(head_male, u_hsp < 0.92, u_hsp < 0.08)
    spouse_age = np.clip(np.where(head_male, head_age - w.int("sage", 10, hh) + 2, head_age + w.int("sage", 9, hh) - 1),
                         17, 94)
    mother_age = np.where(head_male & has_spouse, spouse_age, head_age)
    desil_ok = desil > 0
    di = np.maximum(desil - 1, 0)
    H = {
        "hh": hh, "is_np": is_np, "key": key, "reg": reg, "size": size, "vnum": vnum, **R,
        "desil": desil, "trad": trad, "head_male": head_male, "head_age": head_age,
        "has_spouse": has_spouse, "spouse_age": spouse_age,
        "pkh": desil_ok & (w.u("pkh", hh) < np.array([0.45, 0.35, 0.22, 0.12])[di]),
        "bpnt": desil_ok & (w.u("bpnt", hh) < np.array([0.62, 0.47, 0.33, 0.22])[di]),
        "first_child_age": mother_age - 19 - w.int("fca", 13, hh),
        "extra": (size >= 3) & (w.u("extra", hh) < 0.20),
        "extra_kind": np.where((ek == X_CUCU) & (head_age < 45), X_FAMILI_LAIN, ek),
        "caste": np.where(w.u("caste", hh) < 0.10, w.int("caste_k", 4, hh), -1),
        "noble": w.u("noble", hh) < 0.08,
    }
    if full:
        H.update(family=_family(ctx, trad, "fam", hh), wife_family=_family(ctx, trad, "wfam", hh),
                 other_family=_family(ctx, trad, "ofam", hh))
        kk_date = vx.add_days(vx.date("2005-01-01", len(hh)), w.int("kkdate", 6000, hh))
        region6 = R["prov"] * 10_000 + R["rcode"] * 100 + R["dist"]
        H["no_kk"] = region6 * 10_000_000_000 + _digits_date(kk_date) * 10_000 + 1 + w.int("kkser", 9999, hh)
        H["alamat"] = street_address(ctx, w, "addr", R["group"], R["kota"], reg, R["dist"], R["vcode"], hh)
        H["rt"] = vx.lpad(1 + w.int("rt", 14, hh), 3)
        H["rw"] = vx.lpad(1 + w.int("rw", 8, hh), 3)
    return H


_FAMILY_LISTS = {N.BATAK: "BATAK_MARGA", N.CHINESE: "CHINESE_FAMILY", N.EAST: "EAST_FAMILY"}


def _family(ctx: Ctx, trad: np.ndarray, purpose: str, hh: np.ndarray) -> pa.Array:
    """A family name for Batak, Chinese and eastern households (null for the others)."""
    off = np.zeros(len(trad), np.int64)
    cnt = np.ones(len(trad), np.int64)
    has = np.zeros(len(trad), bool)
    for tid, key in _FAMILY_LISTS.items():
        o, c = ctx.tokens.span(key)
        m = trad == tid
        off[m], cnt[m], has[m] = o, c, True
    vals = vx.take(ctx.tokens.values, off + ctx.world.int(purpose, cnt, hh))
    return vx.where(has, vals, None)


# ---------------------------------------------------------------- members

def _ages(ctx: Ctx, hh: np.ndarray, k: np.ndarray, H: dict) -> dict:
    """Role flags, age and the birth-date draw of member k of household hh."""
    w = ctx.world
    prof = ctx.profile
    size, has_sp, extra_kind = H["size"], H["has_spouse"], H["extra_kind"]
    is_head = k == 0
    is_sp = (k == 1) & has_sp
    is_extra = H["extra"] & (k == size - 1) & (k >= 2)
    sp = has_sp.astype(np.int64)
    child_order = k - sp
    is_child = ~is_head & ~is_sp & ~is_extra
    twin = is_child & (child_order >= 2) & (w.u("twin", hh, k) < prof.twin_rate)
    bk = np.where(twin, k - 1, k)
    child_age_raw = H["first_child_age"] - (bk - sp - 1) * 2 - w.int("cjit", 3, hh, bk)
    child_age = np.where(child_age_raw < 0, w.int("cyoung", 5, hh, k), child_age_raw)
    head_age = H["head_age"]
    ux = w.u("xage", hh)
    parent = (extra_kind == X_ORANG_TUA) | (extra_kind == X_MERTUA)
    extra_age = np.where(parent, head_age + 20 + (ux * 15).astype(np.int64),
                         np.where(extra_kind == X_CUCU, (ux * 12).astype(np.int64),
                                  np.where(extra_kind == X_MENANTU,
                                           np.maximum(17, H["first_child_age"] + (ux * 5).astype(np.int64) - 2),
                                           5 + (ux * 60).astype(np.int64))))
    age = np.where(is_head, head_age, np.where(is_sp, H["spouse_age"], np.where(is_extra, extra_age, child_age)))
    age = np.clip(age, 0, 94)
    # born on REF_DATE's month and day `age` years earlier (REF_DATE is 30 June: no month-end clamp), minus 0-364 days
    dob0 = (vx._days(REF_YEAR - age, 6, 30) - w.int("doy", 365, hh, bk)).astype("datetime64[D]")
    return {"is_head": is_head, "is_spouse": is_sp, "is_extra": is_extra, "is_child": is_child, "parent": parent,
            "child_order": child_order, "age": age, "dob0": dob0, "twin": twin}


def birth_year(ctx: Ctx, hh: np.ndarray, k, H: dict) -> np.ndarray:
    """Year of birth of member k (a registry placeholder date keeps the year): what age checks need."""
    k = np.broadcast_to(np.asarray(k, np.int64), (len(hh),))
    return vx.year(_ages(ctx, hh, k, H)["dob0"])


def member(ctx: Ctx, hh: np.ndarray, k: np.ndarray, H: dict) -> dict:
    """Role, sex, age and birth date of member k of household hh (household columns H)."""
    w = ctx.world
    prof = ctx.profile
    n = len(hh)
    k = np.broadcast_to(np.asarray(k, np.int64), (n,))
    A = _ages(ctx, hh, k, H)
    is_head, is_sp, is_extra = A["is_head"], A["is_spouse"], A["is_extra"]
    usex = w.u("sex", hh, k)
    male = np.where(is_head, H["head_male"], np.where(is_sp, ~H["head_male"],
                                                      np.where(is_extra & A["parent"], usex >= 0.7, usex < 0.5)))
    role = np.where(is_head, R_HEAD, np.where(is_sp, np.where(H["head_male"], R_WIFE, R_HUSBAND),
                                              np.where(is_extra, R_EXTRA + H["extra_kind"], R_CHILD)))
    dob0 = A["dob0"]
    by = vx.year(dob0)
    rate = prof.registry_placeholder_dob
    placeholder = (by < 2010) & (w.u("regph", hh, k) < np.where(by < 1975, rate, rate / 6))
    ph_kind = w.u("regph_k", hh, k)
    ph_date = vx.make_date(by, np.where(ph_kind < 0.55, 7, np.where(ph_kind < 0.85, 12, 1)),
                           np.where((ph_kind >= 0.55) & (ph_kind < 0.85), 31, 1))
    dob = np.where(placeholder, ph_date, dob0)
    return {"is_head": is_head, "is_spouse": is_sp, "is_extra": is_extra, "is_child": A["is_child"],
            "child_order": A["child_order"], "age": A["age"], "male": male, "role": role, "dob": dob, "by": by,
            "twin": A["twin"]}


def person_nik(ctx: Ctx, hh: np.ndarray, k: np.ndarray, H: dict, M: dict) -> dict:
    """nik (as issued, int64), nik_region (6-digit region of first registration, int64) and
    nik_mismatch (NIK issued with a wrong birth date)."""
    w = ctx.world
    prof = ctx.profile
    role, male, dob = M["role"], M["male"], M["dob"]
    factor = np.select([role == R_HEAD, (role == R_WIFE) | (role == R_HUSBAND), role == R_CHILD], [1.2, 2.0, 0.25], 2.5)
    pidx = H["pidx"]
    same_prov = w.u("mv_same", hh, k) < 0.6
    oreg = np.where(same_prov, ctx.prov_reg_start[pidx] + w.int("mv_reg", ctx.prov_reg_count[pidx], hh, k),
                    pick_regency(ctx, "pop", "mv_reg2", hh, k))
    mover = w.u("mover", hh, k) < np.minimum(0.9, factor * prof.mover_rate)
    mismatch = w.u("nik_mm", hh, k) < prof.nik_birth_mismatch
    odist = 1 + w.int("mv_dist", ctx.reg_ndist[oreg], hh, k)
    prov = np.where(mover, ctx.prov_codes[ctx.reg_prov_idx[oreg]], H["prov"])
    rcode = np.where(mover, ctx.reg_code[oreg], H["rcode"])
    dist = np.where(mover, odist, H["dist"])
    mm_kind = w.int("nik_mm_k", 3, hh, k)
    y = vx.ymd(dob)[0]
    nik_date = np.where(mismatch, np.where(mm_kind == 0, vx.add_days(dob, 1 + w.int("nik_mm_d", 27, hh, k)),
                                           np.where(mm_kind == 1, vx.add_months(dob, 12), vx.make_date(y, 1, 1))), dob)
    region6 = prov * 10_000 + rcode * 100 + dist          # province codes >= 11: always 6 digits
    ny, nm, nd = vx.ymd(nik_date)
    ddmmyy = (nd + np.where(male, 0, 40)) * 10_000 + nm * 100 + ny % 100
    nik = region6 * 10_000_000_000 + ddmmyy * 10_000 + 1 + w.int("serial", 9999, hh, k)
    if prof.twin_sequential_nik > 0:
        nik, region6, mismatch = _twin_nik(ctx, hh, k, H, M, nik, region6, mismatch)
    return {"nik": nik, "nik_region": region6, "nik_mismatch": mismatch}


def _twin_nik(ctx: Ctx, hh: np.ndarray, k: np.ndarray, H: dict, M: dict, nik, region6, mismatch):
    """Twins registered together: for a share `twin_sequential_nik` of second twins, the NIK is the
    first twin's (same region of registration and issue date, the day + 40 if the sexes differ) with
    a serial 1-3 above it, or, for a third of them, with two adjacent differing serial digits swapped
    (a different valid person one transposition away from the sibling)."""
    w = ctx.world
    seq = M["twin"] & (w.u("twin_seq", hh, k) < ctx.profile.twin_sequential_nik)
    idx = np.nonzero(seq)[0]
    if not len(idx):
        return nik, region6, mismatch
    h, k1 = hh[idx], k[idx] - 1
    Hs = subset(H, idx)
    Ms = member(ctx, h, k1, Hs)
    sib = person_nik(ctx, h, k1, Hs, Ms)
    head12 = sib["nik"] // 10_000
    day = (head12 // 10_000) % 100
    day = np.where(day > 40, day - 40, day) + np.where(M["male"][idx], 0, 40)
    head12 = (head12 // 1_000_000) * 1_000_000 + day * 10_000 + head12 % 10_000
    serial = sib["nik"] % 10_000
    step = serial + 1 + w.int("twin_step", 3, h, k[idx])
    step = np.where(step > 9999, serial - 1 - w.int("twin_step", 3, h, k[idx]), step)
    # a transposition of two adjacent serial digits (positions p, p+1 of the 4), where they differ
    digits = np.stack([(serial // 10 ** (3 - i)) % 10 for i in range(4)], axis=1)
    p = w.int("twin_tpos", 3, h, k[idx])
    rows = np.arange(len(idx))
    a, b = digits[rows, p], digits[rows, p + 1]
    swapped = serial + (b - a) * 10 ** (3 - p) + (a - b) * 10 ** (2 - p)
    transpose = (w.u("twin_tr", h, k[idx]) < 1 / 3) & (a != b) & (swapped > 0)
    new_serial = np.where(transpose, swapped, step)
    out_nik, out_region, out_mm = nik.copy(), np.asarray(region6).copy(), np.asarray(mismatch).copy()
    out_nik[idx] = head12 * 10_000 + new_serial
    out_region[idx] = sib["nik_region"]
    out_mm[idx] = sib["nik_mismatch"]
    return out_nik, out_region, out_mm


# ---------------------------------------------------------------- names

def _pk(ctx: Ctx, key_m: str, key_f: str, purpose: str, male: np.ndarray, hh, k) -> pa.Array:
    """A token from the male or the female list (the same draw picks in either)."""
    om, cm = ctx.tokens.span(key_m)
    of, cf = ctx.tokens.span(key_f)
    u = ctx.world.u(purpose, hh, k)
    idx = np.where(male, om + np.floor(u * cm), of + np.floor(u * cf)).astype(np.int64)
    return vx.take(ctx.tokens.values, idx)


def _pick(ctx: Ctx, key: str, purpose: str, hh, k) -> pa.Array:
    o, c = ctx.tokens.span(key)
    return vx.take(ctx.tokens.values, o + ctx.world.int(purpose, c, hh, k))


_MONO = np.asarray([s for t in range(9) for s in N.MONONYM_SHARE[t]])
_ARAB = np.asarray([N.ARABIC_SHARE[t] for t in range(9)])
_BALI_LEAD = (("IDA BAGUS", "IDA AYU"), ("ANAK AGUNG NGURAH", "ANAK AGUNG AYU"), ("I GUSTI NGURAH", "I GUSTI AYU"),
              ("I DEWA", "DESAK"), ("I", "NI"))


def person_name(ctx: Ctx, hh: np.ndarray, k: np.ndarray, H: dict, M: dict) -> pa.Array:
    """The person's name as the civil registry has it (no titles), upper case."""
    w = ctx.world
    n = len(hh)
    trad = H["trad"]
    by = M["by"]
    cohort = np.where(by < 1970, 0, np.where(by < 1990, 1, 2))
    is_head, is_sp, is_child, male = M["is_head"], M["is_spouse"], M["is_child"], M["male"]
    own_family = vx.where(is_sp | (is_head & ~male), H["wife_family"],
                          vx.where(is_head | is_child, H["family"], H["other_family"]))
    is_mono = w.u("mono", hh, k) < _MONO[trad * 3 + cohort]
    three = w.u("three", hh, k) < np.where(cohort == 2, 0.35, 0.08)
    is_arab = ~is_mono & (w.u("arab", hh, k) < _ARAB[trad])
    noble = H["noble"] & (is_head | is_child)
    prov = H["prov"]
    group = np.where(is_arab, 9, trad)
    parts: list[pa.Array] = []
    idxs: list[np.ndarray] = []
    for g in np.unique(group):
        idx = np.nonzero(group == g)[0]
        s = lambda a: a[idx] if isinstance(a, np.ndarray) else vx.sub(a, idx)  # noqa: E731
        h, kk, ml, mono, thr = hh[idx], k[idx], male[idx], is_mono[idx], three[idx]
        m = len(idx)
        pk = lambda km, kf, purpose: _pk(ctx, km, kf, purpose, ml, h, kk)  # noqa: E731
        pick = lambda key, purpose: _pick(ctx, key, purpose, h, kk)  # noqa: E731
        opt = lambda cond, val: vx.where(cond, val, None)  # noqa: E731

        def lead_bugis():
            andi = s(noble)
            buton = (s(prov) == 74) & (w.u("buton", h, kk) < 0.2)
            return vx.where(andi, "ANDI", vx.where(buton, vx.where(ml, "LA", "WA"), None))

        def lead_melayu():
            nb, pv = s(noble), s(prov)
            return vx.where(nb & (pv == 11), vx.where(ml, "TEUKU", "CUT"),
                            vx.where(nb & (pv == 52), vx.where(ml, "LALU", "BAIQ"), None))

        if g == N.JAVA:
            mid = opt(thr, pk("MODERN_M_MID", "MODERN_F_MID", "mid"))
            name = vx.where(mono, pk("JAVA_M_MONO", "JAVA_F_MONO", "g1"),
                            vx.cat_ws(" ", pk("JAVA_M_FIRST", "JAVA_F_FIRST", "g1"), mid, pk("JAVA_M_LAST", "JAVA_F_LAST", "g2")))
        elif g == N.SUNDA:
            mid = opt(thr, pk("MODERN_M_MID", "MODERN_F_MID", "mid"))
            first = pk("SUNDA_M_FIRST", "SUNDA_F_FIRST", "g1")
            name = vx.where(mono, first, vx.cat_ws(" ", first, mid, pk("SUNDA_M_LAST", "SUNDA_F_LAST", "g2")))
        elif g == N.BATAK:
            name = vx.cat_ws(" ", pk("BATAK_M_FIRST", "BATAK_F_FIRST", "g1"),
                             opt(w.u("b2", h, kk) < 0.3, pk("BATAK_M_FIRST", "BATAK_F_FIRST", "g2")), s(own_family))
        elif g == N.MINANG:
            first = pk("MINANG_M_FIRST", "MINANG_F_FIRST", "g1")
            name = vx.where(mono, first, vx.cat_ws(" ", first, pk("MINANG_M_LAST", "MINANG_F_LAST", "g2")))
        elif g == N.BALI:
            order = np.where(s(is_child), s(M["child_order"]), 1 + w.int("order", 4, h, kk))
            oi = (order - 1) % 4
            order_name = vx.where(oi == 0, pk("BALI_ORDER1_M", "BALI_ORDER1_F", "ord"),
                                  vx.where(oi == 1, pick("BALI_ORDER2", "ord"),
                                           vx.where(oi == 2, pick("BALI_ORDER3", "ord"), pick("BALI_ORDER4", "ord"))))
            caste = np.where(s(is_head) | s(is_child), s(H["caste"]), -1)
            ci = np.where(caste < 0, 4, caste)
            lead = vx.take([x for pair in _BALI_LEAD for x in pair], ci * 2 + np.where(ml, 0, 1))
            name = vx.cat_ws(" ", lead, opt((caste < 0) | (caste == 3), order_name),
                             pk("BALI_M_GIVEN", "BALI_F_GIVEN", "g1"),
                             opt(w.u("b2", h, kk) < 0.3, pk("BALI_M_GIVEN", "BALI_F_GIVEN", "g2")))
        elif g == N.BUGIS:
            name = vx.cat_ws(" ", lead_bugis(), pk("BUGIS_M_FIRST", "BUGIS_F_FIRST", "g1"),
                             opt(~mono, pick("BUGIS_LAST", "g2")))
        elif g == N.MELAYU:
            name = vx.cat_ws(" ", lead_melayu(), pk("MELAYU_M_FIRST", "MELAYU_F_FIRST", "g1"),
                             opt(~mono, pk("MELAYU_M_LAST", "MELAYU_F_LAST", "g2")))
        elif g == N.CHINESE:
            fam = vx.where(w.u("cfam", h, kk) < 0.6, s(own_family), pick("CHINESE_FAMILY", "cf"))
            name = vx.cat_ws(" ", pk("CHINESE_M_FIRST", "CHINESE_F_FIRST", "g1"), opt(~mono, fam))
        elif g == N.EAST:
            name = vx.cat_ws(" ", pk("EAST_M_FIRST", "EAST_F_FIRST", "g1"),
                             opt(w.u("b2", h, kk) < 0.3, pk("EAST_M_FIRST", "EAST_F_FIRST", "g2")),
                             opt(~mono, s(own_family)))
        else:  # Arabic-derived names: MUHAMMAD/AHMAD/ABDUL or SITI/NUR/NURUL first
            t = trad[idx]
            lead0 = pk("ARAB_M_LEAD", "ARAB_F_LEAD", "alead")
            lead = vx.where((t == N.BUGIS) & vx.eq(lead0, "SITI") & (w.u("sitti", h, kk) < 0.5), "SITTI", lead0)
            by_trad = vx.where(t == N.SUNDA, pk("SUNDA_M_FIRST", "SUNDA_F_LAST", "a2b"),
                               vx.where(t == N.MINANG, pk("MINANG_M_FIRST", "MINANG_F_FIRST", "a2b"),
                                        vx.where(t == N.BUGIS, pk("BUGIS_M_FIRST", "BUGIS_F_FIRST", "a2b"),
                                                 vx.where(t == N.MELAYU, pk("MELAYU_M_FIRST", "MELAYU_F_FIRST", "a2b"),
                                                          pk("JAVA_M_LAST", "JAVA_F_LAST", "a2b")))))
            second = vx.where(vx.eq(lead, "ABDUL"), pick("ABDUL_NEXT", "a2"),
                              vx.where(w.u("a2k", h, kk) < 0.5, pk("ARAB_M", "ARAB_F", "a2"), by_trad))
            third = vx.where(t == N.BATAK, s(own_family),
                             opt(thr | (w.u("a3", h, kk) < 0.15), pk("MELAYU_M_LAST", "MELAYU_F_LAST", "a3")))
            first = vx.where(t == N.BUGIS, lead_bugis(), vx.where(t == N.MELAYU, lead_melayu(), None))
            name = vx.cat_ws(" ", first, lead, second, third)
        parts.append(name)
        idxs.append(idx)
    if not parts:
        return vx.const("", 0)
    order = np.empty(n, np.int64)
    order[np.concatenate(idxs)] = np.arange(n)
    out = pa.concat_arrays([p.cast(pa.string()) for p in parts]).take(pa.array(order))
    if ctx.profile.namesake_child > 0:
        out = _namesake(ctx, hh, k, H, M, out)
    return out


def _namesake(ctx: Ctx, hh: np.ndarray, k: np.ndarray, H: dict, M: dict, name: pa.Array) -> pa.Array:
    """A share `namesake_child` of children carry the name of the parent of their sex (the head, or
    the head's spouse), as a son named after his father."""
    w = ctx.world
    parent_k = np.where(M["male"] == H["head_male"], 0, 1)
    ok = M["is_child"] & ((parent_k == 0) | H["has_spouse"])
    idx = np.nonzero(ok & (w.u("namesake", hh, k) < ctx.profile.namesake_child))[0]
    if not len(idx):
        return name
    h, pk = hh[idx], parent_k[idx]
    Hs = subset(H, idx)
    return vx.scatter(name, idx, person_name(ctx, h, pk, Hs, member(ctx, h, pk, Hs)))


# ---------------------------------------------------------------- education, work, titles

_EDU_TABLE = np.asarray([[c ** (1 / (pn * pc)) for c in EDU_ADULT_CUM[:-1]]
                         for pn in (1.0, 0.55) for pc in (0.75, 1.0, 1.4)])


def education(ctx: Ctx, hh, k, age: np.ndarray, by: np.ndarray, is_np: np.ndarray) -> np.ndarray:
    """Education level 0..8 (see EDU_P3KE)."""
    u = ctx.world.u("edu", hh, k)
    group = np.where(is_np, 3, 0) + np.where(by >= 1985, 0, np.where(by >= 1965, 1, 2))
    adult = (u[:, None] >= _EDU_TABLE[group]).sum(axis=1)
    return np.select([age < 7, age < 13, age < 16, age < 19, age < 23],
                     [0, 1, 2, np.minimum(adult, 3), np.minimum(adult, 5)], adult).astype(np.int64)


_JOB_LISTS = [["BELUM/TIDAK BEKERJA"], ["PELAJAR/MAHASISWA"], JOBS_OLD_M, JOBS_OLD_F, JOBS_URBAN_M, JOBS_RURAL_M, JOBS_F]
_JOB_VALUES = [j for lst in _JOB_LISTS for j in lst]
_JOB_OFF = np.cumsum([0] + [len(x) for x in _JOB_LISTS])[:-1]
_JOB_LEN = np.asarray([len(x) for x in _JOB_LISTS])


def occupation(ctx: Ctx, hh, k, age, male, edu, kota) -> pa.Array:
    w = ctx.world
    school = w.u("school", hh, k) < 0.85
    which = np.select([age < 7, age < 19, (age < 24) & (edu >= 5), age >= 66, male],
                      [0, np.where(school, 1, 0), 1, np.where(male, 2, 3), np.where(kota, 4, 5)], 6)
    return vx.take(_JOB_VALUES, _JOB_OFF[which] + w.int("job", _JOB_LEN[which], hh, k))


def titles(ctx: Ctx, hh, k, male, age, by, edu, trad) -> tuple[pa.Array, pa.Array]:
    """(prefix titles, degree suffix) the person really has, or nulls."""
    w = ctx.world
    muslim = np.isin(trad, MUSLIM_TRADITIONS)
    hajj = muslim & (age >= 40) & (w.u("hajj", hh, k) < 0.06)
    hajj_t = vx.where(hajj, vx.where(male, N.TITLE_HAJJ_M, N.TITLE_HAJJ_F), None)
    has_degree = w.u("deg", hh, k) < 0.6
    old_style = (by < 1970) & (edu >= 7) & has_degree
    old_prefix = vx.where(old_style, vx.where(male, w.pick(["DRS.", "DRS.", "IR."], "oldt", hh, k), "DRA."), None)
    prefix = vx.cat_ws(" ", old_prefix, hajj_t)
    s1 = w.pick(N.DEGREES_S1, "s1", hh, k)
    suffix = vx.where(~has_degree | old_style, None,
                      vx.where(edu == 6, w.pick(N.DEGREES_D3, "d3", hh, k),
                               vx.where(edu == 7, s1,
                                        vx.where(edu == 8, vx.cat(s1, ", ", w.pick(N.DEGREES_S2, "s2", hh, k)), None))))
    return vx.where(vx.length(prefix) > 0, prefix, None), suffix


def generic_title(rng: Rng, purpose: str, key, male, age, trad) -> tuple[pa.Array, pa.Array]:
    """A plausible title for a record that shows one although the person has none recorded."""
    muslim = np.isin(trad, MUSLIM_TRADITIONS)
    has_pre = muslim & (age >= 35)
    pre = vx.where(has_pre, vx.where(male, N.TITLE_HAJJ_M, N.TITLE_HAJJ_F), None)
    suf = vx.where(~has_pre, rng.pick(N.DEGREES_S1 + N.DEGREES_D3, purpose + ":suf", key), None)
    return pre, suf


def phone_national(ctx: Ctx, hh, k, salt) -> pa.Array:
    """A mobile number without the leading 0 / 62: 8xx then 7-8 digits."""
    w = ctx.world
    eight = w.u("ph_len", hh, k, salt) < 0.6
    digits = vx.where(eight, vx.lpad(w.int("ph_8", 100_000_000, hh, k, salt), 8),
                      vx.lpad(w.int("ph_7", 10_000_000, hh, k, salt), 7))
    return vx.cat(w.pick(PHONE_PREFIXES, "ph_pre", hh, k, salt), digits)
