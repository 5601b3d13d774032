"""Logging for every process: one line per record, to stderr."""

from __future__ import annotations

import logging

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def setup_logging(level: str = "INFO") -> None:
    logging.basicConfig(level=level, format=FORMAT, force=True)
    # third-party chatter at INFO is not the operator's business
    for noisy in ("httpx", "httpcore", "aiosqlite", "alembic", "pymodbus"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
