"""Every audit action code and its readable name (English source text; pure Python).

`surveyapp.services.audit.record` refuses a code missing here, and a test reads every
`audit.record(...)` call in the source, so a new code without a name fails the suite. The
names are translated when shown: `_l` below only marks them for `pybabel extract` (which is
run with `-k _l`) and returns the English text unchanged; the views pass it to gettext.
"""

from __future__ import annotations


def _l(text: str) -> str:
    """Mark a name for extraction; it is translated when it is shown."""
    return text


ACTION_NAMES: dict[str, str] = {
    # logins and staff users
    "login": _l("Logged in"),
    "login.failed": _l("Failed login"),
    "login.locked": _l("Account locked after failed logins"),
    "login.refused_locked": _l("Login refused: account locked"),
    "login.refused_inactive": _l("Login refused: account deactivated"),
    "logout": _l("Logged out"),
    "user.create": _l("Staff user created"),
    "organisation.update": _l("Organisation set up or changed by the operator"),
    "user.password_reset": _l("Password reset"),
    "user.activate": _l("Staff user reactivated"),
    "user.deactivate": _l("Staff user deactivated"),
    "user.unlock": _l("Login lock lifted"),
    "user.update": _l("Staff user changed (name, role or team)"),
    "user.kiosk_pin_reset": _l("Kiosk PIN reset by an administrator"),
    "session.end": _l("Staff session ended by an administrator"),
    "session.end_all": _l("All sessions of a staff user ended by an administrator"),
    # two-factor, throttles and own passwords (sec-auth)
    "login.throttled": _l("Login refused: too many failed attempts"),
    "login.code_failed": _l("Wrong two-factor code"),
    "login.code_throttled": _l("Two-factor step refused: too many wrong codes"),
    "2fa.enrol_start": _l("Two-factor set-up started"),
    "2fa.enrol_failed": _l("Two-factor set-up: wrong code"),
    "2fa.enrol": _l("Two-factor authentication set up"),
    "2fa.recovery_code_used": _l("Recovery code used"),
    "user.2fa_reset": _l("Second factor reset"),
    "user.password_change": _l("Own password changed"),
    "user.password_change_failed": _l("Password change refused"),
    "municipality.coordinator_2fa": _l("Two-factor for coordinators switched"),
    "citizen.lookup_throttled": _l("CPR look-up refused: too many look-ups"),
    "citizen.claim": _l("Citizen registered again by another provider"),
    # citizens and courses
    "citizen.lookup": _l("Citizen looked up by CPR number"),
    "citizen.create": _l("Citizen registered"),
    "citizen.list": _l("List of citizens viewed"),
    "citizen.view": _l("Citizen page viewed"),
    "citizen.chart": _l("Citizen's scores viewed"),
    "citizen.access_request": _l("Data subject access request answered"),
    "citizen.erase": _l("Citizen erased"),
    "course.create": _l("Course registered"),
    "course.update": _l("Course changed"),
    "due_list.view": _l("Due list viewed"),
    "assignment.view": _l("Measurement opened"),
    "assignment.dropout": _l("Drop-out recorded"),
    "assignment.dropout_undo": _l("Drop-out undone"),
    "assignment.sweep": _l("Statuses updated"),
    "response.paper_entry": _l("Paper answers entered"),
    "response.staff_entry": _l("Course outcome recorded"),
    "responses.import": _l("Responses imported"),
    "responses.import_preview": _l("Import file checked"),
    # kiosk
    "kiosk.start": _l("Kiosk visit started"),
    "kiosk.hand_back": _l("Tablet handed back"),
    "kiosk.unlock": _l("Kiosk ended with PIN"),
    "kiosk.pin_failed": _l("Wrong kiosk PIN"),
    "kiosk.lockout": _l("Kiosk ended after wrong PINs"),
    "kiosk.pin_set": _l("Kiosk PIN set"),
    "kiosk.offline_received": _l("Questionnaire sent from the tablet's offline queue"),
    "kiosk.offline_refused": _l("Item from the tablet's offline queue refused"),
    "kiosk.offline_conflict": _l(
        "Item from the tablet's offline queue conflicts with an earlier one"
    ),
    "kiosk.offline_lost": _l("Items from the tablet's offline queue never arrived"),
    # relatives' links and letters
    "link.issue": _l("Link issued for a letter"),
    "link.open": _l("Link opened"),
    "link.revoke": _l("Link revoked"),
    "letters.batch": _l("Letters printed"),
    "municipality.letter_settings": _l("Letter settings changed"),
    # reports, exports and grants
    "report.view": _l("Report viewed"),
    "export.download": _l("Data exported"),
    "analyst_grant.create": _l("Analyst access granted"),
    "analyst_grant.revoke": _l("Analyst access withdrawn"),
    # measurement plans
    "plan.copy": _l("Measurement plan copied"),
    "plan.timepoint_save": _l("Timepoint saved"),
    "plan.timepoint_delete": _l("Timepoint removed"),
    # the audit trail and data protection
    "audit.search": _l("Audit trail searched"),
    "audit.export": _l("Audit trail exported"),
    "retention.run": _l("Retention: old courses anonymised"),
    "retention.audit_ips": _l("Retention: old IP addresses removed"),
    "demo.load": _l("Demo data loaded"),
    "bench.national_data": _l("Benchmark data generated"),
}

ACTIONS = frozenset(ACTION_NAMES)


def action_name(code: str) -> str:
    """The English name of a code (the code itself if it is unknown, e.g. an old one)."""
    return ACTION_NAMES.get(code, code)
