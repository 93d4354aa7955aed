"""tamper-evident audit trail (hash chain, chain head, server time) and retention marks

Existing events are chained in the order they occurred (then by id). The triggers of 0001
are replaced: UPDATE and DELETE stay refused except removing an old event's IP address and
salt; an insert must continue the chain head, at the server's time, and moves the head on.
On PostgreSQL the insert trigger runs as the schema owner (SECURITY DEFINER), so that the
app's role needs no right to change the head (see docs/security.md for the GRANTs).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 14:30:00
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

import surveyapp.models.base
from surveyapp import auditchain

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


PG_GUARD = """
CREATE FUNCTION audit_event_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE'
     AND NEW.ip_address IS NULL AND NEW.ip_salt IS NULL
     AND NEW.id = OLD.id AND NEW.seq = OLD.seq AND NEW.occurred_at = OLD.occurred_at
     AND NEW.actor_type = OLD.actor_type
     AND NEW.actor_user_id IS NOT DISTINCT FROM OLD.actor_user_id
     AND NEW.action = OLD.action
     AND NEW.object_type IS NOT DISTINCT FROM OLD.object_type
     AND NEW.object_id IS NOT DISTINCT FROM OLD.object_id
     AND NEW.municipality_id IS NOT DISTINCT FROM OLD.municipality_id
     AND NEW.ip_digest IS NOT DISTINCT FROM OLD.ip_digest
     AND NEW.details::text IS NOT DISTINCT FROM OLD.details::text
     AND NEW.prev_hash = OLD.prev_hash AND NEW.hash = OLD.hash THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'audit_event is append-only';
END $$
"""
PG_CHAIN = """
CREATE FUNCTION audit_event_chain() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  head record;
BEGIN
  SELECT seq, hash, occurred_at INTO head FROM audit_chain_head WHERE id = 1 FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'audit chain head is missing';
  END IF;
  IF NEW.seq IS DISTINCT FROM head.seq + 1 OR NEW.prev_hash IS DISTINCT FROM head.hash THEN
    RAISE EXCEPTION 'audit event does not continue the chain';
  END IF;
  IF NEW.occurred_at < head.occurred_at
     OR NEW.occurred_at < clock_timestamp() - interval '5 minutes'
     OR NEW.occurred_at > clock_timestamp() + interval '1 minute' THEN
    RAISE EXCEPTION 'audit event time is not the server''s time';
  END IF;
  UPDATE audit_chain_head SET seq = NEW.seq, hash = NEW.hash, occurred_at = NEW.occurred_at
    WHERE id = 1;
  RETURN NEW;
END $$
"""
SQLITE_TRIGGERS = (
    """
CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_event
WHEN NOT (NEW.ip_address IS NULL AND NEW.ip_salt IS NULL
  AND NEW.id IS OLD.id AND NEW.seq IS OLD.seq AND NEW.occurred_at IS OLD.occurred_at
  AND NEW.actor_type IS OLD.actor_type AND NEW.actor_user_id IS OLD.actor_user_id
  AND NEW.action IS OLD.action AND NEW.object_type IS OLD.object_type
  AND NEW.object_id IS OLD.object_id AND NEW.municipality_id IS OLD.municipality_id
  AND NEW.ip_digest IS OLD.ip_digest AND NEW.details IS OLD.details
  AND NEW.prev_hash IS OLD.prev_hash AND NEW.hash IS OLD.hash)
BEGIN SELECT RAISE(ABORT, 'audit_event is append-only'); END
""",
    """
CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event
BEGIN SELECT RAISE(ABORT, 'audit_event is append-only'); END
""",
    """
CREATE TRIGGER audit_event_chain BEFORE INSERT ON audit_event
BEGIN
  SELECT RAISE(ABORT, 'audit event does not continue the chain')
  WHERE NEW.seq IS NOT (SELECT seq + 1 FROM audit_chain_head WHERE id = 1)
     OR NEW.prev_hash IS NOT (SELECT hash FROM audit_chain_head WHERE id = 1);
  SELECT RAISE(ABORT, 'audit event time is not the server''s time')
  WHERE julianday(NEW.occurred_at)
          < julianday((SELECT occurred_at FROM audit_chain_head WHERE id = 1))
     OR julianday(NEW.occurred_at) < julianday('now') - 300.0 / 86400
     OR julianday(NEW.occurred_at) > julianday('now') + 60.0 / 86400;
END
""",
    """
CREATE TRIGGER audit_event_advance AFTER INSERT ON audit_event
BEGIN
  UPDATE audit_chain_head SET seq = NEW.seq, hash = NEW.hash, occurred_at = NEW.occurred_at
  WHERE id = 1;
