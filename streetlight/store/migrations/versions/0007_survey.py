"""Renovation projects with their phases and sites (a site in one project); surveyed roads.

Revision ID: 0007_survey
Revises: 0006_api
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_survey"
down_revision = "0006_api"
branch_labels = None
depends_on = None

ID = sa.String(64)
NAME = sa.String(200)
PHASES = ("survey", "implementation", "acceptance", "handover")


def upgrade() -> None:
    op.create_table(
        "roads",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", NAME, nullable=False),
        sa.Column("site_id", ID, nullable=False),
        sa.Column("road_class", sa.String(32), nullable=False),
        sa.Column("line", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_roads"),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name="fk_roads_site_id_sites"),
    )
    op.create_index("ix_roads_site_id", "roads", ["site_id"])
    op.create_table(
        "projects",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", NAME, nullable=False),
        *(
            sa.Column(f"{phase}_{edge}", sa.Date(), nullable=True)
            for phase in PHASES
            for edge in ("start", "end")
        ),
        sa.PrimaryKeyConstraint("id", name="pk_projects"),
    )
    op.create_table(
        "project_sites",
        sa.Column("site_id", ID, nullable=False),
        sa.Column("project_id", ID, nullable=False),
        sa.PrimaryKeyConstraint("site_id", name="pk_project_sites"),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name="fk_project_sites_site_id_sites"),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name="fk_project_sites_project_id_projects"
        ),
    )
    op.create_index("ix_project_sites_project_id", "project_sites", ["project_id"])


def downgrade() -> None:
    op.drop_table("project_sites")
    op.drop_table("projects")
    op.drop_table("roads")
