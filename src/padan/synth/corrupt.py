"""Record-level damage as Spark SQL expressions.

Each function takes the clean value, the source's `SourceRates`, an `Rng` stream for the source and
the record's key, and returns (damaged value, flags) where flags are boolean/str columns saying what
was done -- the generator keeps them in debug output so tests can check the realised rates.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as PF

from padan.synth import sqlx as F
from padan.synth.sqlx import X as Column

from padan.synth import names as N
from padan.synth.profiles import SourceRates
from padan.synth.rng import Rng
from padan.synth.world import stage

ARABIC_LEADS = ["MUHAMMAD", "AHMAD", "ABDUL", "SITI", "SITTI", "NUR", "NURUL", "I", "NI", "IDA", "ANAK", "DESAK",
                "ANDI", "LA", "WA", "TEUKU", "CUT", "LALU", "BAIQ"]

NIK_PLACEHOLDERS = N.expand("9999999999999999*5 0000000000000000*2 9999*2 1234567890123456 0 "
                            "99999999999999999 -")
NIK_KINDS = ("missing", "placeholder", "wrong_length", "letters", "transposed", "family", "digit_typo")
DOB_KINDS = ("missing", "placeholder", "day_month_swap", "year_off")


def _sub(s: Column, start: Column | int, length: Column | int) -> Column:
    start_c = start if isinstance(start, Column) else F.lit(start)
    len_c = length if isinstance(length, Column) else F.lit(length)
    return s.substr(start_c, len_c)


def old_spelling(name: Column) -> Column:
    """Modern -> pre-1972 spelling: KH->CH, SY->SJ, NY->NJ, J->DJ, Y->J, C->TJ, U->OE."""
    out = F.regexp_replace(name, "KH", "CH")
    out = F.regexp_replace(out, "SY", "SJ")
    out = F.regexp_replace(out, "NY", "NJ")
    out = F.regexp_replace(out, "(?<![SN])J", "DJ")
    out = F.regexp_replace(out, "Y", "J")
    out = F.regexp_replace(out, "C(?!H)", "TJ")
    out = F.regexp_replace(out, "U", "OE")
    return out


def typo(s: Column, rng: Rng, purpose: str, key: Column) -> Column:
    """One keying slip: substitute, drop, double a letter, or swap two neighbours."""
    n = F.length(s)
    p = 1 + rng.int(purpose + ":pos", n, key)
    kind = rng.int(purpose + ":kind", 4, key)
    letter = rng.pick(list(N.TYPO_LETTERS), purpose + ":ch", key)
    rest = n  # substr past the end is fine
    sub = F.concat(_sub(s, 1, p - 1), letter, _sub(s, p + 1, rest))
    drop = F.concat(_sub(s, 1, p - 1), _sub(s, p + 1, rest))
    dup = F.concat(_sub(s, 1, p), _sub(s, p, rest))
    swap = F.concat(_sub(s, 1, p - 1), _sub(s, p + 1, 1), _sub(s, p, 1), _sub(s, p + 2, rest))
    return (F.when(kind == 0, sub).when(kind == 1, F.when(n > 3, drop).otherwise(dup))
            .when(kind == 2, dup).otherwise(F.when(p < n, swap).otherwise(sub)))


def name(df, clean: Column, r: SourceRates, rng: Rng, key: Column, *, sex: Column, title_pre: Column,
         title_suf: Column, generic_pre: Column, generic_suf: Column, father: Column,
         allow_case: bool, q: str = "nm_") -> tuple[object, Column, dict[str, Column]]:
    """The name as this record shows it, one damage step after the other; flags say which applied.
    Order: mononym/patronymic, middle token dropped, MUHAMMAD/ABDUL variants, old spelling, token
    order, typo, titles, case."""
    toks = F.split(clean, " ")
    df, A = stage(df, {f"{q}f_mono": rng.u("n_mono", key) < r.name_mononym}, inline=True)
    f_mono = A[f"{q}f_mono"]
    shortened = F.when(F.element_at(toks, 1).isin(*ARABIC_LEADS), F.element_at(toks, -1)).otherwise(F.element_at(toks, 1))
    s1 = (F.when(f_mono & (F.size(toks) >= 2), shortened)
          .when(f_mono & (F.size(toks) == 1), F.concat(clean, F.when(sex == "L", " BIN ").otherwise(" BINTI "), father))
          .otherwise(clean))
    df, B = stage(df, {f"{q}t1": F.split(s1, " ")}, inline=True)
    t1 = B[f"{q}t1"]
    df, Cf = stage(df, {f"{q}f_drop": (F.size(t1) >= 3) & (rng.u("n_drop", key) < r.name_drop_middle)}, inline=True)
    f_drop = Cf[f"{q}f_drop"]
    df, Cc = stage(df, {f"{q}t2": F.when(f_drop, F.concat(F.slice(t1, 1, 1), F.slice(t1, 3, 64))).otherwise(t1)})
    toks = Cc[f"{q}t2"]
    df, D = stage(df, {
        f"{q}f_muh": F.array_contains(toks, "MUHAMMAD") & (rng.u("n_muh", key) < r.name_muhammad_variant),
        f"{q}f_abd": F.array_contains(toks, "ABDUL") & (rng.u("n_abd", key) < r.name_abdul_abbrev),
        f"{q}muh": rng.pick(N.MUHAMMAD_VARIANTS, "n_muh_v", key),
        f"{q}abd": rng.pick(N.ABDUL_VARIANTS, "n_abd_v", key)}, inline=True)
    f_muh, f_abd, muh, abd = D[f"{q}f_muh"], D[f"{q}f_abd"], D[f"{q}muh"], D[f"{q}abd"]
    s3 = F.array_join(F.when(f_muh | f_abd, F.transform(
        toks, lambda t: F.when(f_muh & (t == "MUHAMMAD"), muh).when(f_abd & (t == "ABDUL"), abd).otherwise(t))
    ).otherwise(toks), " ")
    df, E = stage(df, {f"{q}s3": s3})
    df, E2 = stage(df, {f"{q}f_old": rng.u("n_old", key) < r.name_old_spelling}, inline=True)
    df, G = stage(df, {f"{q}s4": F.when(E2[f"{q}f_old"], old_spelling(E[f"{q}s3"])).otherwise(E[f"{q}s3"])}, inline=True)
    df, G2 = stage(df, {f"{q}t4": F.split(G[f"{q}s4"], " ")}, inline=True)
    t4 = G2[f"{q}t4"]
    df, H0 = stage(df, {f"{q}f_swap": (F.size(t4) >= 2) & (rng.u("n_swap", key) < r.name_token_swap)}, inline=True)
    f_swap = H0[f"{q}f_swap"]
    df, H = stage(df, {f"{q}s5": F.when(f_swap, F.array_join(F.concat(F.slice(t4, 2, 64), F.slice(t4, 1, 1)), " "))
                       .otherwise(G[f"{q}s4"])})
    s5 = H[f"{q}s5"]
    df, I0 = stage(df, {f"{q}f_typo": rng.u("n_typo", key) < r.name_typo,
                        f"{q}f_title": rng.u("n_title", key) < r.name_title}, inline=True)
    df, I = stage(df, {f"{q}s6": F.when(I0[f"{q}f_typo"], typo(s5, rng, "n_typo", key)).otherwise(s5)})
    s6 = I[f"{q}s6"]
    has_own = title_pre.isNotNull() | title_suf.isNotNull()
    df, J = stage(df, {f"{q}pre": F.when(has_own, title_pre).otherwise(generic_pre),
                       f"{q}suf": F.when(has_own, title_suf).otherwise(generic_suf)}, inline=True)
    pre, suf = J[f"{q}pre"], J[f"{q}suf"]
    titled = F.concat(F.when(pre.isNotNull(), F.concat(pre, F.lit(" "))).otherwise(F.lit("")), s6,
                      F.when(suf.isNotNull(), F.concat(F.lit(", "), suf)).otherwise(F.lit("")))
    s7 = F.when(I0[f"{q}f_title"], titled).otherwise(s6)
    flags = {"f_mono": f_mono, "f_drop": f_drop, "f_muh": f_muh, "f_abd": f_abd, "f_old": E2[f"{q}f_old"],
             "f_swap": f_swap, "f_typo": I0[f"{q}f_typo"], "f_title": I0[f"{q}f_title"]}
    if allow_case:
        df, K = stage(df, {f"{q}f_case": rng.u("n_case", key) < r.name_case}, inline=True)
        lower_k = rng.u("n_case_k", key) < 0.7
        s7 = F.when(K[f"{q}f_case"], F.when(lower_k, F.initcap(F.lower(s7))).otherwise(F.lower(s7))).otherwise(s7)
        flags["f_case"] = K[f"{q}f_case"]
    df, Z = stage(df, {f"{q}out": s7})
    return df, Z[f"{q}out"], flags


def _exclusive_kind(u: Column, rates: list[tuple[str, float, Column | None]]) -> Column:
    """One kind (or null) per record from a uniform draw: each kind owns a slice of [0, 1) as wide
    as its rate, in order; a kind with a precondition is skipped (null) where it does not hold."""
    cum = 0.0
    expr = None
    for kind, rate, only_if in rates:
        if rate <= 0:
            continue
        lo = cum
        cum += rate
        cond = (u >= lo) & (u < cum)
        if only_if is not None:
            cond = cond & only_if
        expr = F.when(cond, F.lit(kind)) if expr is None else expr.when(cond, F.lit(kind))
    return F.lit(None).cast("string") if expr is None else expr


def nik_kind(r: SourceRates, rng: Rng, key: Column, family_ok: Column) -> Column:
    """Which damage (if any) a record's NIK gets; exclusive kinds by cumulative rate."""
    return _exclusive_kind(rng.u("nik_kind", key),
                           [(k, getattr(r, f"nik_{k}"), family_ok if k == "family" else None) for k in NIK_KINDS])


