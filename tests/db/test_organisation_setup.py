"""A new municipality set up by its operator: `surveyapp organisation` and `create-admin`."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from surveyapp.cli import main
from surveyapp.enums import Role
from surveyapp.models import AuditEvent, Municipality, Provider, StaffUser, Team
from surveyapp.security import verify_secret

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "organisation.example.toml"
PASSWORD = "lang-og-sikker-adgangskode-42"


def run(database_url: str, *args: str, stdin: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(
        main, list(args), env={"SURVEYAPP_DATABASE_URL": database_url}, input=stdin
    )
    return result.exit_code, result.output


def organisation(session: Session) -> list[tuple[str, str, str, list[str]]]:
    return [
        (p.municipality.code, p.name, p.kind.value, sorted(t.name for t in p.teams))
        for p in session.scalars(select(Provider).order_by(Provider.name))
    ]


def test_the_example_file_sets_up_a_municipality_once_and_never_deletes(
    database_url: str, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    code, output = run(database_url, "organisation", str(EXAMPLE))
    assert code == 0, output
    assert "municipality 751 Aarhus Kommune created" in output
    with session_factory() as session:
        aarhus = session.scalars(select(Municipality)).one()
        assert (aarhus.code, aarhus.letter_sender, aarhus.contact_hours) == (
            "751",
            "Sundhed og Omsorg",
            "hverdage kl. 8-15",
        )
        assert organisation(session) == [
            ("751", "Aarhus Kommune, Hjemmeplejen", "municipal", ["Team Nord", "Team Syd"]),
            ("751", "Privat Pleje ApS", "private", ["Team Vest"]),
        ]
        assert session.scalars(select(AuditEvent.action)).all() == ["organisation.update"]
    # Again: nothing to do. A smaller file with a new team deletes nothing.
    assert run(database_url, "organisation", str(EXAMPLE)) == (0, "Aarhus Kommune: up to date\n")
    smaller = tmp_path / "smaller.toml"
    smaller.write_text(
        '[municipality]\ncode = "751"\nname = "Aarhus Kommune"\n'
        '[[provider]]\nname = "Privat Pleje ApS"\nkind = "private"\nunit_name = "Privat Pleje"\n'
        'teams = ["Team Øst"]\n',
        encoding="utf-8",
    )
    code, output = run(database_url, "organisation", str(smaller))
    assert code == 0 and "team Team Øst (Privat Pleje ApS) created" in output
    with session_factory() as session:
        assert len(organisation(session)) == 2
        assert session.scalars(select(Team.name).order_by(Team.name)).all() == [
            "Team Nord",
            "Team Syd",
            "Team Vest",
            "Team Øst",
        ]
        # Contact details left out of the file are cleared: the file is the truth for them.
        assert session.scalars(select(Municipality.letter_sender)).one() is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not toml [", "not a TOML file"),
        ('[municipality]\nname = "X"\n', "`code` must be a text"),
        ('[municipality]\ncode = "7510"\nname = "X"\n', "three-digit kommunekode"),
        (
            '[municipality]\ncode = "751"\nname = "X"\n[[provider]]\nname = "P"\nkind = "x"\n'
            'unit_name = "U"\n',
            "`kind` is municipal or private",
        ),
        ('[municipality]\ncode = "751"\nname = "X"\n[other]\n', "unknown section"),
    ],
)
def test_a_bad_file_is_refused_with_its_reason_and_changes_nothing(
    database_url: str,
    session_factory: sessionmaker[Session],
    tmp_path: Path,
    text: str,
    message: str,
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    code, output = run(database_url, "organisation", str(path))
    assert code != 0 and message in output, output
    with session_factory() as session:
        assert session.scalars(select(Municipality)).all() == []


def test_the_first_admin_is_created_with_the_password_rules_and_audited(
    database_url: str, session_factory: sessionmaker[Session]
) -> None:
    args = ("create-admin", "mette", "--municipality", "751", "--name", "Mette Admin")
    code, output = run(database_url, *args, "--password", PASSWORD)
    assert code != 0 and "set it up first with `surveyapp organisation`" in output
    assert run(database_url, "organisation", str(EXAMPLE))[0] == 0
    code, output = run(database_url, *args, "--password", "kort")
    assert code != 0 and "at least 12 characters" in output
    code, output = run(database_url, *args, stdin=f"{PASSWORD}\n{PASSWORD}\n")
    assert code == 0 and "admin mette created in Aarhus Kommune" in output, output
    code, output = run(database_url, *args, "--password", PASSWORD)
    assert code != 0 and "is taken" in output
    with session_factory() as session:
        user = session.scalars(select(StaffUser)).one()
        assert (user.username, user.role, user.provider_id) == ("mette", Role.ADMIN, None)
        assert verify_secret(user.password_hash, PASSWORD)
        event = session.scalars(select(AuditEvent).where(AuditEvent.action == "user.create")).one()
        assert event.actor_type == "system" and event.actor_user_id is None