END
""",
)


def upgrade() -> None:
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    if postgres:
        op.execute("DROP TRIGGER audit_event_no_change ON audit_event")
    else:
        op.execute("DROP TRIGGER audit_event_no_update")
        op.execute("DROP TRIGGER audit_event_no_delete")

    op.create_table('audit_chain_head',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.Column('occurred_at', surveyapp.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_chain_head'))
    )
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('seq', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('ip_salt', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('ip_digest', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('prev_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('hash', sa.String(length=64), nullable=True))
    with op.batch_alter_table('citizen', schema=None) as batch_op:
        batch_op.add_column(sa.Column('anonymised_at', surveyapp.models.base.UTCDateTime(timezone=True), nullable=True))

    head_seq, head_hash, head_time = _chain_existing_events(bind)
    op.execute(
        sa.text(
            "INSERT INTO audit_chain_head (id, seq, hash, occurred_at) VALUES (1, :s, :h, :t)"
        ).bindparams(
            sa.bindparam("t", type_=surveyapp.models.base.UTCDateTime()),
            s=head_seq,
            h=head_hash,
            t=head_time,
        )
    )

    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.alter_column('seq', existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column('prev_hash', existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column('hash', existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint(batch_op.f('uq_audit_event_seq'), ['seq'])

    if postgres:
        op.execute(PG_GUARD)
        op.execute(
            "CREATE TRIGGER audit_event_no_change BEFORE UPDATE OR DELETE ON audit_event "
            "FOR EACH ROW EXECUTE FUNCTION audit_event_guard()"
        )
        op.execute(PG_CHAIN)
        op.execute(
            "CREATE TRIGGER audit_event_chain BEFORE INSERT ON audit_event "
            "FOR EACH ROW EXECUTE FUNCTION audit_event_chain()"
        )
    else:
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)


def _chain_existing_events(bind: Any) -> tuple[int, str, Any]:
    """Number, link and hash the events written before the chain existed."""
    table = sa.table(
        'audit_event',
        sa.column('id', sa.Integer()),
        sa.column('seq', sa.Integer()),
        sa.column('occurred_at', surveyapp.models.base.UTCDateTime()),
        sa.column('actor_type', sa.String()),
        sa.column('actor_user_id', sa.Integer()),
        sa.column('action', sa.String()),
        sa.column('object_type', sa.String()),
        sa.column('object_id', sa.String()),
        sa.column('municipality_id', sa.Integer()),
        sa.column('ip_address', sa.String()),
        sa.column('ip_salt', sa.String()),
        sa.column('ip_digest', sa.String()),
        sa.column('details', sa.JSON()),
        sa.column('prev_hash', sa.String()),
        sa.column('hash', sa.String()),
    )
    rows = bind.execute(
        sa.select(table).order_by(table.c.occurred_at, table.c.id)
    ).mappings().all()
    seq, prev, last_time = 0, auditchain.GENESIS_HASH, None
    for row in rows:
        seq += 1
        salt = auditchain.new_ip_salt() if row['ip_address'] is not None else None
        fields = dict(row)
        fields.update(
            seq=seq,
            prev_hash=prev,
            ip_salt=salt,
            ip_digest=auditchain.ip_digest(row['ip_address'], salt),
        )
        fields['hash'] = auditchain.event_hash(fields)
        bind.execute(
            table.update()
            .where(table.c.id == row['id'])
            .values(
                seq=seq,
                prev_hash=prev,
                ip_salt=salt,
                ip_digest=fields['ip_digest'],
                hash=fields['hash'],
            )
        )
        prev, last_time = fields['hash'], row['occurred_at']
    return seq, prev, last_time


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_event_chain ON audit_event")
        op.execute("DROP FUNCTION audit_event_chain()")
        op.execute("DROP TRIGGER audit_event_no_change ON audit_event")
        op.execute("DROP FUNCTION audit_event_guard()")
    else:
        for name in ("chain", "advance", "no_update", "no_delete"):
            op.execute(f"DROP TRIGGER audit_event_{name}")

    with op.batch_alter_table('citizen', schema=None) as batch_op:
        batch_op.drop_column('anonymised_at')
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_audit_event_seq'), type_='unique')
        batch_op.drop_column('hash')
        batch_op.drop_column('prev_hash')
        batch_op.drop_column('ip_digest')
        batch_op.drop_column('ip_salt')
        batch_op.drop_column('seq')
    op.drop_table('audit_chain_head')

    if bind.dialect.name == "postgresql":
        op.execute(
            "CREATE TRIGGER audit_event_no_change BEFORE UPDATE OR DELETE ON audit_event "
            "FOR EACH ROW EXECUTE FUNCTION audit_event_append_only()"
        )
    else:
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_event_no_{event.lower()} BEFORE {event} ON audit_event "
                "BEGIN SELECT RAISE(ABORT, 'audit_event is append-only'); END"
            )
