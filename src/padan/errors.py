"""padan's exceptions. Messages name sources, tables, files and columns -- never personal values."""

from __future__ import annotations


class PadanError(Exception):
    """Base class: a clear, user-facing failure. The CLI prints its message and exits non-zero."""

    exit_code = 1


class ConfigError(PadanError):
    """The configuration is invalid. Carries every problem found, one per line."""

    exit_code = 2

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"invalid configuration ({len(self.problems)} problem(s)):\n{lines}")


class ContractError(PadanError):
    """An input does not meet its source contract (missing column, unknown format, no file)."""

    exit_code = 3

    def __init__(self, source: str, reason: str, *, file: str | None = None, column: str | None = None):
        self.source, self.reason, self.file, self.column = source, reason, file, column
        where = [f"source '{source}'"]
        if file:
            where.append(f"file '{file}'")
        if column:
            where.append(f"column '{column}'")
        super().__init__(f"{', '.join(where)}: {reason}")


class SchemaError(PadanError):
    """A DataFrame at a stage boundary lacks required columns or breaks a key."""

    exit_code = 4


class InvariantError(PadanError):
    """A counted invariant (rows in = rows standardised + rows rejected, ...) does not hold."""

    exit_code = 5


class ModelError(PadanError):
    """The model is missing, unpinned or inconsistent with the data."""

    exit_code = 6


class StateError(PadanError):
    """The lake is not in a state this run can start from (e.g. an increment before any full link)."""

    exit_code = 7


class LakeBusyError(PadanError):
    """Another padan run holds the lake lock (`padan.lock`): nothing was written. Retryable."""

    exit_code = 9

    def __init__(self, lake: str, holder: dict, waited_seconds: float, lock_path: str):
        from padan.lock import _describe    # here: padan.lock imports this module

        self.lake, self.holder = lake, dict(holder)
        waited = f" after waiting {waited_seconds:.0f}s" if waited_seconds > 0 else ""
        super().__init__(f"lake {lake} is locked by {_describe(holder)}{waited}: another padan run is writing it, "
                         f"nothing was written; retry later (lake.lock_wait_seconds waits), or if that run is "
                         f"gone (another host) remove {lock_path}")
