"""Cloudflare credential checks (Bearer token or X-Auth-Email + X-Auth-Key), facts §0/§7/§8."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal

from sim.config import SimConfig
from sim.envelope import ApiError
from sim.perms import normalize

Kind = Literal["user_token", "account_token", "global_key"]
Endpoint = Literal["resource", "user_verify", "account_verify"]

_LEGACY_TOKEN = re.compile(r"^[A-Za-z0-9_-]{40}$")
_NEW_TOKEN = re.compile(r"^cf(ut|at)_[A-Za-z0-9_-]{40,64}$")
_LEGACY_KEY = re.compile(r"^[0-9a-f]{37,45}$")
_NEW_KEY = re.compile(r"^cfk_[A-Za-z0-9_-]{40,64}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

INVALID_HEADERS = (6003, "Invalid request headers")
BAD_EMAIL = (6102, "Invalid format for X-Auth-Email header")
BAD_KEY = (6103, "Invalid format for X-Auth-Key header")
BAD_AUTHORIZATION = (6111, "Invalid format for Authorization header")


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: credential kind, its account, and its rate-limit bucket."""

    kind: Kind
    account_id: str
    rate_key: str
    token_id: str
    #: permission slugs the credential holds; None = every permission
    permissions: frozenset[str] | None = None


def is_token_format(value: str) -> bool:
    """Pre-2026 40-character token, or a `cfut_`/`cfat_` new-format token."""
    return bool(_LEGACY_TOKEN.match(value) or _NEW_TOKEN.match(value))


def is_key_format(value: str) -> bool:
    """Pre-2026 global key (37-45 lowercase hex) or a `cfk_` new-format key."""
    return bool(_LEGACY_KEY.match(value) or _NEW_KEY.match(value))


def _token_id(token: str) -> str:
    return hashlib.md5(token.encode(), usedforsecurity=False).hexdigest()


def _invalid_headers(*chain: tuple[int, str]) -> ApiError:
    return ApiError(400, *INVALID_HEADERS, error_chain=chain)


def authenticate(headers: Mapping[str, str], config: SimConfig, endpoint: Endpoint) -> Principal:
    """Return the caller or raise the ApiError Cloudflare would answer with."""
    authorization = headers.get("Authorization")
    if authorization is None:
        if endpoint != "resource":
            raise ApiError(400, 1001, 'Missing "Authorization" header')
        return _key_auth(headers.get("X-Auth-Email"), headers.get("X-Auth-Key"), config)
    scheme, _, value = authorization.strip().partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not is_token_format(value) or value == config.global_key:
        raise _invalid_headers(BAD_AUTHORIZATION)
    principal: Principal | None = None
    if value == config.api_token:
        principal = Principal("user_token", config.account_id, f"user:{config.email.lower()}",
                              _token_id(value))
    elif value == config.account_token or (
        value in config.limited_tokens and value.startswith("cfat_")
    ):
        principal = Principal("account_token", config.account_id, f"token:{_token_id(value)}",
                              _token_id(value))
    elif value in config.limited_tokens:
        principal = Principal("user_token", config.account_id, f"user:{config.email.lower()}",
                              _token_id(value))
    if principal is not None and value in config.limited_tokens:
        principal = replace(principal, permissions=normalize(config.limited_tokens[value]))
    wanted: Kind | None = None
    if endpoint == "user_verify":
        wanted = "user_token"
    elif endpoint == "account_verify":
        wanted = "account_token"
    if wanted is not None:
        if principal is None or principal.kind != wanted:
            raise ApiError(401, 1000, "Invalid API Token")
        return principal
    if principal is None:
        raise ApiError(403, 10000, "Authentication error")
    return principal


def _key_auth(email: str | None, key: str | None, config: SimConfig) -> Principal:
    if email is None and key is None:
        raise ApiError(400, 9106, "Missing X-Auth-Key, X-Auth-Email or Authorization headers")
    chain: list[tuple[int, str]] = []
    if email is None or not _EMAIL.match(email.strip()):
        chain.append(BAD_EMAIL)
    if key is None or not is_key_format(key.strip()):
        chain.append(BAD_KEY)
    if chain or email is None or key is None:
        raise _invalid_headers(*chain)
    if email.strip().lower() == config.email.lower() and key.strip() == config.global_key:
        rate_key = f"user:{config.email.lower()}"
        return Principal("global_key", config.account_id, rate_key, _token_id(key.strip()))
    raise ApiError(403, 9103, "Unknown X-Auth-Key or X-Auth-Email")
