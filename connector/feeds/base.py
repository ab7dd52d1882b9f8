"""PullFeed: a Cloudflare feed declared as class attributes plus a few hooks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar

import schemas
from connector import convert
from connector.cursor import format_time, parse_time
from connector.errors import RecordError


class PullFeed:
    """A time-ordered REST feed paged with ``page``/``per_page`` and an inclusive ``since``.

    Subclasses set the class attributes; the runner owns the loop, the cursor and the
    checkpoint (``connector/runner.py``).
    """

    name: ClassVar[str]  # Logpush dataset id, e.g. "audit_logs"
    topic: ClassVar[str]  # "cloudflare.<name>.v1"
    schema: ClassVar[str]  # schemas/<schema>.avsc
    scope: ClassVar[str] = "account"
    path: ClassVar[str]  # with {account_id}
    time_field: ClassVar[str]  # RFC3339 event time
    key_field: ClassVar[str]  # dedup key = Kafka key
    json_fields: ClassVar[frozenset[str]] = frozenset()
    before_param: ClassVar[str] = "before"  # the exclusive upper bound's query parameter
    permission: ClassVar[str]  # the token permission the feed needs, for error messages

    def partition(self, scope_id: str) -> dict[str, str]:
        """The checkpoint's source partition (Kafka Connect style, flat primitives)."""
        return {"feed": self.name, self.scope: scope_id}

    def url(self, scope_id: str) -> str:
        """The request path for ``scope_id``."""
        return self.path.format(account_id=scope_id)

    def first_page(self, since: datetime, before: datetime, per_page: int) -> dict[str, Any]:
        """Query parameters of the first page of ``[since, before)``, oldest first."""
        return {
            "since": format_time(since),
            self.before_param: format_time(before),
            "direction": "asc",
            "page": 1,
            "per_page": per_page,
        }

    def next_page(
        self,
        params: Mapping[str, Any],
        body: Mapping[str, Any],
        results: Sequence[Mapping[str, Any]],
        position: datetime,
    ) -> dict[str, Any] | None:
        """Parameters of the next page, or None at the end.

        Keyset paging: after progress, restart at page 1 from the new ``position`` (pages
        cannot shift under us); with no progress (a run of ties longer than a page) move to
        the next page of the same ``since``.
        """
        if len(results) < int(params["per_page"]):
            return None
        if format_time(position) != params["since"]:
            return {**params, "since": format_time(position), "page": 1}
        return {**params, "page": int(params["page"]) + 1}

    def key(self, raw: Mapping[str, Any]) -> str:
        """The dedup key; raise ``RecordError`` if the record has none."""
        value = raw.get(self.key_field)
        if not isinstance(value, str) or not value:
            msg = f"record has no {self.key_field!r} (the dedup key)"
            raise RecordError(msg)
        return value

    def time(self, raw: Mapping[str, Any]) -> datetime:
        """The event time; raise ``RecordError`` if missing or malformed."""
        value = raw.get(self.time_field)
        try:
            return parse_time(str(value))
        except ValueError as exc:
            msg = f"record has no valid {self.time_field!r}: {value!r}"
            raise RecordError(msg) from exc

    def to_value(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        """Convert a source record to the topic's Avro value (unknown fields kept)."""
        return convert.to_record(schemas.raw(self.schema), raw, self.json_fields)