def nik(clean: Column, kind: Column, family_nik: Column, rng: Rng, key: Column) -> Column:
    p16 = 1 + rng.int("nik_pos", 16, key)
    cands = [1 + rng.int(f"nik_pos_{i}", 15, key) for i in range(4)]
    digit = rng.int("nik_digit", 10, key).cast("string")
    wrong_len = F.when(rng.u("nik_wl", key) < 0.6, F.concat(_sub(clean, 1, p16 - 1), _sub(clean, p16 + 1, 16))
                       ).otherwise(F.concat(_sub(clean, 1, p16), digit, _sub(clean, p16 + 1, 16)))
    lk = rng.int("nik_letters", 3, key)
    letters = (F.when(lk == 0, F.regexp_replace(clean, "0", "O"))
               .when(lk == 1, F.regexp_replace(clean, "1", "I"))
               .otherwise(F.concat(_sub(clean, 1, 1), F.lit("."), _sub(clean, 2, 5), F.lit("E+15"))))
    pp = None
    for c in cands[:-1]:  # the first of a few random positions whose two digits differ
        cond = _sub(clean, c, 1) != _sub(clean, c + 1, 1)
        pp = F.when(cond, c) if pp is None else pp.when(cond, c)
    pp = pp.otherwise(cands[-1])
    transposed = F.concat(_sub(clean, 1, pp - 1), _sub(clean, pp + 1, 1), _sub(clean, pp, 1), _sub(clean, pp + 2, 16))
    old_digit = _sub(clean, p16, 1).cast("int")
    new_digit = ((old_digit + 1 + rng.int("nik_typo_d", 9, key)) % 10).cast("string")
    digit_typo = F.concat(_sub(clean, 1, p16 - 1), new_digit, _sub(clean, p16 + 1, 16))
    return (F.when(kind.isNull(), clean)
            .when(kind == "missing", F.lit(None).cast("string"))
            .when(kind == "placeholder", rng.pick(NIK_PLACEHOLDERS, "nik_ph", key))
            .when(kind == "wrong_length", wrong_len)
            .when(kind == "letters", letters)
            .when(kind == "transposed", transposed)
            .when(kind == "family", family_nik)
            .otherwise(digit_typo))


