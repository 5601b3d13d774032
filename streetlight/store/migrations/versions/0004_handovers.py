"""Handovers of sites to another maintainer; one work order per alarm.

Revision ID: 0004_handovers
Revises: 0003_alarms
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_handovers"
down_revision = "0003_alarms"
branch_labels = None
depends_on = None

ID = sa.String(64)
NAME = sa.String(200)
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "handovers",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("site_id", ID, nullable=False),
        sa.Column("maintainer_id", ID, nullable=False),
        sa.Column("handed_over_at", WHEN, nullable=False),
        sa.Column("by", NAME, nullable=False),
        sa.Column("note", sa.String(500), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_handovers"),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name="fk_handovers_site_id_sites"),
        sa.ForeignKeyConstraint(
            ["maintainer_id"], ["maintainers.id"], name="fk_handovers_maintainer_id_maintainers"
        ),
    )
    op.create_index("ix_handovers_site_id", "handovers", ["site_id"])
    # a restarted controller must find an alarm's order, never open a second one
    op.drop_index("ix_work_orders_alarm_id", table_name="work_orders")
    op.create_index("ix_work_orders_alarm_id", "work_orders", ["alarm_id"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_work_orders_alarm_id", table_name="work_orders")
    op.create_index("ix_work_orders_alarm_id", "work_orders", ["alarm_id"])
    op.drop_table("handovers")
