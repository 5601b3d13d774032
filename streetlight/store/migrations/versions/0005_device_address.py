"""A device's own address (IMEI, DevEUI, serial) per lamp and cabinet, unique where given.

Revision ID: 0005_device_address
Revises: 0004_handovers
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_device_address"
down_revision = "0004_handovers"
branch_labels = None
depends_on = None

ID = sa.String(64)


def upgrade() -> None:
    for table in ("cabinets", "lamps"):
        op.add_column(table, sa.Column("device_address", ID, nullable=True))
        op.create_index(f"ix_{table}_device_address", table, ["device_address"], unique=True)


def downgrade() -> None:
    for table in ("cabinets", "lamps"):
        op.drop_index(f"ix_{table}_device_address", table_name=table)
        with op.batch_alter_table(table) as batch:  # SQLite drops a column by copying the table
            batch.drop_column("device_address")
