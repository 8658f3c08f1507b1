"""Column rules, one DataFrame of cases per rule family (one Spark job each, not one per case)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from pyspark.sql import functions as F

from padan.standardise import columns as C

TITLES = ["H.", "Hj.", "KH.", "Dr.", "dr.", "Drs.", "Dra.", "Ir.", "Prof.", "R.", "R.A.", "Tgk.", "Cut",
          "S.Pd.", "S.E.", "S.H.", "S.Kom.", "M.M.", "M.Pd.", "A.Md.", "Amd."]
MUHAMMAD = ["MUHAMMAD", "MUHAMAD", "MOHAMMAD", "MOHAMAD", "MOCHAMAD", "MOCHAMMAD", "MOCH.", "MOH.", "MUH.", "MHD.",
            "MOHD.", "MUHD.", "MUHAMMED", "MOHAMED"]


def _apply(spark, fn, values, ddl="v string"):
    df = spark.createDataFrame([(v,) for v in values], ddl)
    return [r[0] for r in df.select(fn(F.col("v"))).collect()]


def _check_cases(spark, fn, cases):
    """All (input, expected) cases of one rule family in one DataFrame and one Spark job; the
    failure lists every case that differs, as (input, got, expected)."""
    got = _apply(spark, fn, [raw for raw, _ in cases])
    wrong = [(raw, g, want) for (raw, want), g in zip(cases, got) if g != want]
    assert not wrong


CLEAN_NAME_CASES = [
    ("Soeharto", "SUHARTO"),
    ("DJOKO Widodo", "JOKO WIDODO"),
    ("Mochamad Rizki", "MUHAMMAD RIZKI"),
    ("Muhammad Rizki", "MUHAMMAD RIZKI"),
    ("M. Rizki", "MUHAMMAD RIZKI"),
    ("Moh. Rizki", "MUHAMMAD RIZKI"),
    ("H. Ahmad Dahlan, S.Pd.", "AHMAD DAHLAN"),
    ("Dr. Ir. Siti Rahayu, M.M.", "SITI RAHAYU"),
    ("Abd. Rahman", "ABDUL RAHMAN"),
    ("Tjahjo Kumolo", "CAHYO KUMOLO"),
    ("Soejono", "SUYONO"),
    ("Djojohadikoesoemo", "JOYOHADIKUSUMO"),
    ("Sjahrir", "SYAHRIR"),
    ("Chairul Tanjung", "KHAIRUL TANJUNG"),
    ("Ahmad bin Saleh", "AHMAD"),
    ("  josé   o'brien ", "JOSE O BRIEN"),
    ("H.", "H"),
    ("", None),
    (None, None),
    ("1234", None),
]


def test_clean_name_known_variants(spark):
    _check_cases(spark, lambda c: C.clean_name(c, TITLES, MUHAMMAD), CLEAN_NAME_CASES)


SHIPPED_TITLE_CASES = [
    ("HAJI SOTRISNO", "SOTRISNO"),
    ("Haji Sotrisno", "SOTRISNO"),
    ("H. Sotrisno", "SOTRISNO"),
    ("H Sotrisno", "SOTRISNO"),
    ("HJ. Siti Aminah", "SITI AMINAH"),
    ("Hj Siti Aminah", "SITI AMINAH"),
    ("HAJJAH SITI AMINAH", "SITI AMINAH"),
    ("Hajah Siti Aminah", "SITI AMINAH"),
    ("Hjh. Siti Aminah", "SITI AMINAH"),
    ("KH. Haji Ahmad Dahlan", "AHMAD DAHLAN"),
    ("Kyai Haji Ahmad", "AHMAD"),
    ("Ustadzah Nur Aini, S.Pd.I.", "NUR AINI"),
    ("Sotrisno Haji", "SOTRISNO"),           # trailing titles go too
    ("HAJIRAH", "HAJIRAH"),                  # a name that starts like a title is not one
    ("Hajar Aswad", "HAJAR ASWAD"),
    ("Sutrisno Hadi Haji Ahmad", "SUTRISNO HADI HAJI AHMAD"),   # only at either end
    ("HAJI", "HAJI"),                        # never the whole name
    ("Hj. Hajah", "HAJAH"),                  # nothing but titles: the last one stays
]


def test_shipped_titles_strip_pilgrimage_and_religious_titles(spark):
    """The titles in conf/base/standardise.yml: HAJI SOTRISNO compares like SOTRISNO."""
    from padan import config

    std = config.load(env="base", conf_dir=Path(__file__).resolve().parents[1] / "conf").standardise
    _check_cases(spark, lambda c: C.clean_name(c, std.name_titles, std.muhammad_variants), SHIPPED_TITLE_CASES)


SOUND_ALIKES = [("RACHMAT", "RAHMAT"), ("KHAIRUL", "HAIRUL"), ("SYAHRIL", "SAHRIL"), ("FITRI", "PITRI"),
                ("SETYAWAN", "SETIAWAN"), ("ABDULLAH", "ABDULAH"), ("FATIMAH", "FATIMA")]
DIFFERENT_NAMES = [("BUDI", "BADU"), ("SITI", "SARI"), ("AGUS", "AGUNG")]


def test_phonetic_key_merges_sound_alikes_and_keeps_different_names_apart(spark):
    pairs = SOUND_ALIKES + DIFFERENT_NAMES
    keys = _apply(spark, C.phonetic_key, [n for pair in pairs for n in pair])
    same = [keys[2 * i] == keys[2 * i + 1] for i in range(len(pairs))]
    assert [p for p, s in zip(SOUND_ALIKES, same) if not s] == []
    assert [p for p, s in zip(DIFFERENT_NAMES, same[len(SOUND_ALIKES):]) if s] == []


NIK_ISSUE_CASES = [
    ("3201014508900001", None),          # woman born 05-08-1990
    ("3201010508900001", None),          # man
    ("32.0101.050890.0001", None),       # punctuation stripped
    ("9999999999999999", "placeholder"),
    ("0000000000000000", "placeholder"),
    ("9999", "wrong_length"),
    ("32010105089000011", "wrong_length"),
    ("", "missing"),
    (None, "missing"),
    ("1001010508900001", "unknown_province"),
    ("3201013508900001", "bad_day"),
    ("3201010513900001", "bad_month"),
    ("3201013102900001", "bad_date"),     # 31 February
    ("3201010508900000", "zero_serial"),
]


def test_nik_issue(spark):
    _check_cases(spark, lambda c: C.nik_issue(C.nik_digits(c), 2026), NIK_ISSUE_CASES)


def test_nik_birth_date_and_sex(spark):
    df = spark.createDataFrame([("3201014508900001",), ("3201010501100001",)], "v string")
    nik = C.nik_digits(F.col("v"))
    y, m, d = C.nik_birth_parts(nik, 2026)
    rows = df.select(C.safe_date(y, m, d).alias("dob"), C.nik_sex(nik).alias("sex")).collect()
    assert [(r.dob, r.sex) for r in rows] == [(dt.date(1990, 8, 5), "P"), (dt.date(2010, 1, 5), "L")]


PHONE_CASES = [
    ("0812-3456-7890", "6281234567890"), ("+62 812 3456 7890", "6281234567890"),
    ("6281234567890", "6281234567890"), ("81234567890", "6281234567890"),
    ("021-555-1234", None), ("12", None), (None, None),
]


def test_phone_62(spark):
    _check_cases(spark, C.phone_62, PHONE_CASES)


EMAIL_CASES = [
    (" Budi.Santoso@Gmail.com ", "budisantoso@gmail.com"), ("budi@yahoo.co.id", "budi@yahoo.co.id"),
    ("budi.s@yahoo.co.id", "budi.s@yahoo.co.id"), ("not an email", None), (None, None),
]


def test_email_canonical(spark):
    _check_cases(spark, C.email_canonical, EMAIL_CASES)


DATE_CASES = [
    ("05-08-1990", ["dd-MM-yyyy"], dt.date(1990, 8, 5)),
    ("1990-08-05", ["dd-MM-yyyy", "yyyy-MM-dd"], dt.date(1990, 8, 5)),
    ("31-02-1990", ["dd-MM-yyyy"], None),
    ("00-00-0000", ["dd-MM-yyyy"], None),
    ("garbage", ["dd-MM-yyyy"], None),
]


def test_parse_date_never_raises(spark):
    for formats in {tuple(f) for _, f, _ in DATE_CASES}:
        _check_cases(spark, lambda c: C.parse_date(c, list(formats)),
                     [(raw, want) for raw, f, want in DATE_CASES if tuple(f) == formats])


PROVINCE_CASES = [
    ("Prov. Jawa Barat", "32"), ("JAWA BARAT", "32"), ("D.I. Yogyakarta", "34"), ("DKI Jakarta", "31"),
    ("Papua Barat Daya", "96"), ("Atlantis", None), (None, None),
]


def test_province_code_from_name(spark):
    _check_cases(spark, C.province_code_from_name, PROVINCE_CASES)


REGENCY_CASES = [
    ("KAB. BOGOR", "BOGOR"), ("Kabupaten Bogor", "BOGOR"), ("KOTA BOGOR", "KOTA BOGOR"),
    ("Kota Adm. Jakarta Selatan", "KOTA JAKARTA SELATAN"),
]


def test_clean_regency_keeps_kota_apart(spark):
    _check_cases(spark, lambda c: C.clean_region(c, keep_kota=True), REGENCY_CASES)


def _per_token_reference(name):
    """The old-spelling and phonetic rules as first written: per token, in a lambda, 17 regexes for
    the phonetic key. The whole-name forms in `columns` must give the same result."""
    def modern(token):
        old = token.rlike("OE|DJ|TJ|SJ|^NJ")
        j_to_y = F.regexp_replace(token, r"(?<![DTSN])J", "Y")
        t = F.when(old, F.regexp_replace(j_to_y, "NJ", "NY")).otherwise(token)
        for a, b in (("OE", "U"), ("DJ", "J"), ("TJ", "C"), ("SJ", "SY"), ("CH", "KH")):
            t = F.regexp_replace(t, a, b)
        return t

    rules = ((r"CH", "KH"), (r"KH", "H"), (r"SY", "S"), (r"SH", "S"), (r"DH", "D"), (r"TH", "T"), (r"PH", "F"),
             (r"DZ", "Z"), (r"Q", "K"), (r"X", "KS"), (r"V", "F"), (r"F", "P"), (r"Y", "I"), (r"W(?=[AEIOU])", "W"),
             (r"([A-Z])\1+", "$1"), (r"(?<=[A-Z])H$", ""), (r"(?<=[^AEIOU])H", ""))

    def phonetic(token):
        for pattern, repl in rules:
            token = F.regexp_replace(token, pattern, repl)
        return token

    modern_name = F.array_join(F.transform(F.split(name, " "), modern), " ")
    return modern_name, F.array_join(F.transform(F.split(name, " "), phonetic), " ")


def test_whole_name_rules_equal_the_per_token_rules(spark):
    """Fuzz: random names over the letters the rules look at (old-spelling marks, J, H, pairs, doubles)."""
    import random

    rng = random.Random(15)
    pieces = ["A", "E", "O", "U", "I", "J", "N", "D", "T", "S", "H", "C", "K", "P", "Y", "X", "Q", "V", "F", "W", "Z",
              "OE", "DJ", "TJ", "SJ", "NJ", "CH", "KH", "SY", "JJ", "HH", "AH"]
    names = [" ".join("".join(rng.choice(pieces) for _ in range(rng.randint(1, 6))) for _ in range(rng.randint(1, 4)))
             for _ in range(4000)] + ["NJONJA", "TANJUNG", "DJOJO NJOTO", "SOEJONO", "JOKO", "SJAHRIR", "TJAHJO"]
    df = spark.createDataFrame([(n,) for n in names], "v string")
    ref_modern, ref_phonetic = _per_token_reference(F.col("v"))
    diff = df.select(
        F.sum((C.modern_spelling(F.col("v")) != ref_modern).cast("int")).alias("modern"),
        F.sum((C.phonetic_key(F.col("v")) != ref_phonetic).cast("int")).alias("phonetic"),
        F.sum((C.phonetic_token(F.element_at(F.split("v", " "), 1))
               != F.element_at(F.split(ref_phonetic, " "), 1)).cast("int")).alias("first"),
    ).first()
    assert (diff.modern, diff.phonetic, diff.first) == (0, 0, 0)


def test_title_strip_one_regex_equals_prefix_then_suffix(spark):
    from padan.standardise.columns import _token_alternation, normalise_titles

    alt = _token_alternation(normalise_titles(TITLES))
    two_step = F.regexp_replace(F.regexp_replace(F.col("v"), rf"^(?:(?:{alt}) )+", ""), rf"(?: (?:{alt}))+$", "")
    one = F.regexp_replace(F.col("v"), C.title_pattern(TITLES), "")
    import random

    rng = random.Random(3)
    tokens = ["H", "HJ", "DR", "S PD", "SPD", "M M", "R A", "BUDI", "SITI", "A", "MD", "S", "PD"]
    names = [" ".join(rng.choice(tokens) for _ in range(rng.randint(1, 6))) for _ in range(3000)]
    df = spark.createDataFrame([(n,) for n in names], "v string")
    assert df.where(one != two_step).count() == 0


def test_ascii_shortcuts_equal_the_general_path(spark):
    """`name_letters` and `clean_text_trimmed` take a cheaper path for ASCII values; it must give what
    the general path (translate, then the Unicode-aware regexes) gives, for ASCII and non-ASCII alike."""
    values = ["siti 2 nur-haliza", "  A1B  c..D ", "O'NEIL", "ab_cd\tEF", "123", "", " ", "x9y", "Zaenal  (alm)",
              "jos\u00e9 mar\u00eda", "\u0645\u062d\u0645\u062f", "m\u00fcller 3", None]
    df = spark.createDataFrame([(v,) for v in values], "v string")
    v = F.col("v")
    general_name = F.trim(F.regexp_replace(F.regexp_replace(
        F.translate(F.upper(v), C._ACCENTED + C._DIGITS, C._PLAIN), C._POINTS, ""), C._SEPARATORS, " "))
    general_text = F.trim(F.regexp_replace(F.translate(F.upper(v), C._ACCENTED, C._PLAIN), r"[^A-Z0-9]+", " "))
    rows = df.select(C.name_letters(v).alias("n"), general_name.alias("gn"),
                     C.clean_text_trimmed(v).alias("t"), general_text.alias("gt"), C.is_ascii(v).alias("a")).collect()
    assert [(r.n, r.t) for r in rows] == [(r.gn, r.gt) for r in rows]
    assert sum(bool(r.a) for r in rows) == 9      # the shortcut was taken for the ASCII ones
    assert rows[0].n == "SITI NUR HALIZA" and rows[1].t == "A1B C D"
