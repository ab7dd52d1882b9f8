"""Account and zone names: from configuration, learned from records, added to events.

Cloudflare identifies accounts and zones by 32-hex ids; people read names. A
:class:`NameBook` holds ``id -> name`` for both, seeded from configuration (the YAML's
``accounts[].name``) and learned from records that carry both (audit v2 has ``account``
and ``zone`` objects; audit v1 has ``metadata.zone_name`` next to a zone id). The books are
plain mutable mappings, so a Faust table can back them later.

On each event it fills ``cloud.account.name``, the ``name`` of ``resources[]`` entries of
type ``account``/``zone``, and adds one ``zone`` enrichment (``data`` = ``{"id", "name"}``)
when the event concerns a zone (``http_requests`` has ``ZoneName``; audit logs have zone ids).
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from functools import lru_cache
from typing import Any

from .record import RawView, Record, dumps, get_str, log_name, unmapped_value, upsert_enrichment

PROVIDER = "cfkafka"
ZONE_ENRICHMENT = "cloudflare_zone"

# Resource types (verbatim from Cloudflare) that name an account or a zone.
_ACCOUNT_TYPES = frozenset({"account", "accounts"})
_ZONE_TYPES = frozenset({"zone", "zones"})
#: Bound on learned names, so a flood of ids cannot grow the books without limit.
MAX_LEARNED = 100_000


class NameBook:
    """``account id -> name`` and ``zone id -> name`` lookups that learn from records."""

    def __init__(
        self,
        accounts: MutableMapping[str, str] | None = None,
        zones: MutableMapping[str, str] | None = None,
        *,
        learn: bool = True,
        max_learned: int = MAX_LEARNED,
    ) -> None:
        """Use ``accounts``/``zones`` (configured names; kept, not copied) and learn more."""
        self.accounts: MutableMapping[str, str] = {} if accounts is None else accounts
        self.zones: MutableMapping[str, str] = {} if zones is None else zones
        self.learn = learn
        self.max_learned = max_learned

    @staticmethod
    def zone_data(zone_id: str | None, zone_name: str | None) -> str:
        """The ``zone`` enrichment's ``data`` (pure, cached; the native path calls it too)."""
        return _zone_data(zone_id, zone_name)

    def account_name(self, account_id: str | None) -> str | None:
        """The account's name, or None when unknown."""
        return self.accounts.get(account_id) if account_id else None

    def zone_name(self, zone_id: str | None) -> str | None:
        """The zone's name, or None when unknown."""
        return self.zones.get(zone_id) if zone_id else None

    def remember_account(self, account_id: str | None, name: str | None) -> None:
        """Record ``account_id -> name`` (when both are known and the book has room)."""
        _remember(self.accounts, account_id, name, self.max_learned)

    def remember_zone(self, zone_id: str | None, name: str | None) -> None:
        """Record ``zone_id -> name`` (when both are known and the book has room)."""
        _remember(self.zones, zone_id, name, self.max_learned)

    def __call__(self, record: Record, raw: RawView) -> None:
        """Learn from ``record`` and fill in account and zone names it lacks."""
        dataset = log_name(record)
        account_id = get_str(record, "cloud", "account", "uid")
        account_name = get_str(record, "cloud", "account", "name")
        if dataset == "audit_logs_v2" and account_name is None:
            account_name = raw.get_str("account", "name")
        if self.learn:
            self.remember_account(account_id, account_name)
        if account_name is None:
            account_name = self.account_name(account_id)
            if account_name is not None:
                account = _account(record)
                if account is not None:
                    account["name"] = account_name
        zone_id, zone_name = _zone_of(record, raw, dataset)
        if self.learn:
            self.remember_zone(zone_id, zone_name)
        if zone_name is None:
            zone_name = self.zone_name(zone_id)
        self._name_resources(record)
        if zone_id or zone_name:
            upsert_enrichment(
                record,
                name="zone",
                value=zone_name or zone_id or "",
                type_=ZONE_ENRICHMENT,
                provider=PROVIDER,
                data=_zone_data(zone_id, zone_name),
            )

    def _name_resources(self, record: Record) -> None:
        resources = record.get("resources")
        if not isinstance(resources, list):
            return
        for resource in resources:
            if not isinstance(resource, dict) or resource.get("name"):
                continue
            kind = resource.get("type")
            uid = resource.get("uid")
            if not isinstance(kind, str) or not isinstance(uid, str):
                continue
            kind = kind.lower()
            if kind in _ZONE_TYPES:
                name = self.zone_name(uid)
            elif kind in _ACCOUNT_TYPES:
                name = self.account_name(uid)
            else:
                continue
            if name is not None:
                resource["name"] = name


@lru_cache(maxsize=4096)
def _zone_data(zone_id: str | None, zone_name: str | None) -> str:
    return dumps({"id": zone_id, "name": zone_name})


def _remember(book: MutableMapping[str, str], key: str | None, name: str | None, cap: int) -> None:
    if not key or not name or book.get(key) == name:
        return
    if key in book or len(book) < cap:
        book[key] = name


def _account(record: Record) -> dict[str, Any] | None:
    cloud = record.get("cloud")
    if not isinstance(cloud, dict):
        return None
    account = cloud.get("account")
    if not isinstance(account, dict):
        return None
    return account


def _zone_of(record: Record, raw: RawView, dataset: str | None) -> tuple[str | None, str | None]:
    """(zone id, zone name) the event concerns, from unmapped fields, raw or resources."""
    zone_id: str | None = None
    name: str | None = None
    if dataset in ("http_requests", "firewall_events"):
        found = unmapped_value(record, "ZoneName")
        name = found if isinstance(found, str) and found else raw.get_str("ZoneName")
        found = unmapped_value(record, "ZoneID")
        zone_id = found if isinstance(found, str) and found else None
    elif dataset == "audit_logs_v2":
        zone_id, name = raw.get_str("zone", "id"), raw.get_str("zone", "name")
    elif dataset == "audit_logs":
        zone_id = raw.get_str("metadata", "zone_id")
        if zone_id is None and (raw.get_str("resource", "type") or "").lower() in _ZONE_TYPES:
            zone_id = raw.get_str("resource", "id")
        name = raw.get_str("metadata", "zone_name")
    if zone_id is None and name is None:
        return _zone_from_resources(record)
    return zone_id, name


def _zone_from_resources(record: Mapping[str, Any]) -> tuple[str | None, str | None]:
    resources = record.get("resources")
    if isinstance(resources, list):
        for resource in resources:
            if isinstance(resource, Mapping) and str(resource.get("type", "")).lower() in (
                _ZONE_TYPES
            ):
                uid, name = resource.get("uid"), resource.get("name")
                return (uid if isinstance(uid, str) and uid else None), (
                    name if isinstance(name, str) and name else None
                )
    return None, None
