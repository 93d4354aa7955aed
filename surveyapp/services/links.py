"""Link tokens: a respondent's access to one questionnaire without logging in.

The token (256 random bits) is shown once, printed in the letter or QR code; the database
keeps only its SHA-256. Invalid, revoked and expired links are all the same to the visitor.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from surveyapp.models import Assignment, LinkToken, utcnow
from surveyapp.security import new_token, token_hash

DEFAULT_VALIDITY = timedelta(days=21)


class LinkInvalid(LookupError):
    """The link does not lead to a questionnaire (unknown, revoked or expired)."""


def create_link(
    session: Session,
    assignment: Assignment,
    *,
    created_by_id: int | None = None,
    valid_for: timedelta = DEFAULT_VALIDITY,
    now: datetime | None = None,
) -> str:
    """Make a new link token for the assignment and return it (it is not stored)."""
    now = now or utcnow()
    token = new_token()
    session.add(
        LinkToken(
            assignment=assignment,
            token_hash=token_hash(token),
            expires_at=now + valid_for,
            created_at=now,
            created_by_id=created_by_id,
        )
    )
    session.flush()
    return token


def resolve_link(session: Session, token: str, *, now: datetime | None = None) -> Assignment:
    """The assignment a valid link token grants access to, or LinkInvalid."""
    if not token or len(token) > 100:
        raise LinkInvalid(token)
    link = session.scalars(
        select(LinkToken).where(LinkToken.token_hash == token_hash(token))
    ).one_or_none()
    now = now or utcnow()
    if link is None or link.revoked_at is not None or link.expires_at <= now:
        raise LinkInvalid(token)
    return link.assignment
