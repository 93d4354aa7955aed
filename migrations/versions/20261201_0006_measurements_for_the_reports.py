"""measurements for the reports: one row per submitted response with its reported scores

`measurement` holds each submitted response's reported scores in one row (v0 ... v11, which
score is where in `measurement_column`), keyed in the order the progression and start-meeting
reports group by. It is derived data: `surveyapp migrate` fills it from `score` after this
migration (and whenever the reported scores of an instrument change), since which scores are
reported is read from the instrument definitions, not known here.

`uq_assignment_timepoint` makes one assignment per (course, timepoint, instrument, respondent)
a rule of the schema, which the coverage report relies on.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 14:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

VALUES = 12


def upgrade() -> None:
    op.create_table(
        "measurement_column",
        sa.Column("instrument_id", sa.String(length=40), nullable=False),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.PrimaryKeyConstraint("instrument_id", "position", name=op.f("pk_measurement_column")),
        sa.UniqueConstraint(
            "instrument_id", "name", name=op.f("uq_measurement_column_instrument_id_name")
        ),
    )
    op.create_table(
        "measurement",
        sa.Column("instrument_id", sa.String(length=40), nullable=False),
        sa.Column("course_id", sa.Integer(), nullable=False),
        sa.Column(
            "respondent",
            sa.Enum(
                "citizen",
                "relative",
                "staff",
                name="respondent",
                native_enum=False,
                create_constraint=True,
                length=12,
            ),
            nullable=False,
        ),
        sa.Column("response_id", sa.Integer(), nullable=False),
        sa.Column("timepoint_id", sa.Integer(), nullable=True),
        *(sa.Column(f"v{n}", sa.Float(), nullable=True) for n in range(VALUES)),
        sa.ForeignKeyConstraint(
            ["course_id"], ["course.id"], name=op.f("fk_measurement_course_id_course")
        ),
        sa.ForeignKeyConstraint(
            ["response_id"],
            ["response.id"],
            name=op.f("fk_measurement_response_id_response"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["timepoint_id"],
            ["plan_timepoint.id"],
            name=op.f("fk_measurement_timepoint_id_plan_timepoint"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint(
            "instrument_id", "course_id", "respondent", "response_id", name=op.f("pk_measurement")
        ),
        sa.UniqueConstraint("response_id", name=op.f("uq_measurement_response_id")),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("assignment", schema=None) as batch_op:
        batch_op.create_index(
            "uq_assignment_timepoint",
            ["course_id", "timepoint_id", "instrument_id", "respondent"],
            unique=True,
        )


def downgrade() -> None:
    with op.batch_alter_table("assignment", schema=None) as batch_op:
        batch_op.drop_index("uq_assignment_timepoint")
    op.drop_table("measurement")
    op.drop_table("measurement_column")
