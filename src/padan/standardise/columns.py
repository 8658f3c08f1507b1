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


def nonblank(trimmed: Column) -> Column:
    """'' -> null for a value that is already trimmed: `blank_to_null` without using its input twice
    (use it on a column reference computed in an earlier select, so no expression is duplicated)."""
    return F.when(trimmed != "", trimmed)


def clean_text_trimmed(col: Column) -> Column:
    """`clean_text` before its '' -> null step: upper-case, diacritics stripped, runs of anything but
    A-Z, 0-9 as one space, trimmed (one regex). `nonblank` of it equals `clean_text`."""
    up = F.upper(col)
    # An ASCII value has no accented letter: skip `translate` (a map look-up per character, one of
    # the dearest string functions per row), the same result for the price of a length check.
    return F.trim(F.regexp_replace(F.when(is_ascii(col), up).otherwise(F.translate(up, _ACCENTED, _PLAIN)),
                                   r"[^A-Z0-9]+", " "))


def is_ascii(col: Column) -> Column:
    """True when every character is ASCII: as many characters as UTF-8 bytes (two length counts, no
    regex). Null for null."""
    return F.length(col) == F.octet_length(col)


def digits_only(col: Column) -> Column:
    """Every character but 0-9 removed ('' when none)."""
    return F.regexp_replace(col.cast("string"), r"[^0-9]", "")


# ---------------------------------------------------------------- NIK

NIK_PLACEHOLDER_DEFAULTS = (r"(\d)\1{15}", r"0123456789012345", r"1234567890123456", r"12345678\d{8}")


def nik_digits(raw: Column) -> Column:
    """Digits of a recorded NIK; null when none."""
    return blank_to_null(digits_only(raw))


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


NIK_ISSUES = ("missing", "wrong_length", "placeholder", "unknown_province", "bad_day", "bad_month", "bad_date",
              "zero_serial")


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
#
# A cleaned name is letters A-Z in tokens joined by single spaces (every step below keeps that
# shape), so token-level rules can run on the whole string as long as no pattern crosses a space.

_DIGITS = "0123456789"


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


# Letters of scripts other than Latin (Arabic, Devanagari, Han, Cyrillic, ...) and their own marks
# are kept in names: a name written in another script is a name, not a nameless row.
_SEPARATORS = r"(?:[^A-Z\p{L}\p{M}]|[\p{IsLatin}\p{IsCommon}\p{IsInherited}&&[^A-Z]])+"
# Shared combining marks (Arabic harakat, ...) right after a letter of another script are vowel
# points, dropped rather than splitting the word; after a Latin letter they stay separators.
_NON_LATIN_LETTER = r"[\p{L}\p{M}&&[^\p{IsLatin}\p{IsCommon}\p{IsInherited}]]"
_POINTS = rf"(?<={_NON_LATIN_LETTER})\p{{IsInherited}}+"


def name_letters(raw: Column) -> Column:
    """Step 1 of `clean_name`: upper-case, diacritics stripped, digits dropped, runs of anything
    else as one space, trimmed; '' when nothing is left. Letters of a script other than Latin are
    kept (upper-cased where the script has case; vowel points dropped), so for a name in Latin
    letters only this is exactly A-Z tokens, as the later steps expect."""
    letters = F.translate(F.upper(raw), _ACCENTED + _DIGITS, _PLAIN)   # digits have no counterpart: deleted
    slow = F.trim(F.regexp_replace(F.regexp_replace(letters, _POINTS, ""), _SEPARATORS, " "))
    # An ASCII name (nearly all): upper-casing leaves A-Z and other ASCII, with no accented letter, no
    # letter of another script and no vowel point, so the same steps are: digits deleted, runs of
    # anything but A-Z as one space (two plain regexes instead of `translate` and two regexes with
    # Unicode script classes).
    fast = F.trim(F.regexp_replace(F.regexp_replace(F.upper(raw), "[0-9]+", ""), "[^A-Z]+", " "))
    return F.when(is_ascii(raw), fast).otherwise(slow)


