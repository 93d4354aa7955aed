"""The PostgreSQL privileges of the app's own role (production runs the app as that role).

The schema belongs to the owner role that runs `surveyapp migrate`; the app connects as a
separate role with only the rights printed by `surveyapp db-grants ROLE`: reading and writing
the domain tables, but on the audit trail only SELECT and INSERT (plus UPDATE of the two IP
columns, which the database trigger allows only to be emptied), and on the chain head only
SELECT. No TRUNCATE anywhere. The chain head is moved by the insert trigger, which runs as
the owner (SECURITY DEFINER). Run it again after every migration that adds a table.
"""

from __future__ import annotations

import re

from surveyapp.models import Base

AUDIT_TABLE = "audit_event"
HEAD_TABLE = "audit_chain_head"
_ROLE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def app_role_grants(role: str, schema: str = "public") -> list[str]:
    """The GRANT statements that give `role` what the app needs, and nothing more."""
    if not _ROLE.match(role):
        raise ValueError(f"not a plain PostgreSQL role name: {role!r}")
    domain = sorted(t for t in Base.metadata.tables if t not in {AUDIT_TABLE, HEAD_TABLE})
    return [
        f"REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM {role}",
        f"GRANT USAGE ON SCHEMA {schema} TO {role}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON {', '.join(domain)} TO {role}",
        f"GRANT SELECT, INSERT ON {AUDIT_TABLE} TO {role}",
        f"GRANT UPDATE (ip_address, ip_salt) ON {AUDIT_TABLE} TO {role}",
        f"GRANT SELECT ON {HEAD_TABLE}, alembic_version TO {role}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {role}",
    ]
