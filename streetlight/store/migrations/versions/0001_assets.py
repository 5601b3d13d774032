"""The asset tree and the log of inventory loads.

Revision ID: 0001_assets
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001_assets"
down_revision = None
branch_labels = None
depends_on = None

ID = sa.String(64)
NAME = sa.String(200)


def upgrade() -> None:
    op.create_table(
        "districts",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", NAME, nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_districts"),
    )
    op.create_table(
        "subdistricts",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", NAME, nullable=False),
        sa.Column("district_id", ID, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_subdistricts"),
        sa.ForeignKeyConstraint(
            ["district_id"], ["districts.id"], name="fk_subdistricts_district_id_districts"
        ),
    )
    op.create_index("ix_subdistricts_district_id", "subdistricts", ["district_id"])
    op.create_table(
        "communities",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", NAME, nullable=False),
        sa.Column("subdistrict_id", ID, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_communities"),
        sa.ForeignKeyConstraint(
            ["subdistrict_id"],
            ["subdistricts.id"],
            name="fk_communities_subdistrict_id_subdistricts",
        ),
    )
    op.create_index("ix_communities_subdistrict_id", "communities", ["subdistrict_id"])
    op.create_table(
        "maintainers",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", NAME, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_maintainers"),
    )
    op.create_table(
        "sites",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", NAME, nullable=False),
        sa.Column("community_id", ID, nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("road_class", sa.String(32), nullable=False),
        sa.Column("maintainer_id", ID, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sites"),
        sa.ForeignKeyConstraint(
            ["community_id"], ["communities.id"], name="fk_sites_community_id_communities"
        ),
        sa.ForeignKeyConstraint(
            ["maintainer_id"], ["maintainers.id"], name="fk_sites_maintainer_id_maintainers"
        ),
    )
    op.create_index("ix_sites_community_id", "sites", ["community_id"])
    op.create_index("ix_sites_maintainer_id", "sites", ["maintainer_id"])
    op.create_table(
        "cabinets",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", NAME, nullable=False),
        sa.Column("site_id", ID, nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("profile", ID, nullable=False),
        sa.Column("nominal_voltage_v", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_cabinets"),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name="fk_cabinets_site_id_sites"),
    )
    op.create_index("ix_cabinets_site_id", "cabinets", ["site_id"])
    op.create_table(
        "circuits",
        sa.Column("id", ID, nullable=False),
        sa.Column("cabinet_id", ID, nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_circuits"),
        sa.ForeignKeyConstraint(
            ["cabinet_id"], ["cabinets.id"], name="fk_circuits_cabinet_id_cabinets"
        ),
        sa.UniqueConstraint("cabinet_id", "number", name="uq_circuits_cabinet_id"),
    )
    op.create_index("ix_circuits_cabinet_id", "circuits", ["cabinet_id"])
    op.create_table(
        "lamps",
        sa.Column("id", ID, nullable=False),
        sa.Column("circuit_id", ID, nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("rated_power_w", sa.Float(), nullable=False),
        sa.Column("phase", sa.String(1), nullable=False),
        sa.Column("profile", ID, nullable=False),
        sa.Column("installed_on", sa.Date(), nullable=True),
        sa.Column("project", NAME, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_lamps"),
        sa.ForeignKeyConstraint(
            ["circuit_id"], ["circuits.id"], name="fk_lamps_circuit_id_circuits"
        ),
    )
    op.create_index("ix_lamps_circuit_id", "lamps", ["circuit_id"])
    op.create_table(
        "inventory_loads",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(500), nullable=False),
        sa.Column("summary", sa.String(500), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_inventory_loads"),
    )


def downgrade() -> None:
    for table in (
        "inventory_loads",
        "lamps",
        "circuits",
        "cabinets",
        "sites",
        "maintainers",
        "communities",
        "subdistricts",
        "districts",
    ):
        op.drop_table(table)