def title_pattern(titles: Iterable[str]) -> str:
    """Titles repeated at the start, or at the end, of a cleaned name (one regex for both ends:
    equivalent to removing the leading run first and then the trailing run of what is left)."""
    alt = _token_alternation(normalise_titles(titles))
    return rf"^(?:(?:{alt}) )+|(?: (?:{alt}))+$"


def strip_titles(name: Column, titles: Iterable[str]) -> Column:
    """Remove titles/degrees (already normalised, e.g. 'H', 'S PD') repeated at either end, but
    never the whole name."""
    stripped = F.regexp_replace(name, title_pattern(titles), "")
    return F.coalesce(blank_to_null(stripped), name)


def unify_common_tokens(name: Column, muhammad_variants: Iterable[str]) -> Column:
    """MUHAMMAD spellings and abbreviations -> MUHAMMAD (a lone 'M' only when a token follows);
    ABD -> ABDUL."""
    alt = _token_alternation(v.upper().replace(".", "").strip() for v in muhammad_variants)
    out = F.regexp_replace(name, rf"(^| )(?:{alt})(?= |$)", "$1MUHAMMAD")
    out = F.regexp_replace(out, r"(^| )M(?= [A-Z])", "$1MUHAMMAD")
    out = F.regexp_replace(out, r"(^| )ABD(?= |$)", "$1ABDUL")
    return out


_OLD_MARK_NAME = "OE|DJ|TJ|SJ|(?:^| )NJ"     # some token of the name has an old-spelling mark
# A J that is the old Y: in a token with an old-spelling mark (OE, DJ, TJ, SJ anywhere, or NJ at its
# start), a J not after D, T or S. (The rule as first written, per token: J not after D, T, S, N
# -> Y, then NJ -> NY; the two together turn every J not after D, T, S into Y.) Tokens are A-Z, so
# [A-Z] never leaves the token; a mark ending at this J would put D, T or S before it.
_OLD_J = (r"J(?<![DTS]J)(?:(?=[A-Z]*(?:OE|DJ|TJ|SJ))|(?<=(?:OE|DJ|TJ|SJ)[A-Z]{0,1000}J)"
          r"|(?<=(?:^| )NJ(?:[A-Z]{0,1000}J)?))")


def old_spelling_j(name: Column) -> Column:
    """The conditional part of `modern_spelling` on a whole cleaned name (tokens of A-Z joined by
    single spaces, at most 1,000 letters a token: an accepted raw name has at most 200 characters,
    which upper-case to at most 600): in a token with an old-spelling mark, a lone J is the old Y
    and NJ the old NY. One regex, run only on names that show a mark; no lambda, so the
    select stays code-generated. Use on a column reference (the input appears twice)."""
    return F.when(name.rlike(_OLD_MARK_NAME), F.regexp_replace(name, _OLD_J, "Y")).otherwise(name)


def modern_letters(name: Column) -> Column:
    """The unconditional part of `modern_spelling`, on the whole name (no pattern crosses a space):
    OE->U, DJ->J, TJ->C, SJ->SY, CH->KH, in that order, as plain string replacements."""
    out = name
    for a, b in (("OE", "U"), ("DJ", "J"), ("TJ", "C"), ("SJ", "SY"), ("CH", "KH")):
        out = F.replace(out, F.lit(a), F.lit(b))
    return out


def modern_spelling(name: Column) -> Column:
    """Map the pre-1972 spelling to the current one, token by token: OE->U, DJ->J, TJ->C, SJ->SY,
    CH->KH; in a token that shows an old-spelling mark (OE, DJ, TJ, SJ, or NJ at its start), a lone J
    is the old Y and NJ the old NY. (NJ inside a word is also current spelling: TANJUNG.)"""
    return modern_letters(old_spelling_j(name))


