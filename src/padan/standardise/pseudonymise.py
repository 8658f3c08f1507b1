"""Keyed pseudonymisation of identifiers: HMAC-SHA256 as Spark SQL column expressions.

A source contract's `pseudonymise: {fields: [...], key_env: VAR}` (or `key_file: /path`) replaces
NIK, family card number, phone and e-mail at ingest by `hex(HMAC-SHA256(key, value))` (64 lower-case
hex characters). Two agencies holding the same key get the same pseudonym for the same cleaned
value, so they can link without exchanging clear identifiers; without the key a pseudonym cannot
be recomputed from a guessed value.

Spark has `sha2` but no HMAC. HMAC-SHA256 (RFC 2104) is

    sha256(opad || sha256(ipad || message))

where ipad/opad are the key (zero-padded to SHA-256's 64-byte block, or hashed first when longer)
XOR 0x36 / 0x5c. The pads are computed once on the driver and enter the plan as *data*: a one-row
DataFrame, broadcast and cross-joined onto the rows, whose values never appear in a plan string
(`explain`, the SQL tab, event logs show only its column names). A literal would be printed in
every plan. The key and the pads are never logged, and no message names them.

Where the pseudonyms go (everything derived from a clear value is derived before it is replaced):
- bronze: the raw columns of the listed fields hold the HMAC of the value as recorded; a line
  that did not parse (`_malformed`) keeps none of its raw columns (its fields may be shifted, so
  any of them could hold an identifier). Its file and line number stay.
- silver.persons: `nik`, `no_kk`, `phone`, `email` hold the HMAC of the cleaned value (digits of
  the NIK, the phone's normalised form, the lower-cased address), so formatting differences still
  link. The NIK's parts (`nik_valid`, `nik_issue`, `nik_province/regency/district`,
  `nik_birth_date`, `nik_sex`, the mismatch flags) are computed from the clear digits first.
  `nik_cmp` is the NIK's first six digits (its kecamatan code, which `nik_district` holds in clear
  for valid NIKs anyway) followed by the first 16 hex characters (64 bits) of the NIK's HMAC:
  exact equality and the model's "same region prefix" level (`substr(nik_cmp, 1, 6)`) keep
  working; "adjacent digits transposed" cannot be seen through a hash and never fires. The tag is
  short because that level's `damerau_levenshtein` runs on every compared pair that differs, at a
  cost that grows with the square of the length: 400k pairs took 8.5 s at 16 characters (clear),
  12 s at 6 + 16 and 113 s at 6 + 64 (local[2], shared machine). 64 bits within one 6-digit
  prefix make a false equal tag unlikely (about 3e-7 expected pairs for 270 million NIKs).
- ops.rejects: `raw_text` (the whole input line) is null; the row keeps source file, line number,
  record key and reasons, so the line can be found in the extract.
"""

from __future__ import annotations

import hashlib

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from padan.config import SourceContract, pseudonym_key_problem, read_pseudonym_key
from padan.errors import ConfigError

BLOCK_BYTES = 64                  # SHA-256's block size
IPAD, OPAD = "_pseudonym_ipad", "_pseudonym_opad"
NIK_PREFIX_DIGITS = 6
NIK_CMP_TAG_HEX = 16              # hex characters of the HMAC after the prefix in nik_cmp (64 bits)


def hmac_pads(key: bytes) -> tuple[bytes, bytes]:
    """RFC 2104's inner and outer padded keys for SHA-256."""
    k = hashlib.sha256(key).digest() if len(key) > BLOCK_BYTES else key
    k = k.ljust(BLOCK_BYTES, b"\x00")
    return bytes(b ^ 0x36 for b in k), bytes(b ^ 0x5C for b in k)


def hmac_sha256(message: Column, ipad: Column | None = None, opad: Column | None = None) -> Column:
    """hex(HMAC-SHA256) of a string column's UTF-8 bytes; null stays null. The pads are columns
    (by default the ones `Pseudonymiser.with_pads` joins on)."""
    ipad = F.col(IPAD) if ipad is None else ipad
    opad = F.col(OPAD) if opad is None else opad
    inner = F.unhex(F.sha2(F.concat(ipad, message.cast("binary")), 256))
    return F.sha2(F.concat(opad, inner), 256)


class Pseudonymiser:
    """One source's pseudonymisation: which fields, and the pads as a one-row DataFrame."""

    def __init__(self, spark: SparkSession, source: str, contract: SourceContract):
        opts = contract.pseudonymise
        if opts is None:
            raise ValueError(f"source '{source}' has no pseudonymise option")
        problem = pseudonym_key_problem(source, opts)     # checked at config load too; the key may have gone
        if problem:
            raise ConfigError([problem])
        ipad, opad = hmac_pads(read_pseudonym_key(opts) or b"")
        self.source = source
        self.fields = tuple(opts.fields)
        self.raw_columns = tuple(contract.columns[f] for f in self.fields if f in contract.columns)
        self._pads = spark.createDataFrame([(bytearray(ipad), bytearray(opad))], f"{IPAD} BINARY, {OPAD} BINARY")

    @classmethod
    def for_source(cls, spark: SparkSession, source: str, contract: SourceContract) -> "Pseudonymiser | None":
        """The source's pseudonymiser; None when its contract does not turn the option on."""
        return None if contract.pseudonymise is None else cls(spark, source, contract)

    def with_pads(self, df: DataFrame) -> DataFrame:
        return df.crossJoin(F.broadcast(self._pads))

    def bronze(self, raw_rows: DataFrame, raw_columns: list[str] | tuple[str, ...]) -> DataFrame:
        """Raw rows (with `_malformed`) as bronze may keep them: the listed fields' raw columns
        hashed as recorded, every raw column of a malformed line null."""
        malformed = F.coalesce(F.col("_malformed"), F.lit(False))
        out = {}
        for c in raw_columns:
            value = hmac_sha256(F.col(f"`{c}`")) if c in self.raw_columns else F.col(f"`{c}`")
            out[c] = F.when(~malformed, value).otherwise(F.lit(None).cast("string"))
        return self.with_pads(raw_rows).withColumns(out).drop(IPAD, OPAD)

    def silver(self, std: DataFrame) -> DataFrame:
        """Standardised rows with the listed identifiers replaced by their HMAC and `raw_text` null."""
        out: dict[str, Column] = {f: hmac_sha256(F.col(f)) for f in self.fields if f != "nik"}
        if "nik" in self.fields:
            out["nik"] = hmac_sha256(F.col("nik"))
            out["nik_cmp"] = F.concat(F.substring("nik_cmp", 1, NIK_PREFIX_DIGITS),
                                      F.substring(hmac_sha256(F.col("nik_cmp")), 1, NIK_CMP_TAG_HEX))
        out["raw_text"] = F.lit(None).cast("string")
        return self.with_pads(std).withColumns(out).drop(IPAD, OPAD)
