"""Record-level damage, vectorised over a batch of records.

Each function takes the clean values, the source's `SourceRates`, an `Rng` stream for the source
and the records' keys, and returns the damaged values (and flags saying what was done -- the
generator keeps them in debug output so tests can check the realised rates). Damage that touches a
few records is computed on those records only.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from padan_synth import names as N
from padan_synth import vx
from padan_synth.profiles import SourceRates
from padan_synth.rng import Rng

ARABIC_LEADS = ["MUHAMMAD", "AHMAD", "ABDUL", "SITI", "SITTI", "NUR", "NURUL", "I", "NI", "IDA", "ANAK", "DESAK",
                "ANDI", "LA", "WA", "TEUKU", "CUT", "LALU", "BAIQ"]

NIK_PLACEHOLDERS = N.expand("9999999999999999*5 0000000000000000*2 9999*2 1234567890123456 0 "
                            "99999999999999999 -")
NIK_KINDS = ("missing", "placeholder", "wrong_length", "letters", "transposed", "family", "digit_typo")
DOB_KINDS = ("missing", "placeholder", "day_month_swap", "year_off")
TYPO_LETTERS = np.frombuffer(N.TYPO_LETTERS.encode(), dtype=np.uint8)


def old_spelling(name: pa.Array) -> pa.Array:
    """Modern -> pre-1972 spelling: KH->CH, SY->SJ, NY->NJ, J->DJ, Y->J, C->TJ, U->OE."""
    out = vx.regex(name, "KH", "CH")
    out = vx.regex(out, "SY", "SJ")
    out = vx.regex(out, "NY", "NJ")
    out = vx.regex(out, "(^|[^SN])J", "\\1DJ")     # J not after S/N (RE2 has no look-behind)
    out = vx.regex(out, "Y", "J")
    out = vx.regex(out, "C([^H]|$)", "TJ\\1")      # C not before H
    out = vx.regex(out, "U", "OE")
    return out


def typo(s: pa.Array, rng: Rng, purpose: str, key: np.ndarray) -> pa.Array:
    """One keying slip: substitute, drop, double a letter, or swap two neighbours."""
    mat, n = vx.to_mat(s)
    mat = vx.widen(mat, 1)
    p = rng.int(purpose + ":pos", n, key)               # 0-based position
    kind = rng.int(purpose + ":kind", 4, key)
    letter = TYPO_LETTERS[rng.int(purpose + ":ch", len(TYPO_LETTERS), key)]
    kind = np.where((kind == 1) & (n <= 3), 2, kind)      # too short to drop: double
    kind = np.where((kind == 3) & (p + 1 >= n), 0, kind)  # nothing to swap with: substitute
    t = np.arange(mat.shape[1])[None, :]
    pc_ = p[:, None]
    src = np.where(kind[:, None] == 1, t + (t >= pc_),                       # drop
                   np.where(kind[:, None] == 2, t - (t > pc_),                # double
                            np.where(kind[:, None] == 3, np.where(t == pc_, t + 1, np.where(t == pc_ + 1, t - 1, t)), t)))
    out = vx.gather(mat, src)
    sub = (kind[:, None] == 0) & (t == pc_)
    out = np.where(sub, letter[:, None], out).astype(np.uint8)
    lens = n + np.where(kind == 1, -1, np.where(kind == 2, 1, 0))
    return vx.from_mat(out, lens)


def name(clean: pa.Array, r: SourceRates, rng: Rng, key: np.ndarray, *, male: np.ndarray, title_pre: pa.Array,
         title_suf: pa.Array, generic_pre: pa.Array, generic_suf: pa.Array, father: pa.Array,
         allow_case: bool) -> tuple[pa.Array, dict[str, np.ndarray]]:
    """The name as this record shows it, one damage step after the other; flags say which applied.
    Order: mononym/patronymic, middle token dropped, MUHAMMAD/ABDUL variants, old spelling, token
    order, typo, titles, case."""
    n = len(key)
    vals, off = vx.split(clean)
    ntok = np.diff(off)
    f_mono = rng.u("n_mono", key) < r.name_mononym
    first = vx.sub(vals, off[:-1])
    last = vx.sub(vals, off[1:] - 1)
    shortened = vx.where(pc.is_in(first, value_set=vx.table(tuple(ARABIC_LEADS))).to_numpy(zero_copy_only=False),
                         last, first)
    patronym = vx.cat(clean, vx.where(male, " BIN ", " BINTI "), father)
    s1 = vx.where(f_mono & (ntok >= 2), shortened, vx.where(f_mono & (ntok == 1), patronym, clean))
    vals, off = vx.split(s1)
    ntok = np.diff(off)
    f_drop = (ntok >= 3) & (rng.u("n_drop", key) < r.name_drop_middle)
    row, pos = vx.token_pos(off)
    keep = ~(f_drop[row] & (pos == 1))
    vals = vx.sub(vals, np.nonzero(keep)[0])
    off = np.concatenate([[0], np.cumsum(np.bincount(row[keep], minlength=n))])
    row = row[keep]
    is_muh, is_abd = vx.eq(vals, "MUHAMMAD"), vx.eq(vals, "ABDUL")
    has_muh = np.bincount(row[is_muh], minlength=n) > 0
    has_abd = np.bincount(row[is_abd], minlength=n) > 0
    f_muh = has_muh & (rng.u("n_muh", key) < r.name_muhammad_variant)
    f_abd = has_abd & (rng.u("n_abd", key) < r.name_abdul_abbrev)
    muh = rng.pick(N.MUHAMMAD_VARIANTS, "n_muh_v", key)
    abd = rng.pick(N.ABDUL_VARIANTS, "n_abd_v", key)
    rep_muh = is_muh & f_muh[row]
    rep_abd = is_abd & f_abd[row]
    if rep_muh.any() or rep_abd.any():
        rows_t = pa.array(row)
        vals = vx.where(rep_muh, muh.take(rows_t), vx.where(rep_abd, abd.take(rows_t), vals))
    s3 = vx.join(vals, off)
    f_old = rng.u("n_old", key) < r.name_old_spelling
    s4 = s3
    idx = np.nonzero(f_old)[0]
    if len(idx):
        s4 = vx.scatter(s3, idx, old_spelling(vx.sub(s3, idx)))
    f_swap = rng.u("n_swap", key) < r.name_token_swap
    idx = np.nonzero(f_swap)[0]
    if len(idx):
        v4, o4 = vx.split(vx.sub(s4, idx))
        cnt = np.diff(o4)
        f_swap[idx[cnt < 2]] = False
        rr, pp = vx.token_pos(o4)
        rotated = vx.join(vx.sub(v4, o4[:-1][rr] + (pp + 1) % cnt[rr]), o4)
        s5 = vx.scatter(s4, idx, vx.where(cnt >= 2, rotated, vx.sub(s4, idx)))
    else:
        s5 = s4
    f_typo = rng.u("n_typo", key) < r.name_typo
    f_title = rng.u("n_title", key) < r.name_title
    s6 = s5
    idx = np.nonzero(f_typo)[0]
    if len(idx):
        s6 = vx.scatter(s5, idx, typo(vx.sub(s5, idx), rng, "n_typo", key[idx]))
    has_own = ~vx.is_null(title_pre) | ~vx.is_null(title_suf)
    pre = vx.where(has_own, title_pre, generic_pre)
    suf = vx.where(has_own, title_suf, generic_suf)
    titled = vx.cat(pc.fill_null(vx.cat(pre, " "), ""), s6, pc.fill_null(vx.cat(", ", suf), ""))
    s7 = vx.where(f_title, titled, s6)
    flags = {"f_mono": f_mono, "f_drop": f_drop, "f_muh": f_muh, "f_abd": f_abd, "f_old": f_old,
             "f_swap": f_swap, "f_typo": f_typo, "f_title": f_title}
    if allow_case:
        f_case = rng.u("n_case", key) < r.name_case
        lower_k = rng.u("n_case_k", key) < 0.7
        idx = np.nonzero(f_case)[0]
        if len(idx):
            part = vx.sub(s7, idx)
            s7 = vx.scatter(s7, idx, vx.where(lower_k[idx], vx.initcap(part), vx.lower(part)))
        flags["f_case"] = f_case
    return s7, flags


def _exclusive_kind(u: np.ndarray, rates: list[tuple[float, np.ndarray | None]]) -> np.ndarray:
    """One kind index (or -1) per record from a uniform draw: each kind owns a slice of [0, 1) as
    wide as its rate, in order; a kind with a precondition is skipped (-1) where it does not hold."""
    out = np.full(len(u), -1, np.int64)
    cum = 0.0
    for i, (rate, only_if) in enumerate(rates):
        if rate <= 0:
            continue
        lo, cum = cum, cum + rate
        cond = (u >= lo) & (u < cum)
        if only_if is not None:
            cond &= only_if
        out[cond] = i
    return out


def nik_kind(r: SourceRates, rng: Rng, key: np.ndarray, family_ok: np.ndarray) -> np.ndarray:
    """Which damage (index into NIK_KINDS, -1 none) a record's NIK gets; exclusive kinds."""
    return _exclusive_kind(rng.u("nik_kind", key),
                           [(getattr(r, f"nik_{k}"), family_ok if k == "family" else None) for k in NIK_KINDS])


