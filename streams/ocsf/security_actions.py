"""Cloudflare security actions (``SecurityAction``, firewall ``Action``) -> OCSF outcomes.

One table for HTTP requests and firewall events. Keys are Cloudflare's action names lower
cased without underscores, so Logpush's ``managedChallenge`` and GraphQL's
``managed_challenge`` are the same row. Unknown actions are 99 Other with Cloudflare's name.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from .classes import ACTION, DISPOSITION
from .transforms import text

_SOLVED = ("challengesolved", "jschallengesolved", "managedchallengeinteractivesolved",
           "managedchallengenoninteractivesolved", "challengebypassed", "jschallengebypassed",
           "managedchallengeskipped", "managedchallengebypassed")

#: action -> (action_id, disposition_id)
SECURITY_ACTIONS: Mapping[str, tuple[int, int]] = MappingProxyType({
    "allow": (1, 1), "bypass": (1, 1), "skip": (1, 1), "log": (1, 17),
    "block": (2, 2), "challengefailed": (2, 2), "jschallengefailed": (2, 2),
    "connectionclose": (2, 6), "forceconnectionclose": (2, 6),
    "challenge": (2, 23), "jschallenge": (2, 23), "managedchallenge": (2, 23),
    **dict.fromkeys(_SOLVED, (1, 1)),
    "unknown": (0, 0),
})
#: disposition_id -> finding severity_id: blocked 3 Medium, challenged or only logged 2 Low
FINDING_SEVERITY: Mapping[int, int] = MappingProxyType({2: 3, 6: 3, 23: 2, 17: 2})


_ROWS: dict[str, tuple[int, int]] = {}  # memo of _row by action (bounded)


def _row(action: Any) -> tuple[int, int] | None:
    if type(action) is str:
        row = _ROWS.get(action)
        if row is None:
            row = SECURITY_ACTIONS.get(action.lower().replace("_", ""), (99, 99))
            if len(_ROWS) < 1024:
                _ROWS[action] = row
        return row
    found = text(action)
    if found is None:
        return None
    return SECURITY_ACTIONS.get(found.lower().replace("_", ""), (99, 99))


def action_id(action: Any) -> int | None:
    """OCSF ``action_id``: 1 Allowed, 2 Denied (blocked or challenged), 99 Other."""
    row = _row(action)
    return None if row is None else row[0]


def action_name(action: Any) -> str | None:
    """OCSF ``action``: the caption, or Cloudflare's action for 99 Other."""
    row = _row(action)
    if row is None:
        return None
    return text(action) if row[0] == 99 else ACTION[row[0]]


def disposition_id(action: Any) -> int | None:
    """OCSF ``disposition_id``: Allowed, Blocked, Dropped, Logged, Challenge, ..."""
    row = _row(action)
    return None if row is None else row[1]


def disposition_name(action: Any) -> str | None:
    """OCSF ``disposition``: the caption, or Cloudflare's action for 99 Other."""
    row = _row(action)
    if row is None:
        return None
    return text(action) if row[1] == 99 else DISPOSITION[row[1]]


def denied_severity_id(action: Any) -> int:
    """2 Low when the request was denied (blocked or challenged), else 1 Informational."""
    return 2 if action_id(action) == 2 else 1


def finding_severity_id(action: Any) -> int:
    """3 Medium blocked, 2 Low challenged or logged, 1 Informational allowed."""
    row = _row(action)
    return 1 if row is None else FINDING_SEVERITY.get(row[1], 1)
