"""Raw rows of one source -> standardised persons, each with the reasons it must be rejected.

Same grain as the input: one output row per input row. `reasons` is empty for a row that goes to
`silver.persons`; otherwise it lists hard failures and the row goes to rejects. Soft problems
(invalid NIK, placeholder birth date, ...) are flags, not rejections. A row needs a name and one
of: a valid NIK, a birth date, a phone, an e-mail or a kabupaten (or another region field listed in
`identifying_regions`); without any of them it is rejected as `no_identifying_field`.

Checked fields (`CHECKED_FIELDS`: sex, desil, kode_wilayah, registered_at, phone, e-mail) are never
a silent null: a value that is recorded but not valid (sex outside the contract's value map,
desil not a whole number in the contract's `valid_ranges`, a region code that is not 2/4/6/10
digits of a known province, a date no format parses, a phone that is not a mobile number, an
e-mail that is not an address) rejects the row as `invalid_<field>` when the contract lists the
field as `required`, and flags it `<field>_invalid` otherwise. A required field left blank is a
flag (`<field>_missing`, as for NIK, birth date and sex), not a reject: `required` means the
column must exist; a blank cell is missing data, which the quality figures count. NIK and birth
date keep their own soft checks (`nik_<issue>`, `birth_date_invalid`): a row with a bad NIK or
date can still be linked on the other fields. A line with bytes that do not decode in the
contract's encoding, or with C1 control characters (the mark of a file in another encoding read
as ISO-8859-1), is rejected as `undecodable_text` (its raw text, with U+FFFD where the bytes were,
is kept in the rejects).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping, Sequence

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from padan.reference import province_codes
from padan.standardise import columns as C
from padan.standardise import lookup as L

if TYPE_CHECKING:
    from padan.standardise.pseudonymise import Pseudonymiser

MAX_NAME_CHARS = 200
MAX_FIELD_CHARS = 1000
CHECKED_FIELDS = ("sex", "desil", "kode_wilayah", "registered_at", "phone", "email")
REASON_CODES = ("malformed_line", "undecodable_text", "missing_record_key", "duplicate_record_key", "name_too_long",
                "no_name", "no_identifying_field", *(f"invalid_{f}" for f in CHECKED_FIELDS))
DEFAULT_VALID_RANGES = {"desil": (1, 10)}
# What a decoder puts where bytes do not decode (U+FFFD), and C1 control characters (U+0080-U+009F),
# which no text holds but a file in another encoding read as ISO-8859-1 does (a Windows-1252 quote
# or euro sign; the second byte of a UTF-8 É, Í, Ó, Ú, ...).
_UNDECODABLE = "[\ufffd\u0080-\u009f]"


_raw = L.raw_value


def _mapped(raw: Column, value_map: Mapping[str, str] | None) -> Column:
    """Apply a value map to the trimmed, upper-cased raw value; unknown values become null."""
    v = F.upper(C.blank_to_null(raw))
    if not value_map:
        return v
    m = F.create_map(*[F.lit(x) for k, val in value_map.items() for x in (k.upper(), val)])
    return F.try_element_at(m, v)


def with_record_keys(raw_rows: DataFrame, key_column: str | None) -> DataFrame:
    """Add `_record_key` (the register's key, or one derived from the row's text: the same row
    gets the same key on every run) and `_duplicate_key` (true for every repeat of a key after
    its first occurrence by file and line)."""
    return flag_duplicates(record_keys(raw_rows, key_column), key_column, None)


def record_keys(raw_rows: DataFrame, key_column: str | None) -> DataFrame:
    """`with_record_keys` before `flag_duplicates`: `_record_key` only."""
    if key_column:
        key = C.blank_to_null(F.col(f"`{key_column}`"))
    else:
        digest = F.sha2(F.coalesce(F.col("_raw_text"), F.lit("")), 256).substr(1, 24)
        occurrence = F.row_number().over(Window.partitionBy(digest).orderBy("_source_file", "_line"))
        key = F.concat(digest, F.lit("-"), occurrence.cast("string"))
    return raw_rows.withColumn("_record_key", key)


def repeated_keys(keyed: DataFrame, max_keys: int) -> DataFrame | None:
    """The record keys that more than one row holds, cached and counted (one Spark job: a grouping
    of the keys alone, not of whole rows), or None when there are more than `max_keys` of them.
    Unpersist it after its last use."""
    multi = (keyed.where(F.col("_record_key").isNotNull()).groupBy("_record_key").count()
             .where(F.col("count") > 1).select("_record_key").persist(StorageLevel.MEMORY_AND_DISK))
    if multi.count() > max_keys:
        multi.unpersist()
        return None
    return multi


def flag_duplicates(keyed: DataFrame, key_column: str | None, repeated: DataFrame | None) -> DataFrame:
    """Add `_duplicate_key` to rows with `_record_key` (`record_keys`). A keyless source's
    digest-occurrence keys are unique by construction: never a duplicate. With `repeated`
    (`repeated_keys` of the same rows), the first row of each repeated key (by file and line) is
    looked up among the few rows that hold one and joined back by broadcast: no shuffle of whole
    rows. Without it, a window over all rows numbers each key's rows (a shuffle and sort of
    the rows). Both flag the same rows."""
    if not key_column:
        return keyed.withColumn("_duplicate_key", F.lit(False))
    if repeated is None:
        first = F.row_number().over(Window.partitionBy("_record_key").orderBy("_source_file", "_line"))
        return keyed.withColumn("_duplicate_key", F.col("_record_key").isNotNull() & (first > 1))
    firsts = (keyed.join(F.broadcast(repeated), "_record_key", "left_semi").groupBy("_record_key")
              .agg(F.min(F.struct("_source_file", "_line")).alias("_first"))
              .select(F.col("_record_key").alias("_repeated_key"), "_first"))
    joined = keyed.join(F.broadcast(firsts), F.col("_record_key") == F.col("_repeated_key"), "left")
    flag = F.col("_repeated_key").isNotNull() & (F.struct("_source_file", "_line") != F.col("_first"))
    return joined.withColumn("_duplicate_key", flag).drop("_repeated_key", "_first")


def _flag_array(items: Sequence[tuple[Column, Column | str]]) -> Column:
    """The labels whose condition is true, in order (a null condition counts as false). Built with
    `array_remove` on '' rather than `array_compact` (a lambda, not code-generated)."""
    return F.array_remove(F.array(*[F.when(cond, label if isinstance(label, Column) else F.lit(label))
                                      .otherwise(F.lit("")) for cond, label in items]), "")


def standardise_rows(
    raw_rows: DataFrame,
    *,
    source: str,
    batch_id: str,
    columns: Mapping[str, str],
    date_formats: Mapping[str, Sequence[str]],
    value_maps: Mapping[str, Mapping[str, str]],
    key_column: str | None,
    titles: Sequence[str],
    muhammad_variants: Sequence[str],
    placeholder_dates: Sequence[str],
    day15_placeholder: bool,
    placeholder_niks: Sequence[str],
    min_birth_year: int,
    reference_date: str,
    required: Sequence[str] = (),
    valid_ranges: Mapping[str, Sequence[int]] | None = None,
    pseudonymiser: "Pseudonymiser | None" = None,
    identifying_regions: Sequence[str] = ("kabupaten",),
    lookups: Mapping[str, DataFrame | None] | None = None,
) -> DataFrame:
    """Input: raw columns plus `_source_file`, `_line`, `_raw_text`, `_malformed`, `_record_key`,
    `_duplicate_key` (see `with_record_keys`).
    Output: every `silver.persons` column plus `reasons ARRAY<STRING>` and `raw_text`.

    Staged selects: each intermediate (the NIK's digits, the cleaned name at each step, its tokens,
    the cleaned region texts) is computed once in one select and read by name in the next, so no
    expression tree is copied into another (Spark's optimiser keeps a select apart when merging it
    would duplicate a non-trivial expression). The whole chain is one code-generated stage; the
    only lambda left is the old-spelling J rule, run only on names that show an old-spelling mark.

    The name, region and coded-text rules (`padan.standardise.lookup` groups) run per row, or, for
    a group with a table in `lookups` (group name -> `lookup.lookup_table`), once per distinct
    value and are joined back (a broadcast join); the results are the same.

    With a `pseudonymiser` (the contract's `pseudonymise` option), the listed identifiers are
    replaced by their keyed hash after everything derived from them (NIK parts and validity, the
    phone and e-mail checks, the reasons and flags) is computed, and `raw_text` is null."""
    ref_year = int(reference_date[:4])
    ref = F.to_date(F.lit(reference_date))
    col = F.col
    raw = lambda field: _raw(columns, field)  # noqa: E731
    desil_lo, desil_hi = (valid_ranges if valid_ranges is not None else DEFAULT_VALID_RANGES).get("desil", (1, 10))
    present = lambda field: F.coalesce(F.trim(raw(field)) != "", F.lit(False))  # noqa: E731  recorded, not blank

    # 0: names, regions and coded texts, per row or looked up per distinct value
    rules = {"titles": titles, "muhammad_variants": muhammad_variants}
    rows = raw_rows
    for group in L.GROUPS:
        rows = L.with_group(rows, group, columns, raw, (lookups or {}).get(group.name), **rules)
    outputs = [f"_o_{o}" for g in L.GROUPS for o in g.outputs]

    # 1: one pass over each raw value
    s1 = {
        "_nik0": C.digits_only(raw("nik")), "_kk0": C.digits_only(raw("no_kk")),
        "_name_len": F.length(raw("name")),
        "_bd": C.blank_to_null(raw("birth_date")), "_sex0": _mapped(raw("sex"), value_maps.get("sex")),
        "_kode": C.digits_only(raw("kode_wilayah")), "_rt0": C.digits_only(raw("rt")), "_rw0": C.digits_only(raw("rw")),
        "_phone0": C.digits_only(raw("phone")), "_email0": F.lower(F.trim(raw("email"))),
        # another identifier (social security, passport, member number): letters and digits, upper case
        "_oid0": F.upper(F.regexp_replace(raw("other_id"), "[^0-9A-Za-z]", "")),
        # a whole number (leading zeros and a '.0' tail allowed: '01', '3.0' from a numeric column)
        "_desil": F.regexp_extract(raw("desil"), r"^\s*0*([0-9]{1,9})(?:\.0+)?\s*$", 1),
        **{f"_has_{f}": present(f) for f in CHECKED_FIELDS},
        "registered_at": C.parse_date(raw("registered_at"), date_formats.get("registered_at", [])),
        "_t_address": C.clean_text_trimmed(raw("address")),
    }
    df = rows.select("_record_key", "_source_file", "_line", "_raw_text", "_malformed", "_duplicate_key", *outputs,
                     *[c.alias(k) for k, c in s1.items()])

    # 2
    birth_formats = date_formats.get("birth_date", [])
    df = df.withColumns({
        "nik": C.nonblank(col("_nik0")), "no_kk": C.nonblank(col("_kk0")),
        "_birth": (F.coalesce(*[F.try_to_date(col("_bd"), f) for f in birth_formats]) if birth_formats
                   else F.lit(None).cast("date")),
        "sex": F.when(col("_sex0").isin("L", "P"), col("_sex0")),
        "_kode_prov": F.when(F.substring("_kode", 1, 2).isin(province_codes()), F.substring("_kode", 1, 2)),
        "_desil_n": F.when(col("_desil") != "", col("_desil").cast("int")),
        "rt": C.nonblank(col("_rt0")), "rw": C.nonblank(col("_rw0")),
        "_national": C.phone_national(col("_phone0")),
        "email": C.email_from_trimmed(col("_email0")),
    })

    # 3
    df = df.withColumns({
        "_nlen": F.length("nik"),
        "_birth_ok": (col("_birth").isNotNull() & (F.year("_birth") >= min_birth_year) & (col("_birth") <= ref)),
        "phone": C.phone_from_national(col("_national")),
        "desil": F.when(col("_desil_n").between(int(desil_lo), int(desil_hi)), col("_desil_n")),
    })

    # 4: NIK parts (only for 16 digits, so no cast can fail)
    sixteen = col("_nlen") == 16
    two = lambda start: F.when(sixteen, F.substring("nik", start, 2).cast("int"))  # noqa: E731
    df = df.withColumns({
        "_dd": two(7), "_mm": two(9), "_yy": two(11),
        "birth_date": F.when(col("_birth_ok"), col("_birth")),
        "birth_date_invalid": col("_bd").isNotNull() & ~F.coalesce(col("_birth_ok"), F.lit(False)),
        # the region code's province when it is a known one, else the province name's
        "_kode_ok": F.length("_kode").isin(2, 4, 6, 10) & col("_kode_prov").isNotNull(),
        "province_code": F.coalesce(col("_kode_prov"), col("_o_province_code_by_name")),
    })

    # 5
    placeholder = F.lit(False)
    for pattern in placeholder_niks or C.NIK_PLACEHOLDER_DEFAULTS:
        placeholder = placeholder | col("nik").rlike(f"^(?:{pattern})$")
    day = F.when(col("_dd") > 40, col("_dd") - 40).otherwise(col("_dd"))
    year = F.when(col("_yy") > ref_year % 100, col("_yy") + 1900).otherwise(col("_yy") + 2000)
    df = df.withColumns({
        "_ndate": C.safe_date(year, col("_mm"), day),
        "_placeholder": placeholder,
    })

    # 6
    dd, mm = col("_dd"), col("_mm")
    df = df.withColumns({
        "nik_issue": (F.when(col("nik").isNull(), "missing")
                      .when(~sixteen, "wrong_length")
                      .when(col("_placeholder"), "placeholder")
                      .when(~F.substring("nik", 1, 2).isin(province_codes()), "unknown_province")
                      .when(~(dd.between(1, 31) | dd.between(41, 71)), "bad_day")
                      .when(~mm.between(1, 12), "bad_month")
                      .when(col("_ndate").isNull(), "bad_date")
                      .when(F.substring("nik", 13, 4) == "0000", "zero_serial")),
    })

    # 7
    nik_valid = col("nik_issue").isNull()
    df = df.withColumns({
        "nik_valid": nik_valid,
        "nik_province": F.when(nik_valid, F.substring("nik", 1, 2)),
        "nik_regency": F.when(nik_valid, F.substring("nik", 1, 4)),
        "nik_district": F.when(nik_valid, F.substring("nik", 1, 6)),
        "nik_birth_date": F.when(nik_valid, col("_ndate")),
        "nik_sex": F.when(nik_valid, F.when(dd > 40, "P").otherwise("L")),
    })

    # 8
    o = lambda name: col(f"_o_{name}").alias(name)  # noqa: E731  a group's output under its silver name
    out = df.select(
        F.concat(F.lit(f"{source}:"), col("_record_key")).alias("unique_id"),
        F.lit(source).alias("source_dataset"),
        col("_record_key").alias("record_key"),
        F.lit(batch_id).alias("batch_id"),
        col("_source_file").alias("source_file"),
        col("_line").alias("line"),
        col("_raw_text").alias("raw_text"),
        "_malformed", "_duplicate_key", "_name_len",
        *[(col(f"_has_{f}") & bad).alias(f"_invalid_{f}") for f, bad in (
            ("sex", col("sex").isNull()), ("desil", col("desil").isNull()), ("kode_wilayah", ~col("_kode_ok")),
            ("registered_at", col("registered_at").isNull()), ("phone", col("phone").isNull()),
            ("email", col("email").isNull()))],
        (~col("_has_desil")).alias("_blank_desil"),
        "nik", "nik_valid", "nik_issue", "nik_province", "nik_regency", "nik_district", "nik_birth_date", "nik_sex",
        "birth_date", "birth_date_invalid", "sex", "no_kk", o("name_clean"), "phone", "email",
        F.substring(C.nonblank(col("_oid0")), 1, 64).alias("other_id"),
        F.substring(C.nonblank(col("_t_address")), 1, MAX_FIELD_CHARS).alias("address_clean"),
        "rt", "rw", *[o(f) for f in L.REGION_FIELDS],
        F.when(col("province_code").isin(*province_codes()), col("province_code")).alias("province_code"),
        F.when(F.length("_kode") >= 4, F.substring("_kode", 1, 4)).alias("regency_code"),
        F.when(F.length("_kode") >= 6, F.substring("_kode", 1, 6)).alias("district_code"),
        "desil",
        *[o(f) for f, _ in L.TEXT_FIELDS],
        "registered_at",
        *[o(f) for f in ("name_tokens", "name_first", "name_last", "name_sorted", "name_phonetic",
                         "name_first_phonetic", "name_last_phonetic")],
        F.year("birth_date").alias("birth_year"),
        F.month("birth_date").alias("birth_month"),
        F.dayofmonth("birth_date").alias("birth_day"),
        F.coalesce(C.is_placeholder_date(col("birth_date"), placeholder_dates, day15_placeholder),
                   F.lit(False)).alias("dob_placeholder"),
        F.coalesce(nik_valid_and(col("birth_date").isNotNull() & (col("nik_birth_date") != col("birth_date"))),
                   F.lit(False)).alias("nik_dob_mismatch"),
        F.coalesce(nik_valid_and(col("sex").isNotNull() & (col("nik_sex") != col("sex"))),
                   F.lit(False)).alias("nik_sex_mismatch"),
    )

    flags = _flag_array([
        (~col("nik_valid"), F.concat(F.lit("nik_"), col("nik_issue"))), (col("nik_dob_mismatch"), "nik_dob_mismatch"),
        (col("nik_sex_mismatch"), "nik_sex_mismatch"), (col("birth_date").isNull(), "birth_date_missing"),
        (col("birth_date_invalid"), "birth_date_invalid"), (col("dob_placeholder"), "dob_placeholder"),
        (col("sex").isNull() & ~col("_invalid_sex"), "sex_missing"), (col("name_tokens") == 1, "mononym"),
        (col("province_code").isNull(), "province_unknown"),
        *[(col(f"_invalid_{f}"), f"{f}_invalid") for f in CHECKED_FIELDS if f not in required],
        *([(col("_blank_desil"), "desil_missing")] if "desil" in columns else []),
    ])
    # A name alone cannot be linked; a name with a region (`identifying_regions`) or a birth date
    # can, on weaker evidence than an identifier (blocking reaches it by name + region, name + birth date).
    identifying = (col("nik_valid") | col("birth_date").isNotNull() | col("phone").isNotNull()
                   | col("email").isNotNull() | col("other_id").isNotNull())
    for region in identifying_regions:   # the standardise config's `identifying_regions`
        identifying = identifying | col(region).isNotNull()
    reasons = _flag_array([
        (col("_malformed"), "malformed_line"),
        # the marks are all non-ASCII: an ASCII line (nearly all) skips the regex
        (F.coalesce(~C.is_ascii(col("raw_text")) & col("raw_text").rlike(_UNDECODABLE), F.lit(False)),
         "undecodable_text"),
        (col("record_key").isNull(), "missing_record_key"),
        (col("_duplicate_key"), "duplicate_record_key"),
        (F.coalesce(col("_name_len"), F.lit(0)) > MAX_NAME_CHARS, "name_too_long"),
        (col("name_clean").isNull(), "no_name"), (~identifying, "no_identifying_field"),
        *[(col(f"_invalid_{f}"), f"invalid_{f}") for f in CHECKED_FIELDS if f in required],
    ])
    nik_cmp = F.when((F.length("nik") == 16) & ~F.coalesce(col("nik_issue") == "placeholder", F.lit(False)),
                     col("nik"))
    result = (out.withColumns({"flags": flags, "reasons": reasons, "nik_cmp": nik_cmp})
              .drop("_malformed", "_duplicate_key", "_name_len", "_blank_desil", *[f"_invalid_{f}" for f in CHECKED_FIELDS]))
    return result if pseudonymiser is None else pseudonymiser.silver(result)


def nik_valid_and(cond: Column) -> Column:
    return F.col("nik_valid") & cond


def split_accepted_rejected(standardised: DataFrame) -> tuple[DataFrame, DataFrame]:
    """(rows for silver.persons, rows for rejects)."""
    accepted = standardised.where(F.size("reasons") == 0)
    rejected = standardised.where(F.size("reasons") > 0)
    return accepted, rejected
