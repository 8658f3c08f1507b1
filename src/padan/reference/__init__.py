"""Reference data shipped with padan (Kemendagri region codes)."""

from __future__ import annotations

import csv
from functools import lru_cache
from importlib import resources


@lru_cache(maxsize=None)
def provinces() -> list[tuple[str, str, tuple[str, ...]]]:
    """(Kemendagri code, canonical name, aliases) for the 38 provinces."""
    text = resources.files("padan.reference").joinpath("provinces.csv").read_text(encoding="utf-8")
    rows = []
    for rec in csv.DictReader(text.splitlines()):
        aliases = tuple(a for a in (rec["aliases"] or "").split("|") if a)
        rows.append((rec["code"], rec["name"], aliases))
    return rows


def province_codes() -> list[str]:
    return [code for code, _, _ in provinces()]


def province_name_to_code() -> dict[str, str]:
    """Every accepted (normalised) spelling of a province name -> its code."""
    out: dict[str, str] = {}
    for code, name, aliases in provinces():
        for spelling in (name, *aliases):
            out[spelling] = code
    return out
