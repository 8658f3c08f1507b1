"""Standardisation of raw register rows into `silver.persons` (Spark SQL expressions only)."""

from padan.standardise.persons import standardise_rows, split_accepted_rejected

__all__ = ["standardise_rows", "split_accepted_rejected"]
