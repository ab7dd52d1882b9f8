"""Role names and member emails found in raw audit records (v1 and v2 shapes).

Cloudflare does not document one shape for membership changes, so this looks for the usual
keys anywhere (bounded depth) in the parts of the record that hold the new or old value:

- audit v1: ``newValueJson`` / ``newValue`` (a JSON string or object) and ``metadata``;
  old value: ``oldValueJson`` / ``oldValue``;
- audit v2: ``resource.request``, ``resource.response``, ``resource.value``.

Role names are taken from ``roles`` (strings or ``{"name"}`` objects), ``role`` /
``role_name`` and ``permission_groups[].name`` (the policies model of memberships).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson

_ROLE_KEYS = frozenset({"roles", "role", "role_name", "role_names", "permission_groups"})
_EMAIL_KEYS = ("member_email", "email", "email_address", "user_email")
_MAX_DEPTH = 6


def _decoded(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return None
    return value


def _names(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        if value:
            yield value
    elif isinstance(value, Mapping):
        name = value.get("name")
        if isinstance(name, str) and name:
            yield name
    elif isinstance(value, list):
        for item in value:
            yield from _names(item)


def role_names(*values: Any) -> set[str]:
    """Every role name found in ``values`` (raw record parts), as written."""
    found: set[str] = set()

    def walk(node: Any, depth: int) -> None:
        node = _decoded(node)
        if depth > _MAX_DEPTH:
            return
        if isinstance(node, Mapping):
            for key, child in node.items():
                if key in _ROLE_KEYS:
                    found.update(_names(_decoded(child)))
                    if key == "permission_groups":
                        continue
                walk(child, depth + 1)
        elif isinstance(node, list):
            for item in node:
                walk(item, depth + 1)

    for value in values:
        walk(value, 0)
    return found


def first_email(*values: Any) -> str | None:
    """The first email-like value under a known key in ``values`` (breadth-first)."""
    queue: list[tuple[Any, int]] = [(_decoded(value), 0) for value in values]
    while queue:
        node, depth = queue.pop(0)
        if isinstance(node, Mapping):
            for key in _EMAIL_KEYS:
                email = node.get(key)
                if isinstance(email, str) and "@" in email:
                    return email
            if depth < _MAX_DEPTH:
                queue.extend((_decoded(child), depth + 1) for child in node.values())
        elif isinstance(node, list) and depth < _MAX_DEPTH:
            queue.extend((_decoded(child), depth + 1) for child in node)
    return None


def new_and_old_parts(raw: Mapping[str, Any]) -> tuple[list[Any], list[Any]]:
    """(parts holding the new value, parts holding the old value) of a raw audit record."""
    resource = raw.get("resource")
    resource = resource if isinstance(resource, Mapping) else {}
    new = [
        raw.get("newValueJson"),
        raw.get("newValue"),
        raw.get("metadata"),
        resource.get("request"),
        resource.get("response"),
        resource.get("value"),
    ]
    old = [raw.get("oldValueJson"), raw.get("oldValue")]
    return [part for part in new if part], [part for part in old if part]
