"""Logging setup. Only `configure` adds handlers; modules use `logging.getLogger(__name__)`.

Log counts, ids, table and column names -- never personal values.
"""

from __future__ import annotations

import logging
import sys

_CONFIGURED = False


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is at the time of the record (not the stream of the day the
    handler was made), so a replaced or re-opened stderr never breaks logging."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def configure(level: str = "INFO", splink_level: str = "WARNING", py4j_level: str = "ERROR",
              fmt: str = "%(asctime)s %(levelname)s %(name)s: %(message)s") -> None:
    global _CONFIGURED
    root = logging.getLogger("padan")
    if not _CONFIGURED:
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter(fmt))
        root.addHandler(handler)
        root.propagate = False
        _CONFIGURED = True
    root.setLevel(level)
    logging.getLogger("splink").setLevel(splink_level)
    logging.getLogger("py4j").setLevel(py4j_level)


def configure_from(cfg) -> None:  # cfg: padan.config.LoggingConfig
    configure(cfg.level, cfg.splink_level, cfg.py4j_level, cfg.format)
