"""Column expressions for Indonesian personal data. Spark SQL only -- no Python UDFs.

Every function takes and returns `Column`s, runs no action and reads no config: values such as
the title list are passed in. Null in gives null out.
"""

from __future__ import annotations

import re
from typing import Iterable, Sequence

from pyspark.sql import Column
from pyspark.sql import functions as F

from padan.reference import province_codes, province_name_to_code

# ---------------------------------------------------------------- text basics

_ACCENTED = "ÀÁÂÃÄÅĀÇČÈÉÊËĒĚÌÍÎÏĪÑŇÒÓÔÕÖØŌŠÙÚÛÜŪÝŸŽ"
_PLAIN = "AAAAAAACCEEEEEEIIIIINNOOOOOOOSUUUUUYYZ"


def blank_to_null(col: Column) -> Column:
    trimmed = F.trim(col)
    return F.when(trimmed == "", None).otherwise(trimmed)


def clean_text(col: Column) -> Column:
    """Upper-case, strip diacritics, turn anything but A-Z, 0-9 into one space; '' -> null."""
    up = F.translate(F.upper(col), _ACCENTED, _PLAIN)
    spaced = F.regexp_replace(up, r"[^A-Z0-9]+", " ")
    return blank_to_null(spaced)


def collapse_spaces(col: Column) -> Column:
    return blank_to_null(F.regexp_replace(col, r"\s+", " "))


# ---------------------------------------------------------------- NIK

NIK_PLACEHOLDER_DEFAULTS = (r"(\d)\1{15}", r"0123456789012345", r"1234567890123456", r"12345678\d{8}")


def nik_digits(raw: Column) -> Column:
    """Digits of a recorded NIK; null when none."""
    return blank_to_null(F.regexp_replace(raw.cast("string"), r"[^0-9]", ""))


def _two(col: Column, start: int) -> Column:
    return F.substring(col, start, 2).cast("int")


def nik_birth_parts(nik: Column, reference_year: int) -> tuple[Column, Column, Column]:
    """(year, month, day) encoded in a 16-digit NIK; women's day has 40 added and is undone here.
    Two-digit years above the reference year's belong to the previous century."""
    dd, mm, yy = _two(nik, 7), _two(nik, 9), _two(nik, 11)
    day = F.when(dd > 40, dd - 40).otherwise(dd)
    year = F.when(yy > reference_year % 100, yy + 1900).otherwise(yy + 2000)
    return year, mm, day


def safe_date(year: Column, month: Column, day: Column) -> Column:
    """A DATE, or null when the parts are not a real calendar date (never raises under ANSI)."""
    return F.to_date(F.try_make_timestamp(year, month, day, F.lit(0), F.lit(0), F.lit(0)))


def nik_issue(nik: Column, reference_year: int, placeholders: Sequence[str] = NIK_PLACEHOLDER_DEFAULTS) -> Column:
    """Why a cleaned NIK is not valid ('missing', 'wrong_length', 'placeholder', 'unknown_province',
    'bad_day', 'bad_month', 'bad_date', 'zero_serial'), or null when it is valid."""
    dd, mm = _two(nik, 7), _two(nik, 9)
    year, month, day = nik_birth_parts(nik, reference_year)
    placeholder = F.lit(False)
    for pattern in placeholders:
        placeholder = placeholder | nik.rlike(f"^(?:{pattern})$")
    return (
        F.when(nik.isNull(), "missing")
        .when(F.length(nik) != 16, "wrong_length")
        .when(placeholder, "placeholder")
        .when(~F.substring(nik, 1, 2).isin(province_codes()), "unknown_province")
        .when(~(dd.between(1, 31) | dd.between(41, 71)), "bad_day")
        .when(~mm.between(1, 12), "bad_month")
        .when(safe_date(year, month, day).isNull(), "bad_date")
        .when(F.substring(nik, 13, 4) == "0000", "zero_serial")
    )


def nik_sex(nik: Column) -> Column:
    return F.when(_two(nik, 7) > 40, "P").otherwise("L")


# ---------------------------------------------------------------- names

def _token_alternation(tokens: Iterable[str]) -> str:
    return "|".join(sorted({re.escape(t) for t in tokens}, key=len, reverse=True))


