"""Deterministic, seeded generator of account audit log v1 events (facts §1 record shape)."""

from __future__ import annotations

import random
import string
import uuid
from datetime import datetime, timedelta
from typing import Any

from sim.timeutil import Precision, format_when

ACTION_TYPES: tuple[str, ...] = (
    "login", "logout", "token_create", "token_roll", "rec_add", "rec_del", "rec_set",
    "purge", "API_key_view", "rotate_API_key", "member_add", "tls_settings_deployed",
)
_ACTION_WEIGHTS = (14, 6, 5, 3, 12, 8, 10, 8, 5, 2, 3, 4)
_LOWER_ALNUM = string.ascii_lowercase + string.digits
_RECORD_TYPES = ("A", "AAAA", "CNAME", "TXT", "MX")


def _ident(rng: random.Random, n: int = 32) -> str:
    return "".join(rng.choice(_LOWER_ALNUM) for _ in range(n))


def _hex(rng: random.Random, n: int) -> str:
    return f"{rng.getrandbits(n * 4):0{n}x}"


def _ip(rng: random.Random) -> str:
    if rng.random() < 0.7:
        first = rng.choice((89, 81, 175, 216, 198, 203))
        return f"{first}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    groups = [f"{rng.getrandbits(16):x}" for _ in range(4)]
    return "2001:db8:" + ":".join(groups) + "::" + f"{rng.getrandbits(16):x}"


class EventGenerator:
    """Makes audit log records for one account.

    The content of the k-th record depends only on (seed, account_id, k); grouping into
    bursts and the choice of `when` precision come from a separate seeded stream. A record
    created at clock time t always has `t - 1 s <= when <= t`.
    """

    def __init__(self, seed: int, account_id: str) -> None:
        self.seed = seed
        self.account_id = account_id
        self.count = 0
        self._sched = random.Random(f"{seed}:{account_id}:schedule")
        base = random.Random(f"{seed}:{account_id}:population")
        names = ("alice", "bob", "carol", "dave", "erin", "mallory")
        self._users = [(_ident(base), f"{n}@example.com") for n in names]
        self._admins = [(_ident(base), "support-agent@cloudflare.com")]
        self._zones = [(_ident(base), z) for z in ("example.com", "example.net", "shop.example")]
        self._ips = [_ip(base) for _ in range(12)]

    def batch(
        self,
        now: datetime,
        n: int,
        ties: int | None = None,
        precision: Precision | None = None,
    ) -> list[dict[str, Any]]:
        """Create `n` records at clock time `now`, grouped into bursts sharing one `when`.

        `ties=k` forces groups of exactly k (last group smaller). Without it, about one group
        in eight is a burst of 2-5. Groups get distinct instants a few microseconds apart
        (second-precision groups all share the truncated second, as on the real API).
        """
        sizes: list[int] = []
        left = n
        while left > 0:
            if ties is not None:
                size = max(1, ties)
            else:
                size = self._sched.randint(2, 5) if self._sched.random() < 0.125 else 1
            size = min(size, left)
            sizes.append(size)
            left -= size
        out: list[dict[str, Any]] = []
        groups = len(sizes)
        for i, size in enumerate(sizes):
            if precision is not None:
                prec: Precision = precision
            elif ties is not None:
                prec = "us"
            else:
                prec = self._sched.choices(("s", "us", "ms"), (45, 45, 10))[0]
            offset_us = 0 if prec == "s" else min(groups - 1 - i, 500_000)
            when = format_when(now - timedelta(microseconds=offset_us), prec)
            out.extend(self.record(when) for _ in range(size))
        return out

    def record(self, when: str) -> dict[str, Any]:
        """The next record (index `self.count`) with the given `when`."""
        k = self.count
        self.count += 1
        rng = random.Random(f"{self.seed}:{self.account_id}:event:{k}")
        action = rng.choices(ACTION_TYPES, _ACTION_WEIGHTS)[0]
        user_id, email = rng.choice(self._users)
        zone_id, zone_name = rng.choice(self._zones)
        actor: dict[str, Any]
        if action == "tls_settings_deployed":
            actor = {"id": "1", "type": "system"}
        else:
            kind = rng.choices(("user", "admin", "Cloudflare"), (85, 10, 5))[0]
            if kind != "user":
                user_id, email = rng.choice(self._admins)
            actor = {"email": email, "id": user_id, "ip": rng.choice(self._ips), "type": kind}
        rec: dict[str, Any] = {
            "action": {"result": rng.random() > 0.08, "type": action},
            "actor": actor,
            "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "interface": rng.choice(("", "UI", "API")) if actor["type"] != "system" else "",
            "metadata": {},
            "newValue": "",
            "oldValue": "",
            "owner": {"id": self.account_id},
            "resource": {"id": self.account_id, "type": "account"},
            "when": when,
        }
        self._fill(rng, rec, action, user_id, zone_id, zone_name)
        if rng.random() < 0.03:
            rec["account"] = {"id": self.account_id, "name": "Example Corp"}
        if rng.random() < 0.03:
            rec["action"]["description"] = f"{action.replace('_', ' ')} (simulated)"
        return rec

    def _fill(
        self, rng: random.Random, rec: dict[str, Any], action: str,
        user_id: str, zone_id: str, zone_name: str,
    ) -> None:
        meta: dict[str, Any] = rec["metadata"]
        if action in ("login", "logout", "API_key_view"):
            rec["owner"] = {"id": user_id}
            kind = "user" if action == "API_key_view" else "account"
            rec["resource"] = {"id": user_id, "type": kind}
        elif action in ("token_create", "token_roll"):
            rec["owner"] = {"id": user_id}
            meta.update(token_name=rng.choice(("siem-reader", "ci-deploy", "terraform")),
                        token_tag=_hex(rng, 32))
            if action == "token_roll":
                meta.update(new_token_hash=_hex(rng, 64), old_token_hash=_hex(rng, 64))
        elif action == "rotate_API_key":
            rec["action"]["info"] = f"key digest: {_hex(rng, 64)}"
        elif action == "member_add":
            meta["member_email"] = f"new-{_ident(rng, 6)}@example.org"
            rec["resource"] = {"id": _ident(rng), "type": "account"}
        elif action in ("purge", "tls_settings_deployed"):
            meta["zone_name"] = zone_name
            rec["resource"] = {"id": zone_id, "type": "zone"}
            if action == "tls_settings_deployed":
                rec["newValueJson"] = {"http_2": "Enabled", "min_tls_version": "TLSv1.2",
                                       "tls_13": rng.choice(("on", "off", "Default"))}
        else:  # rec_add, rec_del, rec_set
            meta["zone_name"] = zone_name
            rec["resource"] = {"id": str(rng.randint(10**10, 10**11)), "type": "DNS_record"}
            dns = {"content": rng.choice(self._ips), "id": _hex(rng, 32),
                   "name": f"{_ident(rng, 5)}.{zone_name}", "proxied": rng.random() < 0.5,
                   "ttl": 1, "type": rng.choice(_RECORD_TYPES), "zone_id": zone_id,
                   "zone_name": zone_name}
            if rng.random() < 0.5:
                rec["newValue"] = rec["oldValue"] = "null"
            if action in ("rec_add", "rec_set"):
                rec["newValueJson"] = dns
            if action in ("rec_del", "rec_set"):
                rec["oldValueJson"] = dict(dns, content=rng.choice(self._ips))
