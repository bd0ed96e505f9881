"""Safety mode: Clio's trust-and-safety runs (§4), with the aggregation thresholds and the privacy auditor off.

Its results can be linked back to accounts, so it is refused unless it is switched on twice: the setting
`safety_mode` (CLIO_SAFETY_MODE or `safety_mode = true` in clio.toml) and the environment variable
CLIO_SAFETY_OPERATOR naming the authorised person running it (never read from a config file, so a shared
config cannot turn it on for everyone). Every run, and every refused attempt, is recorded with who and when.
"""

from __future__ import annotations

import getpass
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone

SAFETY_OPERATOR_ENV = "CLIO_SAFETY_OPERATOR"


class SafetyModeRefused(PermissionError):
    """Safety mode was asked for without both switches; the message says what is missing."""


@dataclass(frozen=True)
class SafetyRun:
    """Who asked for a safety-mode step, from where and when (the audit record)."""

    operator: str
    os_user: str
    host: str
    at: datetime
    authorised: bool
    reason: str


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no USER variable (some containers)
        return f"uid:{os.getuid()}"


def check_safety_mode(enabled: bool, environ: Mapping[str, str] | None = None) -> SafetyRun:
    """The audit record of this attempt; `authorised` is True only with the setting on and an operator named."""
    environ = os.environ if environ is None else environ
    operator = environ.get(SAFETY_OPERATOR_ENV, "").strip()
    if not enabled:
        reason = ("safety mode is off: set CLIO_SAFETY_MODE=1 (or safety_mode = true in clio.toml) and "
                  f"{SAFETY_OPERATOR_ENV}=<your name> in the run's environment")
    elif not operator:
        reason = (f"safety mode is on but {SAFETY_OPERATOR_ENV} is not set: name the authorised person running it "
                  "in the run's environment")
    else:
        reason = "authorised"
    return SafetyRun(operator=operator, os_user=_os_user(), host=socket.gethostname(),
                     at=datetime.now(timezone.utc), authorised=reason == "authorised", reason=reason)


def refusal(run: SafetyRun) -> SafetyModeRefused:
    return SafetyModeRefused(
        f"Refused: {run.reason}. Safety mode turns the privacy thresholds and the auditor off and links results "
        "to accounts; it is for authorised trust-and-safety review only (Clio §4) and writes to the private DB only."
    )
