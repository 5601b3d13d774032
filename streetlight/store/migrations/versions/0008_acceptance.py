"""Handover acceptance runs: the criteria, the gathered inputs and the result of each run.

Revision ID: 0008_acceptance
Revises: 0007_survey
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_acceptance"
down_revision = "0007_survey"
branch_labels = None
depends_on = None

NAME = sa.String(200)
MOMENT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "acceptance_runs",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("site_id", sa.String(64), nullable=False),
        sa.Column("first_night", sa.Date(), nullable=False),
        sa.Column("last_night", sa.Date(), nullable=False),
        sa.Column("verdict", sa.String(8), nullable=False),
        sa.Column("criteria", sa.Text(), nullable=False),
        sa.Column("inputs", sa.Text(), nullable=False),
        sa.Column("inputs_sha256", sa.String(64), nullable=False),
        sa.Column("result", sa.Text(), nullable=False),
        sa.Column("run_by", NAME, nullable=False),
        sa.Column("run_at", MOMENT, nullable=False),
        sa.Column("accepted_by", NAME, nullable=True),
        sa.Column("accepted_at", MOMENT, nullable=True),
        sa.Column("handover_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_acceptance_runs"),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name="fk_acceptance_runs_site_id_sites"),
        sa.ForeignKeyConstraint(
            ["handover_id"], ["handovers.id"], name="fk_acceptance_runs_handover_id_handovers"
        ),
    )
    op.create_index("ix_acceptance_runs_site_id", "acceptance_runs", ["site_id"])
    op.create_index("ix_acceptance_runs_run_at", "acceptance_runs", ["run_at"])


def downgrade() -> None:
    op.drop_table("acceptance_runs")