def drop_patronymic(name: Column) -> Column:
    """'AHMAD BIN SALEH' -> 'AHMAD': the father's name after BIN/BINTI is not the person's name."""
    return F.regexp_replace(name, r" (?:BIN|BINTI) .*$", "")


def clean_name(raw: Column, titles: Iterable[str], muhammad_variants: Iterable[str]) -> Column:
    """The comparable form of a personal name: letters only, titles and degrees removed, old
    spelling modernised, MUHAMMAD/ABDUL unified, patronymic dropped; null if nothing is left.
    (Nested form for single columns; `standardise_rows` runs the same steps as staged selects.)"""
    text = blank_to_null(name_letters(raw))
    text = strip_titles(text, titles)
    text = unify_common_tokens(text, muhammad_variants)
    text = modern_spelling(text)
    text = drop_patronymic(text)
    return blank_to_null(text)


def name_tokens(name: Column) -> Column:
    return F.split(name, " ")


def first_token(name: Column) -> Column:
    return F.element_at(name_tokens(name), 1)


def last_token(name: Column) -> Column:
    return F.element_at(name_tokens(name), -1)


def sorted_tokens(name: Column) -> Column:
    # sort_array, not array_sort: the same order for strings without nulls, and code-generated
    return F.array_join(F.sort_array(name_tokens(name)), " ")


# The phonetic rules, token by token, in this order (the first rules rewrite letter pairs, so the
# order matters: SCH -> SKH -> SH -> S):
#   CH->KH, KH->H, SY->S, SH->S, DH->D, TH->T, PH->F, DZ->Z; Q->K, X->KS, V->F, F->P, Y->I;
#   doubled letters collapse; a trailing H after a letter drops; an H after a consonant drops.
# They run on the whole cleaned name: the pair rules and single-letter rules are plain string
# replacements and one `translate`; the last two rules are one regex, with the token boundary made
# explicit (a space is neither a letter nor a consonant before an H).
_PHONETIC_PAIRS = (("CH", "KH"), ("KH", "H"), ("SY", "S"), ("SH", "S"), ("DH", "D"), ("TH", "T"), ("PH", "F"),
                   ("DZ", "Z"), ("X", "KS"))


def phonetic_rules(name: Column) -> Column:
    """The phonetic rules on a cleaned name (tokens of A-Z joined by single spaces): two regexes in
    all. A token never becomes empty, so the token count is kept."""
    out = name
    for a, b in _PHONETIC_PAIRS:
        out = F.replace(out, F.lit(a), F.lit(b))
    out = F.translate(out, "QVFY", "KPPI")                       # Q->K, V->F->P, F->P, Y->I
    out = F.regexp_replace(out, r"([A-Z])\1+", "$1")
    return F.regexp_replace(out, r"(?<=[A-Z])H(?= |$)|(?<=[^AEIOU ])H", "")


def phonetic_key(name: Column) -> Column:
    """Indonesian sound-alike key, token by token: KH/H, SY/S, F/P/V, Y/I and doubled letters
    collapse; a trailing H and an H after a consonant drop (RACHMAT, RAHMAT -> RAMAT)."""
    return blank_to_null(phonetic_rules(name))


def phonetic_token(token: Column) -> Column:
    return phonetic_rules(token)


# ---------------------------------------------------------------- dates

def parse_date(raw: Column, formats: Sequence[str]) -> Column:
    """First format that parses; null if none does (never raises)."""
    text = blank_to_null(raw)
    return F.coalesce(*[F.try_to_date(text, fmt) for fmt in formats]) if formats else F.lit(None).cast("date")


def is_placeholder_date(d: Column, month_days: Sequence[str], day15: bool) -> Column:
    """True for a birth date on a placeholder month-day ('MM-dd', e.g. '01-01') or, with `day15`,
    on the 15th; null for a null date. (Compares month * 100 + day: a value not of the form 'MM-dd'
    can never equal a formatted date, so it matches nothing.)"""
    codes = sorted({int(v[:2]) * 100 + int(v[3:]) for v in month_days if re.fullmatch(r"\d\d-\d\d", v)})
    flag = (F.month(d) * 100 + F.dayofmonth(d)).isin(codes) if codes else F.lit(False)
    if day15:
        flag = flag | (F.dayofmonth(d) == 15)
    return F.when(d.isNull(), None).otherwise(flag)