def normalise_titles(titles: Iterable[str]) -> list[str]:
    """'S.Pd.' -> ['S PD', 'SPD']: the forms a title takes after punctuation becomes spaces."""
    forms: set[str] = set()
    for title in titles:
        spaced = re.sub(r"[^A-Z0-9]+", " ", title.upper()).strip()
        if not spaced:
            continue
        forms.add(spaced)
        if " " in spaced and all(len(p) <= 3 for p in spaced.split()):
            forms.add(spaced.replace(" ", ""))
    return sorted(forms)


def strip_titles(name: Column, titles: Iterable[str]) -> Column:
    """Remove titles/degrees (already normalised, e.g. 'H', 'S PD') repeated at either end, but
    never the whole name."""
    alt = _token_alternation(normalise_titles(titles))
    prefix = rf"^(?:(?:{alt}) )+"
    suffix = rf"(?: (?:{alt}))+$"
    stripped = F.regexp_replace(F.regexp_replace(name, prefix, ""), suffix, "")
    return F.when(blank_to_null(stripped).isNull(), name).otherwise(blank_to_null(stripped))


def modern_spelling(name: Column) -> Column:
    """Map the pre-1972 spelling to the current one, token by token: OE->U, DJ->J, TJ->C, SJ->SY,
    CH->KH; in a token that shows an old-spelling mark (OE, DJ, TJ, SJ, or NJ at its start), a lone J
    is the old Y and NJ the old NY."""
    def fix(token: Column) -> Column:
        # NJ inside a word is also current spelling (TANJUNG); at the start it is only the old NY.
        old = token.rlike("OE|DJ|TJ|SJ|^NJ")
        j_to_y = F.regexp_replace(token, r"(?<![DTSN])J", "Y")
        t = F.when(old, F.regexp_replace(j_to_y, "NJ", "NY")).otherwise(token)
        for a, b in (("OE", "U"), ("DJ", "J"), ("TJ", "C"), ("SJ", "SY"), ("CH", "KH")):
            t = F.regexp_replace(t, a, b)
        return t

    return F.array_join(F.transform(F.split(name, " "), fix), " ")


def unify_common_tokens(name: Column, muhammad_variants: Iterable[str]) -> Column:
    """MUHAMMAD spellings and abbreviations -> MUHAMMAD (a lone 'M' only when a token follows);
    ABD -> ABDUL."""
    alt = _token_alternation(v.upper().replace(".", "").strip() for v in muhammad_variants)
    out = F.regexp_replace(name, rf"(^| )(?:{alt})(?= |$)", "$1MUHAMMAD")
    out = F.regexp_replace(out, r"(^| )M(?= [A-Z])", "$1MUHAMMAD")
    out = F.regexp_replace(out, r"(^| )ABD(?= |$)", "$1ABDUL")
    return out


def drop_patronymic(name: Column) -> Column:
    """'AHMAD BIN SALEH' -> 'AHMAD': the father's name after BIN/BINTI is not the person's name."""
    return F.regexp_replace(name, r" (?:BIN|BINTI) .*$", "")


def clean_name(raw: Column, titles: Iterable[str], muhammad_variants: Iterable[str]) -> Column:
    """The comparable form of a personal name: letters only, titles and degrees removed, old
    spelling modernised, MUHAMMAD/ABDUL unified, patronymic dropped; null if nothing is left."""
    letters = F.translate(F.upper(raw), _ACCENTED, _PLAIN)
    letters = F.regexp_replace(letters, r"[0-9]", "")
    text = clean_text(letters)
    text = strip_titles(text, titles)
    text = unify_common_tokens(text, muhammad_variants)
    text = modern_spelling(text)
    text = drop_patronymic(text)
    return collapse_spaces(text)


def name_tokens(name: Column) -> Column:
    return F.split(name, " ")


def first_token(name: Column) -> Column:
    return F.element_at(name_tokens(name), 1)


def last_token(name: Column) -> Column:
    return F.element_at(name_tokens(name), -1)


def sorted_tokens(name: Column) -> Column:
    return F.array_join(F.array_sort(name_tokens(name)), " ")


_PHONETIC_RULES = (
    (r"CH", "KH"), (r"KH", "H"), (r"SY", "S"), (r"SH", "S"), (r"DH", "D"), (r"TH", "T"), (r"PH", "F"), (r"DZ", "Z"),
    (r"Q", "K"), (r"X", "KS"), (r"V", "F"), (r"F", "P"), (r"Y", "I"), (r"W(?=[AEIOU])", "W"),
    (r"([A-Z])\1+", "$1"), (r"(?<=[A-Z])H$", ""), (r"(?<=[^AEIOU])H", ""),
)


