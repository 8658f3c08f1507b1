"""Raw rows of one source -> standardised persons, each with the reasons it must be rejected.

Same grain as the input: one output row per input row. `reasons` is empty for a row that goes to
`silver.persons`; otherwise it lists hard failures and the row goes to rejects. Soft problems
(invalid NIK, placeholder birth date, ...) are flags, not rejections.
"""

from __future__ import annotations

from typing import Mapping, Sequence

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from padan.standardise import columns as C

MAX_NAME_CHARS = 200
MAX_FIELD_CHARS = 1000


def _raw(mapping: Mapping[str, str], field: str) -> Column:
    col = mapping.get(field)
    return F.col(f"`{col}`") if col else F.lit(None).cast("string")


def _mapped(raw: Column, value_map: Mapping[str, str] | None) -> Column:
    """Apply a value map to the trimmed, upper-cased raw value; unknown values become null."""
    v = F.upper(C.blank_to_null(raw))
    if not value_map:
        return v
    m = F.create_map(*[F.lit(x) for k, val in value_map.items() for x in (k.upper(), val)])
    return F.try_element_at(m, v)


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
) -> DataFrame:
    """Input: raw columns plus `_source_file`, `_line`, `_raw_text`, `_malformed`, `_record_key`,
    `_duplicate_key` (see `with_record_keys`).
    Output: every `silver.persons` column plus `reasons ARRAY<STRING>` and `raw_text`."""
    ref_year = int(reference_date[:4])
    ref = F.to_date(F.lit(reference_date))
    name_raw = _raw(columns, "name")
    nik = C.nik_digits(_raw(columns, "nik"))
    nik_issue = C.nik_issue(nik, ref_year, placeholder_niks or C.NIK_PLACEHOLDER_DEFAULTS)
    ny, nm, nd = C.nik_birth_parts(nik, ref_year)
    nik_valid = nik_issue.isNull()
    nik_birth = F.when(nik_valid, C.safe_date(ny, nm, nd))

    birth_parsed = C.parse_date(_raw(columns, "birth_date"), date_formats.get("birth_date", []))
    birth_ok = birth_parsed.isNotNull() & (F.year(birth_parsed) >= min_birth_year) & (birth_parsed <= ref)
    sex = _mapped(_raw(columns, "sex"), value_maps.get("sex"))
    sex = F.when(sex.isin("L", "P"), sex)
    name_clean = C.clean_name(name_raw, titles, muhammad_variants)
    kode = F.regexp_replace(_raw(columns, "kode_wilayah"), r"[^0-9]", "")

    out = raw_rows.select(
        F.concat(F.lit(f"{source}:"), F.col("_record_key")).alias("unique_id"),
        F.lit(source).alias("source_dataset"),
        F.col("_record_key").alias("record_key"),
        F.lit(batch_id).alias("batch_id"),
        F.col("_source_file").alias("source_file"),
        F.col("_line").alias("line"),
        F.col("_raw_text").alias("raw_text"),
        F.col("_malformed").alias("_malformed"),
        F.col("_duplicate_key").alias("_duplicate_key"),
        F.length(name_raw).alias("_name_len"),
        nik.alias("nik"),
        nik_valid.alias("nik_valid"),
        nik_issue.alias("nik_issue"),
        F.when(nik_valid, F.substring(nik, 1, 2)).alias("nik_province"),
        F.when(nik_valid, F.substring(nik, 1, 4)).alias("nik_regency"),
        F.when(nik_valid, F.substring(nik, 1, 6)).alias("nik_district"),
        nik_birth.alias("nik_birth_date"),
        F.when(nik_valid, C.nik_sex(nik)).alias("nik_sex"),
        F.when(birth_ok, birth_parsed).alias("birth_date"),
        (C.blank_to_null(_raw(columns, "birth_date")).isNotNull() & ~F.coalesce(birth_ok, F.lit(False))).alias("birth_date_invalid"),
        sex.alias("sex"),
        C.nik_digits(_raw(columns, "no_kk")).alias("no_kk"),
        
        name_clean.alias("name_clean"),
        C.phone_62(_raw(columns, "phone")).alias("phone"),
        C.email_canonical(_raw(columns, "email")).alias("email"),
        F.substring(C.clean_text(_raw(columns, "address")), 1, MAX_FIELD_CHARS).alias("address_clean"),
        C.blank_to_null(F.regexp_replace(_raw(columns, "rt"), r"[^0-9]", "")).alias("rt"),
        C.blank_to_null(F.regexp_replace(_raw(columns, "rw"), r"[^0-9]", "")).alias("rw"),
        F.substring(C.clean_region(_raw(columns, "desa")), 1, 200).alias("desa"),
        F.substring(C.clean_region(_raw(columns, "kecamatan")), 1, 200).alias("kecamatan"),
        F.substring(C.clean_region(_raw(columns, "kabupaten"), keep_kota=True), 1, 200).alias("kabupaten"),
        F.substring(C.clean_region(_raw(columns, "provinsi")), 1, 200).alias("provinsi"),
        F.coalesce(F.when(F.length(kode) >= 2, F.substring(kode, 1, 2)),
                   C.province_code_from_name(_raw(columns, "provinsi"))).alias("province_code"),
        F.when(F.length(kode) >= 4, F.substring(kode, 1, 4)).alias("regency_code"),
        F.when(F.length(kode) >= 6, F.substring(kode, 1, 6)).alias("district_code"),
        F.regexp_extract(_raw(columns, "desil"), r"^\s*([1-9]|10)\s*$", 1).alias("_desil"),
        F.substring(C.clean_text(_raw(columns, "family_relation")), 1, 100).alias("family_relation"),
        F.substring(C.clean_text(_raw(columns, "occupation")), 1, 100).alias("occupation"),
        F.substring(C.clean_text(_raw(columns, "education")), 1, 100).alias("education"),
        F.substring(C.clean_text(_raw(columns, "employment_status")), 1, 100).alias("employment_status"),
        C.parse_date(_raw(columns, "registered_at"), date_formats.get("registered_at", [])).alias("registered_at"),
        F.substring(C.clean_text(_raw(columns, "wave")), 1, 50).alias("wave"),
        F.substring(C.clean_text(_raw(columns, "program_status")), 1, 100).alias("program_status"),
    )
    out = (out
           .withColumn("desil", F.when(F.col("_desil") != "", F.col("_desil").cast("int")))
           .withColumn("province_code", F.when(F.col("province_code").isin(*_province_codes()), F.col("province_code")))
           .withColumn("name_tokens", F.size(C.name_tokens(F.col("name_clean"))))
           .withColumn("name_first", C.first_token(F.col("name_clean")))
           .withColumn("name_last", C.last_token(F.col("name_clean")))
           .withColumn("name_sorted", C.sorted_tokens(F.col("name_clean")))
           .withColumn("name_phonetic", C.phonetic_key(F.col("name_clean")))
           .withColumn("name_first_phonetic", C.phonetic_token(F.col("name_first")))
           .withColumn("name_last_phonetic", C.phonetic_token(F.col("name_last")))
           .withColumn("birth_year", F.year("birth_date"))
           .withColumn("birth_month", F.month("birth_date"))
           .withColumn("birth_day", F.dayofmonth("birth_date"))
           .withColumn("dob_placeholder", F.coalesce(
               C.is_placeholder_date(F.col("birth_date"), placeholder_dates, day15_placeholder), F.lit(False)))
           .withColumn("nik_dob_mismatch", F.col("nik_valid") & F.col("birth_date").isNotNull()
                       & (F.col("nik_birth_date") != F.col("birth_date")))
           .withColumn("nik_sex_mismatch", F.col("nik_valid") & F.col("sex").isNotNull()
                       & (F.col("nik_sex") != F.col("sex")))
           .withColumn("nik_dob_mismatch", F.coalesce(F.col("nik_dob_mismatch"), F.lit(False)))
           .withColumn("nik_sex_mismatch", F.coalesce(F.col("nik_sex_mismatch"), F.lit(False))))

    flags = F.array_compact(F.array(
        F.when(~F.col("nik_valid"), F.concat(F.lit("nik_"), F.col("nik_issue"))),
        F.when(F.col("nik_dob_mismatch"), F.lit("nik_dob_mismatch")),
        F.when(F.col("nik_sex_mismatch"), F.lit("nik_sex_mismatch")),
        F.when(F.col("birth_date").isNull(), F.lit("birth_date_missing")),
        F.when(F.col("birth_date_invalid"), F.lit("birth_date_invalid")),
        F.when(F.col("dob_placeholder"), F.lit("dob_placeholder")),
        F.when(F.col("sex").isNull(), F.lit("sex_missing")),
        F.when(F.col("name_tokens") == 1, F.lit("mononym")),
        F.when(F.col("province_code").isNull(), F.lit("province_unknown")),
    ))
    identifying = (F.col("nik_valid") | F.col("birth_date").isNotNull() | F.col("phone").isNotNull()
                   | F.col("email").isNotNull())
    reasons = F.array_compact(F.array(
        F.when(F.col("_malformed"), F.lit("malformed_line")),
        F.when(F.col("record_key").isNull(), F.lit("missing_record_key")),
        F.when(F.col("_duplicate_key"), F.lit("duplicate_record_key")),
        F.when(F.coalesce(F.col("_name_len"), F.lit(0)) > MAX_NAME_CHARS, F.lit("name_too_long")),
        F.when(F.col("name_clean").isNull(), F.lit("no_name")),
        F.when(~identifying, F.lit("no_identifying_field")),
    ))
    nik_cmp = F.when((F.length("nik") == 16) & ~F.coalesce(F.col("nik_issue") == "placeholder", F.lit(False)),
                     F.col("nik"))
    return (out.withColumn("flags", flags)
            .withColumn("reasons", reasons)
            .withColumn("nik_cmp", nik_cmp)
            .drop("_malformed", "_duplicate_key", "_name_len", "_desil"))