def dob_kind(r: SourceRates, rng: Rng, key: Column, dob: Column) -> Column:
    swappable = (F.dayofmonth(dob) <= 12) & (F.dayofmonth(dob) != F.month(dob))
    return _exclusive_kind(rng.u("dob_kind", key),
                           [(k, getattr(r, f"dob_{k}"), swappable if k == "day_month_swap" else None)
                            for k in DOB_KINDS])


def dob(clean: Column, kind: Column, rng: Rng, key: Column) -> Column:
    y, m, d = F.year(clean), F.month(clean), F.dayofmonth(clean)
    pk = rng.int("dob_ph", 10, key)
    placeholder = (F.when(pk < 4, F.make_date(y, F.lit(7), F.lit(1)))
                   .when(pk < 6, F.make_date(y, F.lit(12), F.lit(31)))
                   .when(pk < 8, F.make_date(y, F.lit(1), F.lit(1)))
                   .otherwise(F.make_date(y, m, F.lit(15))))
    return (F.when(kind.isNull(), clean)
            .when(kind == "missing", F.lit(None).cast("date"))
            .when(kind == "placeholder", placeholder)
            .when(kind == "day_month_swap", F.make_date(y, d, m))
            .otherwise(F.add_months(clean, F.when(rng.u("dob_y", key) < 0.5, -12).otherwise(12))))
