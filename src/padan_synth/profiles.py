"""Corruption profiles: how dirty each synthetic extract is, and how the registers overlap.

Every rate is the probability that one record gets that kind of damage (for the name kinds that
need a particular shape -- MUHAMMAD in the name, three tokens, a day <= 12 -- the rate applies
among the records that have that shape). The NIK kinds are exclusive: one record gets at most one,
and their sum is the share of records with an unusable or wrong NIK.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace


@dataclass(frozen=True)
class SourceRates:
    # names
    name_typo: float = 0.0              # one letter substituted, dropped, doubled or two swapped
    name_old_spelling: float = 0.0      # pre-1972 spelling: U->OE, J->DJ, C->TJ, Y->J, SY->SJ, NY->NJ, KH->CH
    name_muhammad_variant: float = 0.0  # among names with MUHAMMAD: MUHAMAD, MOHAMMAD, MOH., M., ...
    name_abdul_abbrev: float = 0.0      # among names with ABDUL: ABD.
    name_title: float = 0.0             # titles / degrees shown (H., HJ., DRS., ..., S.PD., M.M.)
    name_token_swap: float = 0.0        # among names of 2+ tokens: first token moved to the end
    name_drop_middle: float = 0.0       # among names of 3+ tokens: a middle token left out
    name_mononym: float = 0.0           # two-part name shown as its first token; a mononym gets BIN/BINTI X
    name_case: float = 0.0              # typed in Title or lower case (self-registration)
    # NIK (exclusive kinds)
    nik_missing: float = 0.0
    nik_placeholder: float = 0.0        # 9999999999999999, 0000000000000000, 9999, 1234567890123456
    nik_wrong_length: float = 0.0       # a digit lost or added
    nik_letters: float = 0.0            # O for 0, I for 1, spreadsheet scientific notation
    nik_transposed: float = 0.0         # two adjacent (different) digits swapped
    nik_family: float = 0.0             # another member of the household's NIK
    nik_digit_typo: float = 0.0         # one digit mistyped
    # birth date (exclusive kinds)
    dob_missing: float = 0.0
    dob_placeholder: float = 0.0        # 1 January, 1 July, 31 December or the 15th instead of the real date
    dob_day_month_swap: float = 0.0     # among dates with day <= 12 and day != month
    dob_year_off: float = 0.0           # year one off
    # other fields
    sex_flip: float = 0.0
    kk_missing: float = 0.0
    kk_changed: float = 0.0             # a newer family card than the household's (Prakerja vs P3KE)
    addr_moved: float = 0.0             # lives in another desa than the P3KE household
    duplicate: float = 0.0              # P3KE: rows that repeat a person; Prakerja: registrants with 2+ accounts
    email_variant: float = 0.0          # e-mail typed with other case / dots
    phone_intl: float = 0.0             # phone typed as +628.. or 628.. instead of 08..

    @property
    def nik_bad(self) -> float:
        return (self.nik_missing + self.nik_placeholder + self.nik_wrong_length + self.nik_letters
                + self.nik_transposed + self.nik_family + self.nik_digit_typo)

    @property
    def dob_bad(self) -> float:
        return self.dob_missing + self.dob_placeholder + self.dob_day_month_swap + self.dob_year_off


@dataclass(frozen=True)
class Profile:
    name: str
    p3ke: SourceRates
    prakerja: SourceRates
    overlap: float = 0.15                      # share of Prakerja registrants who are P3KE people
    overlap_desil_weights: tuple[float, float, float, float] = (0.35, 0.6, 0.9, 1.0)  # desil 1..4
    overlap_pkh_factor: float = 0.5            # PKH recipients were screened out of Prakerja
    mover_rate: float = 0.12                   # people whose NIK region differs from where they live
    nik_birth_mismatch: float = 0.01           # NIK issued with a wrong birth date (never corrected)
    registry_placeholder_dob: float = 0.12     # people born before 1975 whose registered date is a placeholder
    twin_rate: float = 0.015                   # a child born on the same day as the previous child
    twin_sequential_nik: float = 0.0           # among twins: NIK a few serials (or one transposition) from the twin's
    namesake_child: float = 0.0                # children who carry the name of the parent of their sex
    title_spelled: float = 0.0                 # pilgrimage titles written HAJI / HJ / HAJJAH / HAJAH / HJH instead of H. / HJ.

    def as_dict(self) -> dict:
        return asdict(self)


_TYPICAL_P3KE = SourceRates(
    name_typo=0.05, name_old_spelling=0.03, name_muhammad_variant=0.45, name_abdul_abbrev=0.25,
    name_title=0.06, name_token_swap=0.02, name_drop_middle=0.05, name_mononym=0.04, name_case=0.0,
    nik_missing=0.06, nik_placeholder=0.03, nik_wrong_length=0.025, nik_letters=0.01, nik_transposed=0.015,
    nik_family=0.015, nik_digit_typo=0.015,
    dob_missing=0.01, dob_placeholder=0.04, dob_day_month_swap=0.03, dob_year_off=0.02,
    sex_flip=0.005, kk_missing=0.01, kk_changed=0.0, addr_moved=0.0, duplicate=0.02,
)
_TYPICAL_PRAKERJA = SourceRates(
    name_typo=0.04, name_old_spelling=0.015, name_muhammad_variant=0.35, name_abdul_abbrev=0.15,
    name_title=0.02, name_token_swap=0.01, name_drop_middle=0.06, name_mononym=0.05, name_case=0.45,
    nik_missing=0.0, nik_placeholder=0.005, nik_wrong_length=0.015, nik_letters=0.005, nik_transposed=0.02,
    nik_family=0.01, nik_digit_typo=0.015,
    dob_missing=0.0, dob_placeholder=0.01, dob_day_month_swap=0.02, dob_year_off=0.01,
    sex_flip=0.003, kk_missing=0.01, kk_changed=0.15, addr_moved=0.12, duplicate=0.05,
    email_variant=0.10, phone_intl=0.35,
)


def _scaled(rates: SourceRates, factor: float, **overrides: float) -> SourceRates:
    """Every damage rate times `factor` (capped at 0.9); structure rates kept unless overridden."""
    keep = {"name_case", "phone_intl", "email_variant"}
    values = {k: (v if k in keep else min(0.9, v * factor)) for k, v in asdict(rates).items()}
    values.update(overrides)
    return SourceRates(**values)


PROFILES: dict[str, Profile] = {
    "clean": Profile(
        name="clean",
        p3ke=SourceRates(),
        prakerja=SourceRates(name_case=0.45, phone_intl=0.35),
        overlap=0.25, mover_rate=0.12, nik_birth_mismatch=0.0, registry_placeholder_dob=0.12,
    ),
    "typical": Profile(name="typical", p3ke=_TYPICAL_P3KE, prakerja=_TYPICAL_PRAKERJA),
    "hard": Profile(
        name="hard",
        p3ke=_scaled(_TYPICAL_P3KE, 1.8, name_muhammad_variant=0.6, name_abdul_abbrev=0.4),
        prakerja=_scaled(_TYPICAL_PRAKERJA, 1.8, name_muhammad_variant=0.5, name_abdul_abbrev=0.3,
                         name_case=0.6, email_variant=0.2),
        overlap=0.10, mover_rate=0.18, nik_birth_mismatch=0.03, registry_placeholder_dob=0.18,
        twin_rate=0.02,
    ),
    # Held-out stress profile, for reporting only: never tune a parameter on it. Twins registered
    # together (NIKs a few serials or one transposition apart), parents and children sharing a name,
    # pilgrimage titles spelled out, many placeholder / year-slipped / day-month-swapped birth dates
    # and records without a NIK.
    "stress": Profile(
        name="stress",
        p3ke=_scaled(_TYPICAL_P3KE, 1.3, name_title=0.15, nik_missing=0.15, dob_placeholder=0.10,
                     dob_day_month_swap=0.06, dob_year_off=0.06),
        prakerja=_scaled(_TYPICAL_PRAKERJA, 1.3, name_title=0.08, nik_missing=0.05, dob_placeholder=0.05,
                         dob_day_month_swap=0.04, dob_year_off=0.04),
        overlap=0.15, mover_rate=0.12, nik_birth_mismatch=0.02, registry_placeholder_dob=0.2,
        twin_rate=0.08, twin_sequential_nik=0.8, namesake_child=0.05, title_spelled=0.6,
    ),
}


def get_profile(profile: str | Profile) -> Profile:
    if isinstance(profile, Profile):
        return profile
    try:
        return PROFILES[profile]
    except KeyError:
        raise ValueError(f"unknown synth profile {profile!r}; choose from {sorted(PROFILES)}") from None


__all__ = ["SourceRates", "Profile", "PROFILES", "get_profile", "replace"]
