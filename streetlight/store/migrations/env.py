"""Alembic environment: migrations run on a connection the store hands in (see engine.py)."""

from alembic import context

from streetlight.store.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through streetlight.store.open_engine")
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=True,  # SQLite alters tables by copying them
)
with context.begin_transaction():
    context.run_migrations()
