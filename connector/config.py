"""The YAML configuration file (``cfkafka run --config cfkafka.yaml``), with env overrides.

::

    cloudflare:            # scalar settings; each has an environment variable that wins
      poll_interval_s: 60
      logpull: {fields: [ClientIP, RayID], sample: 0.1}
    accounts:
      - id: 0123456789abcdef0123456789abcdef
        name: prod
        api_token: {env: CF_API_TOKEN_PROD}        # or {file: /run/secrets/cf}, or email + api_key
        feeds: [audit_logs, access_requests, members, http_requests]
        zones:
          - 023e105f4ecef8ad9ca31a8372d0c353      # gets the account's zone feeds
          - {id: 372e67954025e0ba6aaa6d586b9e0b59, feeds: [firewall_events]}
    kafka: {bootstrap.servers: "broker:9092", sasl.password: {file: /run/secrets/kafka}}
    schema_registry: {url: "http://registry:8081"}
    connector: {name: cfkafka, topic_partitions: 3}

Secrets (any value) may be ``{env: NAME}`` or ``{file: PATH}``, so none has to be written
in the file. Every error names the key (``accounts[1].zones[0].id``) and the file.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NoReturn

import yaml

from connector.clientconf import passthrough
from connector.errors import ConfigError
from connector.settings import (
    OPTIONS,
    Account,
    Credentials,
    Secret,
    Settings,
    Value,
    Zone,
    build,
    check_account_id,
    check_feeds,
    check_zone_ids,
    env_account,
    feed_scopes,
)

_SECTIONS = ("cloudflare", "accounts", "kafka", "schema_registry", "connector")
_ACCOUNT_KEYS = ("id", "name", "api_token", "api_email", "api_key", "feeds", "zones")
_ZONE_KEYS = ("id", "name", "feeds")
# Single-account environment variables that only make sense without ``accounts:``.
_ENV_ACCOUNT = ("CF_ACCOUNT_ID", "CF_FEEDS", "CF_ZONE_IDS")


def load(path: str | Path, env: Mapping[str, str]) -> Settings:
    """Read ``path`` and the environment (which overrides the file) into ``Settings``."""
    file = Path(path)
    try:
        document = yaml.safe_load(file.read_text(encoding="utf-8"))
    except OSError as exc:
        msg = f"cannot read the configuration file {file}: {exc.strerror or exc}"
        raise ConfigError(msg) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or exc
        msg = f"{file}{where} is not valid YAML: {problem}"
        raise ConfigError(msg) from None
    return from_document(document or {}, env, str(file))


def from_document(document: Any, env: Mapping[str, str], name: str = "cfkafka.yaml") -> Settings:
    """Validate a parsed YAML document (see the module docstring) into ``Settings``."""
    doc = _File(name, env)
    top = doc.mapping(document, "", _SECTIONS)
    values: dict[str, Value] = {}
    for option in OPTIONS:
        section, _, rest = option.key.partition(".")
        if section in ("kafka", "schema_registry"):
            continue  # read with their sections below
        node = top.get(section)
        for part in rest.split(".")[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
        leaf = rest.split(".")[-1]
        if isinstance(node, dict) and leaf in node:
            values[option.env] = Value(doc.scalar(node[leaf], option.key), doc.at(option.key))
    doc.check_keys(top.get("cloudflare"), "cloudflare")
    doc.check_keys(top.get("connector"), "connector")
    kafka = {k: doc.scalar(v, f"kafka.{k}") for k, v in doc.mapping(
        top.get("kafka", {}), "kafka").items()}
    registry = {k: doc.scalar(v, f"schema_registry.{k}") for k, v in doc.mapping(
        top.get("schema_registry", {}), "schema_registry").items()}
    if "bootstrap.servers" in kafka:
        values["KAFKA_BOOTSTRAP_SERVERS"] = Value(kafka.pop("bootstrap.servers"),
                                                  doc.at("kafka.bootstrap.servers"))
    if "url" in registry:
        values["SCHEMA_REGISTRY_URL"] = Value(registry.pop("url"), doc.at("schema_registry.url"))
    values.update({o.env: Value(env[o.env], o.env) for o in OPTIONS if o.env in env})
    if "accounts" in top:
        set_in_env = [n for n in _ENV_ACCOUNT if env.get(n, "").strip()]
        if set_in_env:
            msg = (f"{', '.join(set_in_env)} set in the environment, but {name} lists "
                   "accounts: configure accounts in one place")
            raise ConfigError(msg)
        accounts = doc.accounts(top["accounts"])
    else:
        accounts = (env_account(env),)
    return build(values, accounts, {**kafka, **passthrough(env, "KAFKA_CONF_")},
                 {**registry, **passthrough(env, "SR_CONF_")})


class _File:
    """Validation helpers that name keys as ``accounts[0].zones[1].id in <file>``."""

    def __init__(self, name: str, env: Mapping[str, str]) -> None:
        self.name = name
        self.env = env

    def at(self, key: str) -> str:
        return f"{key} in {self.name}"

    def fail(self, key: str, problem: str) -> NoReturn:
        msg = f"{self.at(key)}: {problem}" if key else f"{self.name}: {problem}"
        raise ConfigError(msg)

    def mapping(self, node: Any, key: str, allowed: tuple[str, ...] = ()) -> dict[str, Any]:
        if not isinstance(node, dict):
            self.fail(key, f"expected a mapping, got {_kind(node)}")
        if allowed:
            for k in node:
                if k not in allowed:
                    self.fail(_join(key, str(k)), _unknown(str(k), allowed))
        return node

    def check_keys(self, node: Any, section: str) -> None:
        if node is None:
            return
        allowed = {o.key[len(section) + 1:] for o in OPTIONS if o.key.startswith(section + ".")}
        self._check_nested(self.mapping(node, section), section, allowed)

    def _check_nested(self, node: dict[str, Any], prefix: str, allowed: set[str]) -> None:
        heads = {a.split(".")[0] for a in allowed}
        for k, v in node.items():
            if k not in heads:
                self.fail(f"{prefix}.{k}", _unknown(str(k), tuple(sorted(heads))))
            inner = {a[len(k) + 1:] for a in allowed if a.startswith(k + ".")}
            if inner:
                self._check_nested(self.mapping(v, f"{prefix}.{k}"), f"{prefix}.{k}", inner)

    def scalar(self, node: Any, key: str) -> str:
        """A value as the string an environment variable would hold; secrets resolved."""
        if isinstance(node, dict):
            return self.secret(node, key)
        if isinstance(node, bool):
            return "true" if node else "false"
        if isinstance(node, int | float | str):
            return str(node)
        if isinstance(node, list) and all(isinstance(v, str) for v in node):
            return ",".join(node)
        self.fail(key, f"expected a value, got {_kind(node)}")

    def secret(self, node: Any, key: str) -> str:
        """``"literal"``, ``{env: NAME}`` or ``{file: PATH}`` (trailing newline stripped)."""
        if isinstance(node, str):
            return node
        if not isinstance(node, dict) or len(node) != 1 or next(iter(node)) not in (
                "env", "file"):
            self.fail(key, "expected a string, {env: NAME} or {file: PATH}")
        (source, ref), = node.items()
        if source == "env":
            value = self.env.get(str(ref), "")
            if not value.strip():
                self.fail(key, f"environment variable {ref} is not set")
            return value.strip()
        try:
            return Path(os.path.expanduser(str(ref))).read_text(encoding="utf-8").strip()
        except OSError as exc:
            self.fail(key, f"cannot read secret file {ref}: {exc.strerror or exc}")

    def accounts(self, node: Any) -> tuple[Account, ...]:
        if not isinstance(node, list) or not node:
            self.fail("accounts", "expected a non-empty list of accounts")
        accounts = tuple(self.account(item, f"accounts[{i}]") for i, item in enumerate(node))
        seen: dict[str, str] = {}
        for i, account in enumerate(accounts):
            for scope_id in (account.account_id, *(z.zone_id for z in account.zones)):
                if scope_id in seen:
                    self.fail(f"accounts[{i}]", f"{scope_id} is configured twice (also in "
                              f"{seen[scope_id]})")
                seen[scope_id] = account.where
        return accounts

    def account(self, node: Any, key: str) -> Account:
        item = self.mapping(node, key, _ACCOUNT_KEYS)
        if "id" not in item:
            self.fail(key, "has no id (the 32-character hex account id)")
        account_id = check_account_id(str(item["id"]), self.at(f"{key}.id"))
        scopes = feed_scopes()
        names = self._names(item.get("feeds", ["audit_logs"]), f"{key}.feeds")
        feeds = check_feeds(names, self.at(f"{key}.feeds"), ("account", "user", "zone"))
        zone_feeds = tuple(f for f in feeds if scopes[f] == "zone")
        zones = tuple(self.zone(z, f"{key}.zones[{i}]", zone_feeds)
                      for i, z in enumerate(self._list(item.get("zones", []), f"{key}.zones")))
        if zone_feeds and not zones:
            self.fail(f"{key}.zones", f"is empty ({', '.join(zone_feeds)} are pulled "
                            "per zone)")
        return Account(account_id, self.credentials(item, key),
                       tuple(f for f in feeds if scopes[f] != "zone"),
                       tuple(z for z in zones if z.feeds), str(item.get("name", "")), self.at(key))

    def zone(self, node: Any, key: str, default_feeds: tuple[str, ...]) -> Zone:
        if isinstance(node, str):
            item: dict[str, Any] = {"id": node}
        else:
            item = self.mapping(node, key, _ZONE_KEYS)
        if "id" not in item:
            self.fail(key, "has no id (the 32-character hex zone id)")
        zone_id, = check_zone_ids([str(item["id"])], self.at(f"{key}.id"))
        feeds = default_feeds
        if "feeds" in item:
            names = self._names(item["feeds"], f"{key}.feeds")
            feeds = check_feeds(names, self.at(f"{key}.feeds"), ("zone",))
        if not feeds:
            self.fail(key, "has no feeds: list http_requests and/or firewall_events in "
                            "the zone's or the account's feeds")
        return Zone(zone_id, feeds, str(item.get("name", "")))

    def credentials(self, item: dict[str, Any], key: str) -> Credentials:
        token, email, api_key = (item.get(k) for k in ("api_token", "api_email", "api_key"))
        if token is not None and (email is not None or api_key is not None):
            self.fail(key, "set either api_token or api_email + api_key, not both")
        if token is not None:
            return Credentials(token=Secret(self.secret(token, f"{key}.api_token")))
        if email is not None and api_key is not None:
            return Credentials(email=self.secret(email, f"{key}.api_email"),
                               key=Secret(self.secret(api_key, f"{key}.api_key")))
        if email is not None or api_key is not None:
            missing = "api_key" if email is not None else "api_email"
            self.fail(f"{key}.{missing}", "is not set (a global API key needs both "
                            "api_email and api_key)")
        self.fail(key, "has no credential: set api_token (or api_email + api_key), "
                        "e.g. api_token: {env: CF_API_TOKEN}")

    def _list(self, node: Any, key: str) -> list[Any]:
        if not isinstance(node, list):
            self.fail(key, f"expected a list, got {_kind(node)}")
        return node

    def _names(self, node: Any, key: str) -> list[str]:
        return [str(n).strip() for n in self._list(node, key)]


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _unknown(key: str, allowed: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(key, allowed, n=1)
    hint = f"did you mean {close[0]}? " if close else ""
    return f"unknown key; {hint}choose from {', '.join(allowed)}"


def _kind(node: Any) -> str:
    return "nothing" if node is None else type(node).__name__
