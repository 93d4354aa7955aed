"""Fault points for the fault tests only: the process kills itself at a named point.

`SURVEYAPP_FAULT_POINT` names one point of the last answer's submission
(surveyapp.web.respond.take_answer), read once when the app is made (`create_app`):

- ``before_insert``: the transaction is open, nothing of the last answer is written yet;
- ``before_commit``: the answer, the scores and the status are written (flushed), not
  committed;
- ``after_commit``: committed, the reply not yet sent.

When a request reaches the named point the process says so on stderr and sends itself
SIGKILL: no clean-up, no rollback, no reply, as when the machine or the OOM killer stops it.
Production refuses to start with a fault point set (`ConfigError`). Unset or empty: nothing
happens (one comparison per submission). Not a setting of `surveyapp.config`: no deployment
sets it, so it is not in the environment file either.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Mapping

from surveyapp.config import ConfigError

VARIABLE = "SURVEYAPP_FAULT_POINT"
POINTS = ("before_insert", "before_commit", "after_commit")


def configured(environ: Mapping[str, str], *, production: bool) -> str | None:
    """The fault point the environment names (None for none); refused in production."""
    point = environ.get(VARIABLE, "").strip()
    if not point:
        return None
    if point not in POINTS:
        raise ConfigError(
            f"{VARIABLE} must be before_insert, before_commit or after_commit, not {point!r}"
        )
    if production:
        raise ConfigError(f"refusing to start in production: {VARIABLE} is set (tests only)")
    return point


def reach(configured_point: str | None, point: str) -> None:
    """Kill this process now if `point` is the configured fault point."""
    if configured_point is None or configured_point != point:
        return
    sys.stderr.write(f"fault point {point} reached: killing process {os.getpid()}\n")
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)
