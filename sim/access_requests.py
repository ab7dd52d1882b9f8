"""Zero Trust Access authentication logs (facts §3): records, store and query semantics.

`GET /accounts/{id}/access/logs/access_requests`:
- `since` inclusive, `until` exclusive (real instants; RFC3339 date-time, full-date accepted).
- `direction` asc|desc, default desc; ties keep insertion order, desc is the exact reverse.
- Paging: with neither `page` nor `per_page`, one truncated page of `limit` records (default
  25); with either, page pagination (`per_page` default 25) and `limit` is validated but
  ignored. `limit`/`per_page` range 1..max_per_page (1000), over it 400 (or clamp).
- Filters: `email` (substring, case-insensitive; exact with `email_exact=true` or
  `emailOp=eq`; excluded with `emailOp=neq`; `emailOp=contains` = substring), and
  `allowed`, `app_uid`, `ray_id`, `idp` (= connection) with optional `<name>Op=eq|neq`.
- `result_info {page, per_page, count, total_count}`. Records have no `id`.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from typing import Any

from sim.config import SimConfig
from sim.feedlog import BurstGenerator, FeedStore
from sim.params import direction_param, flag, int_param, time_param
from sim.people import hex_id, ip_address, people, uuid4
from sim.store import Page, QueryError

CONNECTIONS = ("saml", "onetimepin", "azureAD", "okta", "google", "github")
_CONN_WEIGHTS = (30, 15, 20, 20, 10, 5)
_APPS = ("wiki.example.com", "grafana.example.com/admin", "ssh.example.com",
         "jira.example.com", "vault.example.com/ui", "git.example.com")
DEFAULT_LIMIT = 25
FIELDS = ("action", "allowed", "app_domain", "app_uid", "connection", "created_at",
          "ip_address", "ray_id", "user_email")


class AccessRequestGenerator(BurstGenerator):
    """Access login/logout records of one account's users and applications."""

    def __init__(self, seed: int, account_id: str) -> None:
        super().__init__(seed, account_id, "access_requests")
        base = random.Random(f"{seed}:{account_id}:access_requests:population")
        self._apps = [(uuid4(base), domain) for domain in _APPS]
        self._emails = [email for _, _, email in people(seed, account_id)[:40]]
        self._emails += ["contractor@partner.example", "ops-bot@example.com"]
        self._ips = [ip_address(base) for _ in range(20)]

    def record(self, when: str) -> dict[str, Any]:
        """The next record at `when`."""
        rng = self.rng()
        action = "login" if rng.random() < 0.8 else "logout"
        app_uid, app_domain = rng.choice(self._apps)
        return {
            "action": action,
            "allowed": action == "logout" or rng.random() < 0.88,
            "app_domain": app_domain,
            "app_uid": app_uid,
            "connection": rng.choices(CONNECTIONS, _CONN_WEIGHTS)[0],
            "created_at": when,
            "ip_address": rng.choice(self._ips),
            "ray_id": hex_id(rng, 16),
            "user_email": rng.choice(self._emails),
        }


class AccessRequestStore(FeedStore):
    """Access authentication logs of every account, ordered by `created_at`."""

    feed = "access_requests"

    def __init__(self, config: SimConfig, *, populate: bool = True) -> None:
        initial = config.access_initial_events
        super().__init__(config, config.initial_events if initial is None else initial,
                         populate=populate)

    def new_generator(self, account_id: str) -> BurstGenerator:
        """A generator for one account."""
        return AccessRequestGenerator(self.config.seed, account_id)

    def time_of(self, record: Mapping[str, Any]) -> str:
        """`created_at`."""
        return str(record["created_at"])

    def query(self, account_id: str, params: Mapping[str, str]) -> Page:
        """One page per the module docstring; raises QueryError on bad parameters."""
        since = time_param(params, "since")
        until = time_param(params, "until")
        direction = direction_param(params)
        max_pp = self.config.max_per_page
        clamp = self.config.per_page_over_max == "clamp"
        limit = int_param(params, "limit", DEFAULT_LIMIT, 1, max_pp, clamp=clamp)
        page = int_param(params, "page", 1, 1)
        if "page" in params or "per_page" in params:
            per_page = int_param(params, "per_page", DEFAULT_LIMIT, 1, max_pp, clamp=clamp)
        else:
            per_page = limit
        keep = _filter(params)
        matches = [rec for _, rec in self.window(account_id, since, until) if keep(rec)]
        if direction == "desc":
            matches.reverse()
        chunk = matches[(page - 1) * per_page:page * per_page]
        info = {"page": page, "per_page": per_page, "count": len(chunk),
                "total_count": len(matches)}
        return Page(chunk, info)


def _filter(params: Mapping[str, str]) -> Callable[[Mapping[str, Any]], bool]:
    tests: list[Callable[[Mapping[str, Any]], bool]] = []
    email = params.get("email", "").lower()
    if email:
        op = params.get("emailOp", "eq" if flag(params, "email_exact") else "contains")
        if op not in ("eq", "neq", "contains"):
            msg = "emailOp must be one of eq, neq, contains"
            raise QueryError(msg)
        if op == "contains":
            tests.append(lambda r: email in str(r["user_email"]).lower())
        else:
            want = op == "eq"
            tests.append(lambda r: (str(r["user_email"]).lower() == email) == want)
    for name, key in (("allowed", "allowed"), ("app_uid", "app_uid"), ("ray_id", "ray_id"),
                      ("idp", "connection")):
        if params.get(name, "") == "":
            continue
        op = params.get(f"{name}Op", "eq")
        if op not in ("eq", "neq"):
            msg = f"{name}Op must be one of eq, neq"
            raise QueryError(msg)
        value = params[name].lower()
        tests.append(_equals(key, value, op == "eq"))
    return lambda rec: all(t(rec) for t in tests)


def _equals(key: str, value: str, want: bool) -> Callable[[Mapping[str, Any]], bool]:
    def test(rec: Mapping[str, Any]) -> bool:
        raw = rec.get(key)
        text = ("true" if raw else "false") if isinstance(raw, bool) else str(raw).lower()
        return (text == value) == want

    return test
