"""Identifiers that reach table slices: batch ids, source names, run ids, model versions.

They are checked against one strict pattern where they enter padan (command line, scheduler,
config), and table slices are written as column expressions (`padan.lake.slice_of`), never as
SQL text pasted together from them. The check is the first wall, the expressions the second:
an id that got past the first still cannot change what a predicate means. No pyspark here: the scheduler
imports this module where Spark is not installed.
"""

from __future__ import annotations

import re

from padan.errors import PadanError

SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._=-]{0,127}$")
SQL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")   # catalog and schema names in DDL
SAFE_ID_TEXT = "1-128 characters: letters, digits and . _ = - (starting with a letter or digit)"


class IdError(PadanError):
    """An identifier given on the command line, by the scheduler or in config is not a safe id."""

    exit_code = 2

    def __init__(self, kind: str, value: object):
        shown = value if isinstance(value, str) and len(value) <= 64 else f"<{len(str(value))} characters>"
        super().__init__(f"invalid {kind} {shown!r}: an id must be {SAFE_ID_TEXT}")


def check_id(kind: str, value: str) -> str:
    """`value` unchanged if it is a safe id, else IdError (exit 2) naming `kind`."""
    if not isinstance(value, str) or not SAFE_ID.match(value):
        raise IdError(kind, value)
    return value
