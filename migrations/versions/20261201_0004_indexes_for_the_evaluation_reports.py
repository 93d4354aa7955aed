"""indexes for the evaluation reports

The reports read one row per (instrument, course, respondent) from assignment, then the
response's scores or answers. These covering indexes hold every column those reads need, in
the order the reports group by, so that SQLite streams the aggregation without a sort and
without table lookups (and PostgreSQL can use index-only scans).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 12:27:54.824126
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('answer', schema=None) as batch_op:
        batch_op.create_index(
            'ix_answer_report', ['response_id', 'item_id', 'state', 'value'], unique=False
        )
    with op.batch_alter_table('assignment', schema=None) as batch_op:
        batch_op.create_index(
            'ix_assignment_report',
            [
                'instrument_id',
                'course_id',
                'respondent',
                'timepoint_id',
                'status',
                'dropout_reason',
            ],
            unique=False,
        )
    with op.batch_alter_table('score', schema=None) as batch_op:
        batch_op.create_index('ix_score_report', ['response_id', 'name', 'value'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('score', schema=None) as batch_op:
        batch_op.drop_index('ix_score_report')
    with op.batch_alter_table('assignment', schema=None) as batch_op:
        batch_op.drop_index('ix_assignment_report')
    with op.batch_alter_table('answer', schema=None) as batch_op:
        batch_op.drop_index('ix_answer_report')
