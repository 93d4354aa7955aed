"""indexes for one municipality's pages: the due list, the audit search, the foreign keys

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 22:41:59.188623

A municipality's pages cost what its own data costs: the audit search reads one
municipality's events newest first from (municipality_id, occurred_at, id); the due list and
the citizen page reach a course's assignments by (course_id, status, due_date), which
replaces the index on course_id alone. Every foreign key that had no index leading with it
gets one (deleting or changing the referenced row no longer scans the referencing table).
The planner's statistics of the tables are brought up to date afterwards.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: (index name, table, columns)
INDEXES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("ix_audit_event_municipality_time", "audit_event", ("municipality_id", "occurred_at", "id")),
    ("ix_assignment_course_status_due", "assignment", ("course_id", "status", "due_date")),
    ("ix_assignment_timepoint_id", "assignment", ("timepoint_id",)),
    ("ix_analyst_grant_granted_by_id", "analyst_grant", ("granted_by_id",)),
    ("ix_citizen_created_by_id", "citizen", ("created_by_id",)),
    ("ix_citizen_claim_user_id", "citizen_claim", ("user_id",)),
    ("ix_course_created_by_id", "course", ("created_by_id",)),
    ("ix_course_plan_id", "course", ("plan_id",)),
    ("ix_kiosk_session_citizen_id", "kiosk_session", ("citizen_id",)),
    ("ix_kiosk_session_municipality_id", "kiosk_session", ("municipality_id",)),
    ("ix_kiosk_session_staff_session_id", "kiosk_session", ("staff_session_id",)),
    ("ix_link_token_created_by_id", "link_token", ("created_by_id",)),
    ("ix_measurement_course_id", "measurement", ("course_id",)),
    ("ix_measurement_timepoint_id", "measurement", ("timepoint_id",)),
    ("ix_measurement_plan_municipality_id", "measurement_plan", ("municipality_id",)),
    ("ix_offline_item_assignment_id", "offline_item", ("assignment_id",)),
    ("ix_response_entered_by_id", "response", ("entered_by_id",)),
    ("ix_staff_user_provider_id", "staff_user", ("provider_id",)),
    ("ix_staff_user_team_id", "staff_user", ("team_id",)),
)
#: Replaced by ix_assignment_course_status_due, which leads with the same column.
REPLACED = ("ix_assignment_course_id", "assignment", ("course_id",))


def _analyze() -> None:
    for table in sorted({table for _, table, _ in INDEXES}):
        op.execute(f"ANALYZE {table}")


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, list(columns), unique=False)
    op.drop_index(REPLACED[0], table_name=REPLACED[1])
    _analyze()


def downgrade() -> None:
    op.create_index(REPLACED[0], REPLACED[1], list(REPLACED[2]), unique=False)
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
    _analyze()
