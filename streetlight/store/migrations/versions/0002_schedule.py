"""The controller's schedule: programs, calendars, assignments, special days, named groups,
overrides.

Revision ID: 0002_schedule
Revises: 0001_assets
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_schedule"
down_revision = "0001_assets"
branch_labels = None
depends_on = None

ID = sa.String(64)
NAME = sa.String(200)
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "programs",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", NAME, nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("saved_at", WHEN, nullable=False),
        sa.Column("saved_by", NAME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_programs"),
    )
    op.create_table(
        "calendars",
        sa.Column("id", ID, nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("saved_at", WHEN, nullable=False),
        sa.Column("saved_by", NAME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_calendars"),
    )
    op.create_table(
        "calendar_assignments",
        sa.Column("group_ref", sa.String(80), nullable=False),
        sa.Column("calendar_id", ID, nullable=False),
        sa.PrimaryKeyConstraint("group_ref", name="pk_calendar_assignments"),
        sa.ForeignKeyConstraint(
            ["calendar_id"], ["calendars.id"], name="fk_calendar_assignments_calendar_id_calendars"
        ),
    )
    op.create_index("ix_calendar_assignments_calendar_id", "calendar_assignments", ["calendar_id"])
    op.create_table(
        "special_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("name", ID, nullable=False),
        sa.PrimaryKeyConstraint("day", "name", name="pk_special_days"),
    )
    op.create_table(
        "named_group_members",
        sa.Column("group_id", ID, nullable=False),
        sa.Column("lamp_id", ID, nullable=False),
        sa.PrimaryKeyConstraint("group_id", "lamp_id", name="pk_named_group_members"),
        sa.ForeignKeyConstraint(
            ["lamp_id"], ["lamps.id"], name="fk_named_group_members_lamp_id_lamps"
        ),
    )
    op.create_table(
        "overrides",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("group_id", ID, nullable=False),
        sa.Column("level", sa.Integer(), nullable=True),
        sa.Column("starts", WHEN, nullable=False),
        sa.Column("ends", WHEN, nullable=True),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("set_by", NAME, nullable=False),
        sa.Column("set_at", WHEN, nullable=False),
        sa.Column("cancelled_at", WHEN, nullable=True),
        sa.Column("cancelled_by", NAME, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_overrides"),
    )


def downgrade() -> None:
    for table in (
        "overrides",
        "named_group_members",
        "special_days",
        "calendar_assignments",
        "calendars",
        "programs",
    ):
        op.drop_table(table)