def _nik_mat(nik: np.ndarray) -> np.ndarray:
    return ((nik[:, None] // (10 ** np.arange(15, -1, -1, dtype=np.int64))) % 10 + 48).astype(np.uint8)


def nik(clean: np.ndarray, kind: np.ndarray, family_nik: np.ndarray, rng: Rng, key: np.ndarray) -> pa.Array:
    """The NIK as shown: clean (int64, 16 digits) with the record's damage kind applied (computed
    for the damaged records only)."""
    shown = vx.where(kind == NIK_KINDS.index("missing"), None, vx.itos(clean))
    ph = np.nonzero(kind == NIK_KINDS.index("placeholder"))[0]
    if len(ph):
        shown = vx.scatter(shown, ph, rng.pick(NIK_PLACEHOLDERS, "nik_ph", key[ph]))
    fam = np.nonzero(kind == NIK_KINDS.index("family"))[0]
    if len(fam):
        shown = vx.scatter(shown, fam, vx.itos(family_nik[fam]))
    le = np.nonzero(kind == NIK_KINDS.index("letters"))[0]
    if len(le):
        mat = _nik_mat(clean[le])
        s = vx.itos(clean[le])
        lk = rng.int("nik_letters", 3, key[le])
        sci = vx.from_mat(np.concatenate([mat[:, :1], np.full((len(le), 1), 46, np.uint8), mat[:, 1:6],
                                          np.frombuffer(b"E+15", np.uint8)[None, :].repeat(len(le), 0)], axis=1),
                          np.full(len(le), 11))
        shown = vx.scatter(shown, le, vx.where(lk == 0, vx.regex(s, "0", "O"), vx.where(lk == 1, vx.regex(s, "1", "I"), sci)))
    wl_k, tr_k, dt_k = NIK_KINDS.index("wrong_length"), NIK_KINDS.index("transposed"), NIK_KINDS.index("digit_typo")
    idx = np.nonzero((kind == wl_k) | (kind == tr_k) | (kind == dt_k))[0]
    if not len(idx):
        return shown
    kd, ky = kind[idx], key[idx]
    m = len(idx)
    mat = vx.widen(_nik_mat(clean[idx]), 1)
    t = np.arange(17)[None, :]
    p = rng.int("nik_pos", 16, ky)[:, None]                 # 0-based
    digit = (48 + rng.int("nik_digit", 10, ky)).astype(np.uint8)[:, None]
    out = mat
    lens = np.full(m, 16, np.int64)
    # wrong length: a digit lost, or one added after position p
    wl = kd == wl_k
    lose = rng.u("nik_wl", ky) < 0.6
    lost = vx.gather(mat, t + (t >= p))
    added = np.where(t == p + 1, digit, vx.gather(mat, t - (t > p)))
    out = np.where((wl & lose)[:, None], lost, np.where((wl & ~lose)[:, None], added, out)).astype(np.uint8)
    lens = np.where(wl, np.where(lose, 15, 17), lens)
    # transposed: the first of a few random positions whose two digits differ
    cands = [rng.int(f"nik_pos_{i}", 15, ky) for i in range(4)]
    rows = np.arange(m)
    pp = cands[-1].copy()
    for c in reversed(cands[:-1]):
        pp = np.where(mat[rows, c] != mat[rows, c + 1], c, pp)
    swapped = vx.gather(mat, np.where(t == pp[:, None], t + 1, np.where(t == pp[:, None] + 1, t - 1, t)))
    out = np.where((kd == tr_k)[:, None], swapped, out).astype(np.uint8)
    # one digit mistyped
    old = mat[rows, p[:, 0]].astype(np.int64) - 48
    new = (48 + (old + 1 + rng.int("nik_typo_d", 9, ky)) % 10).astype(np.uint8)
    out = np.where((kd == dt_k)[:, None] & (t == p), new[:, None], out).astype(np.uint8)
    return vx.scatter(shown, idx, vx.from_mat(out, lens))


def dob_kind(r: SourceRates, rng: Rng, key: np.ndarray, dob: np.ndarray) -> np.ndarray:
    _, m, d = vx.ymd(dob)
    swappable = (d <= 12) & (d != m)
    return _exclusive_kind(rng.u("dob_kind", key),
                           [(getattr(r, f"dob_{k}"), swappable if k == "day_month_swap" else None) for k in DOB_KINDS])


def dob(clean: np.ndarray, kind: np.ndarray, rng: Rng, key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(date as shown, missing)."""
    y, m, d = vx.ymd(clean)
    pk = rng.int("dob_ph", 10, key)
    placeholder = np.select([pk < 4, pk < 6, pk < 8],
                            [vx.make_date(y, 7, 1), vx.make_date(y, 12, 31), vx.make_date(y, 1, 1)], vx.make_date(y, m, 15))
    swap = vx.make_date(y, np.where(kind == 2, d, m), np.where(kind == 2, m, d))
    year_off = vx.add_months(clean, np.where(rng.u("dob_y", key) < 0.5, -12, 12))
    out = np.select([kind == 1, kind == 2, kind == 3], [placeholder, swap, year_off], clean)
    return out, kind == 0