def phonetic_token(token: Column) -> Column:
    out = token
    for pattern, repl in _PHONETIC_RULES:
        out = F.regexp_replace(out, pattern, repl)
    return out


def phonetic_key(name: Column) -> Column:
    """Indonesian sound-alike key, token by token: KH/H, SY/S, F/P/V, Y/I and doubled letters
    collapse; a trailing H and an H after a consonant drop (RACHMAT, RAHMAT -> RAMAT)."""
    return blank_to_null(F.array_join(F.transform(name_tokens(name), phonetic_token), " "))


# ---------------------------------------------------------------- dates

def parse_date(raw: Column, formats: Sequence[str]) -> Column:
    """First format that parses; null if none does (never raises)."""
    text = blank_to_null(raw)
    return F.coalesce(*[F.try_to_date(text, fmt) for fmt in formats]) if formats else F.lit(None).cast("date")


def is_placeholder_date(d: Column, month_days: Sequence[str], day15: bool) -> Column:
    md = F.date_format(d, "MM-dd")
    flag = md.isin(list(month_days)) if month_days else F.lit(False)
    if day15:
        flag = flag | (F.dayofmonth(d) == 15)
    return F.when(d.isNull(), None).otherwise(flag)


# ---------------------------------------------------------------- contact

def phone_62(raw: Column) -> Column:
    """Indonesian mobile numbers to one form, 62 then the subscriber number (08.., +628.., 628.., 8..)."""
    digits = F.regexp_replace(raw, r"[^0-9]", "")
    national = (F.when(digits.startswith("62"), F.substring(digits, 3, 20))
                .when(digits.startswith("0"), F.substring(digits, 2, 20))
                .otherwise(digits))
    national = F.regexp_replace(national, r"^0+", "")
    ok = national.rlike(r"^8[0-9]{7,12}$")
    return F.when(ok, F.concat(F.lit("62"), national))


def email_canonical(raw: Column) -> Column:
    """Lower-case, trimmed; dots in a Gmail local part removed; null when not an address."""
    e = F.lower(F.trim(raw))
    ok = e.rlike(r"^[a-z0-9._%+\-]+@[a-z0-9\-]+(\.[a-z0-9\-]+)*\.[a-z]{2,}$")
    local = F.substring_index(e, "@", 1)
    domain = F.substring_index(e, "@", -1)
    gmail = domain.isin("gmail.com", "googlemail.com")
    local = F.when(gmail, F.regexp_replace(F.substring_index(local, "+", 1), r"\.", "")).otherwise(local)
    domain = F.when(gmail, F.lit("gmail.com")).otherwise(domain)
    return F.when(ok, F.concat_ws("@", local, domain))


# ---------------------------------------------------------------- regions

_REGION_PREFIX = r"^(?:PROVINSI|PROPINSI|PROV|KABUPATEN|KAB|KOTA ADMINISTRASI|KOTA ADM|KOTAMADYA|KOTA|KECAMATAN|KEC|KELURAHAN|KEL|DESA|DS) "


def clean_region(raw: Column, keep_kota: bool = False) -> Column:
    """Region names without their kind prefix ('KAB. BOGOR' -> 'BOGOR'). For regencies
    `keep_kota` keeps a city distinct from the regency of the same name ('KOTA BOGOR')."""
    text = clean_text(raw)
    if keep_kota:
        is_kota = text.rlike(r"^(?:KOTA|KOTAMADYA|KOTA ADM|KOTA ADMINISTRASI) ")
        base = blank_to_null(F.regexp_replace(text, _REGION_PREFIX, ""))
        return F.when(is_kota, F.concat(F.lit("KOTA "), base)).otherwise(base)
    return blank_to_null(F.regexp_replace(text, _REGION_PREFIX, ""))


def province_code_from_name(raw: Column) -> Column:
    """Kemendagri province code from a province name in any usual spelling, else null."""
    mapping = province_name_to_code()
    name = clean_region(raw)
    expr = F.create_map(*[F.lit(x) for kv in mapping.items() for x in kv])
    return F.try_element_at(expr, name)