def with_record_keys(raw_rows: DataFrame, key_column: str | None) -> DataFrame:
    """Add `_record_key` (the register's key, or one derived from the row's text: the same row
    gets the same key on every run) and `_duplicate_key` (true for every repeat of a key after
    its first occurrence by file and line)."""
    if key_column:
        key = C.blank_to_null(F.col(f"`{key_column}`"))
    else:
        digest = F.sha2(F.coalesce(F.col("_raw_text"), F.lit("")), 256).substr(1, 24)
        occurrence = F.row_number().over(Window.partitionBy(digest).orderBy("_source_file", "_line"))
        key = F.concat(digest, F.lit("-"), occurrence.cast("string"))
    keyed = raw_rows.withColumn("_record_key", key)
    first = F.row_number().over(Window.partitionBy("_record_key").orderBy("_source_file", "_line"))
    return keyed.withColumn("_duplicate_key", F.col("_record_key").isNotNull() & (first > 1))


def _province_codes() -> list[str]:
    from padan.reference import province_codes

    return province_codes()


def split_accepted_rejected(standardised: DataFrame) -> tuple[DataFrame, DataFrame]:
    """(rows for silver.persons, rows for rejects)."""
    accepted = standardised.where(F.size("reasons") == 0)
    rejected = standardised.where(F.size("reasons") > 0)
    return accepted, rejected
