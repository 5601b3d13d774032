"""Alarms, their transitions, detection's saved debounce state, work orders and theirs.

Revision ID: 0003_alarms
Revises: 0002_schedule
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_alarms"
down_revision = "0002_schedule"
branch_labels = None
depends_on = None

ID = sa.String(64)
NAME = sa.String(200)
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "alarms",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("asset_kind", sa.String(16), nullable=False),
        sa.Column("asset_id", ID, nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("site_id", ID, nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("raised_at", WHEN, nullable=False),
        sa.Column("cleared_at", WHEN, nullable=True),
        sa.Column("detail", sa.String(500), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_alarms"),
        sa.ForeignKeyConstraint(["parent_id"], ["alarms.id"], name="fk_alarms_parent_id_alarms"),
    )
    for column in ("type", "asset_id", "state", "site_id", "parent_id", "raised_at"):
        op.create_index(f"ix_alarms_{column}", "alarms", [column])
    op.create_table(
        "alarm_transitions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("alarm_id", sa.Integer(), nullable=False),
        sa.Column("change", sa.String(16), nullable=False),
        sa.Column("at", WHEN, nullable=False),
        sa.Column("by", NAME, nullable=False),
        sa.Column("detail", sa.String(500), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_alarm_transitions"),
        sa.ForeignKeyConstraint(
            ["alarm_id"], ["alarms.id"], name="fk_alarm_transitions_alarm_id_alarms"
        ),
    )
    op.create_index("ix_alarm_transitions_alarm_id", "alarm_transitions", ["alarm_id"])
    op.create_table(
        "alarm_watch",
        sa.Column("key", sa.String(120), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("saved_at", WHEN, nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_alarm_watch"),
    )
    op.create_table(
        "work_orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("alarm_id", sa.Integer(), nullable=False),
        sa.Column("maintainer_id", ID, nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("opened_at", WHEN, nullable=False),
        sa.Column("deadline", WHEN, nullable=False),
        sa.Column("repaired_at", WHEN, nullable=True),
        sa.Column("escalated_at", WHEN, nullable=True),
        sa.Column("closed_at", WHEN, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_work_orders"),
        sa.ForeignKeyConstraint(["alarm_id"], ["alarms.id"], name="fk_work_orders_alarm_id_alarms"),
    )
    for column in ("alarm_id", "maintainer_id", "state", "deadline"):
        op.create_index(f"ix_work_orders_{column}", "work_orders", [column])
    op.create_table(
        "work_order_transitions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("work_order_id", sa.Integer(), nullable=False),
        sa.Column("change", sa.String(16), nullable=False),
        sa.Column("at", WHEN, nullable=False),
        sa.Column("by", NAME, nullable=False),
        sa.Column("note", sa.String(500), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_work_order_transitions"),
        sa.ForeignKeyConstraint(
            ["work_order_id"],
            ["work_orders.id"],
            name="fk_work_order_transitions_work_order_id_work_orders",
        ),
    )
    op.create_index(
        "ix_work_order_transitions_work_order_id", "work_order_transitions", ["work_order_id"]
    )


def downgrade() -> None:
    for table in (
        "work_order_transitions",
        "work_orders",
        "alarm_watch",
        "alarm_transitions",
        "alarms",
    ):
        op.drop_table(table)
