"""offline kiosk items

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 19:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import surveyapp.models.base

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "offline_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=36), nullable=False),
        sa.Column("visit_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("assignment_id", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("received_at", surveyapp.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["assignment_id"],
            ["assignment.id"],
            name=op.f("fk_offline_item_assignment_id_assignment"),
        ),
        sa.ForeignKeyConstraint(
            ["visit_id"], ["kiosk_session.id"], name=op.f("fk_offline_item_visit_id_kiosk_session")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_offline_item")),
        sa.UniqueConstraint("key", name=op.f("uq_offline_item_key")),
    )
    with op.batch_alter_table("offline_item", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_offline_item_visit_id"), ["visit_id"], unique=False)

    with op.batch_alter_table("kiosk_session", schema=None) as batch_op:
        batch_op.add_column(sa.Column("offline_created", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("offline_pending", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "offline_reported_at",
                surveyapp.models.base.UTCDateTime(timezone=True),
                nullable=True,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("kiosk_session", schema=None) as batch_op:
        batch_op.drop_column("offline_reported_at")
        batch_op.drop_column("offline_pending")
        batch_op.drop_column("offline_created")

    with op.batch_alter_table("offline_item", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_offline_item_visit_id"))

    op.drop_table("offline_item")
