"""The relational store (SQLAlchemy 2, Alembic): assets now; programs, alarms, work orders later.

SQLite by default (a file, WAL); PostgreSQL where several hosts share it. `open_engine` migrates
the schema to the newest revision before handing the engine out.
"""

from streetlight.store.assets import LoadReport, read_inventory, save_inventory
from streetlight.store.engine import StoreError, async_url, open_engine, sessions

__all__ = [
    "LoadReport",
    "StoreError",
    "async_url",
    "open_engine",
    "read_inventory",
    "save_inventory",
    "sessions",
]
