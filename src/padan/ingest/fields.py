"""padan's canonical input fields: what a source contract may map its raw columns onto.

Each field: (description, is personal data). Personal fields never appear in logs or reports.
"""

from __future__ import annotations

CANONICAL_FIELDS: dict[str, tuple[str, bool]] = {
    "record_key": ("the register's own id for the row", False),
    "nik": ("Nomor Induk Kependudukan as recorded (any format)", True),
    "no_kk": ("family card number as recorded", True),
    "name": ("full name as recorded", True),
    "birth_date": ("birth date as recorded (text, parsed with the contract's date_formats)", True),
    "sex": ("sex as recorded (mapped with value_maps to L/P)", False),
    "phone": ("mobile phone number as recorded", True),
    "email": ("e-mail address as recorded", True),
    "other_id": ("another personal identifier the register holds (social security, passport, member "
                 "number), as recorded", True),
    "address": ("street address / domicile as recorded", True),
    "rt": ("RT (neighbourhood unit)", False),
    "rw": ("RW (community unit)", False),
    "desa": ("desa / kelurahan name", False),
    "kecamatan": ("kecamatan (district) name", False),
    "kabupaten": ("kabupaten / kota (regency / city) name", False),
    "provinsi": ("province name", False),
    "kode_wilayah": ("Kemendagri region code (2, 4, 6 or 10 digits)", False),
    "desil": ("welfare decile, 1 = poorest (P3KE holds 1-4; valid range: the contract's valid_ranges)", False),
    "family_relation": ("relation to the head of the family card", False),
    "occupation": ("occupation", False),
    "education": ("highest education", False),
    "employment_status": ("employment status", False),
    "registered_at": ("registration date (text, parsed with date_formats)", False),
    "wave": ("Prakerja wave (gelombang)", False),
    "program_status": ("programme participation status / recipient flags", False),
}

PERSONAL_FIELDS = frozenset(k for k, (_, personal) in CANONICAL_FIELDS.items() if personal)
DATE_FIELDS = ("birth_date", "registered_at")