# ---------------------------------------------------------------- contact

def phone_62(raw: Column) -> Column:
    """Indonesian mobile numbers to one form, 62 then the subscriber number (08.., +628.., 628.., 8..)."""
    return phone_from_national(phone_national(digits_only(raw)))


def phone_national(digits: Column) -> Column:
    """Digits of a phone number without the country code or trunk zeros (input used three times)."""
    national = (F.when(digits.startswith("62"), F.substring(digits, 3, 20))
                .when(digits.startswith("0"), F.substring(digits, 2, 20))
                .otherwise(digits))
    return F.ltrim(national, F.lit("0"))


def phone_from_national(national: Column) -> Column:
    """62 + the national number when it is a mobile number: 8 then 7-12 digits (it holds digits only)."""
    ok = national.startswith("8") & F.length(national).between(8, 13)
    return F.when(ok, F.concat(F.lit("62"), national))


def email_canonical(raw: Column) -> Column:
    """Lower-case, trimmed; dots in a Gmail local part removed; null when not an address."""
    return email_from_trimmed(F.lower(F.trim(raw)))


def email_from_trimmed(e: Column) -> Column:
    """`email_canonical` of a lower-cased, trimmed value (used several times: pass a column reference)."""
    ok = e.rlike(r"^[a-z0-9._%+\-]+@[a-z0-9\-]+(\.[a-z0-9\-]+)*\.[a-z]{2,}$")
    local = F.substring_index(e, "@", 1)
    domain = F.substring_index(e, "@", -1)
    gmail = domain.isin("gmail.com", "googlemail.com")
    local = F.when(gmail, F.replace(F.substring_index(local, "+", 1), F.lit("."), F.lit(""))).otherwise(local)
    domain = F.when(gmail, F.lit("gmail.com")).otherwise(domain)
    return F.when(ok, F.concat_ws("@", local, domain))


# ---------------------------------------------------------------- regions

_REGION_PREFIX = r"^(?:PROVINSI|PROPINSI|PROV|KABUPATEN|KAB|KOTA ADMINISTRASI|KOTA ADM|KOTAMADYA|KOTA|KECAMATAN|KEC|KELURAHAN|KEL|DESA|DS) "


def clean_region(raw: Column, keep_kota: bool = False) -> Column:
    """Region names without their kind prefix ('KAB. BOGOR' -> 'BOGOR'). For regencies
    `keep_kota` keeps a city distinct from the regency of the same name ('KOTA BOGOR')."""
    return region_from_text(clean_text(raw), keep_kota)


def region_prefix_stripped(text: Column) -> Column:
    """A cleaned region name without its kind prefix, before '' -> null."""
    return F.regexp_replace(text, _REGION_PREFIX, "")


def is_kota(text: Column) -> Column:
    """The cleaned name starts with KOTA, KOTAMADYA, KOTA ADM or KOTA ADMINISTRASI, then a space."""
    return text.startswith("KOTA ") | text.startswith("KOTAMADYA ")


def region_from_text(text: Column, keep_kota: bool = False) -> Column:
    base = blank_to_null(region_prefix_stripped(text))
    if keep_kota:
        return F.when(is_kota(text), F.concat(F.lit("KOTA "), base)).otherwise(base)
    return base


def province_code_from_name(raw: Column) -> Column:
    """Kemendagri province code from a province name in any usual spelling, else null."""
    return province_code_from_region(clean_region(raw))


def province_code_from_region(name: Column) -> Column:
    """Province code of a cleaned province name (`clean_region`), else null."""
    mapping = province_name_to_code()
    expr = F.create_map(*[F.lit(x) for kv in mapping.items() for x in kv])
    return F.try_element_at(expr, name)
