"""The relational store (SQLAlchemy 2, Alembic): assets, schedules, alarms, work orders.

SQLite by default (a file, WAL); PostgreSQL where several hosts share it. `open_store` (and
`open_engine` beneath it) migrates the schema to the newest revision before handing it out.
Each part of the store has its module and its queries: `assets` (the asset tree whole),
`asset_queries` and `asset_edits` (node by node),
`schedules` (programs, calendars, overrides), `alarms` (alarms and their transitions, operators'
steps, export) and `workorders` (the repair ledger and site handovers); every process that
reads or writes one of them goes through these, so the rules are the same on every path.
"""

from streetlight.store.assets import (
    LoadReport,
    import_inventory,
    inventory_from,
    read_assets,
    read_inventory,
    save_inventory,
)
from streetlight.store.engine import (
    StoreError,
    async_url,
    open_engine,
    open_store,
    sessions,
    warm_pool,
)

__all__ = [
    "LoadReport",
    "StoreError",
    "async_url",
    "import_inventory",
    "inventory_from",
    "open_engine",
    "open_store",
    "read_assets",
    "read_inventory",
    "save_inventory",
    "sessions",
    "warm_pool",
]
