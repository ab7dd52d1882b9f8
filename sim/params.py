"""Query-parameter parsing shared by the newer endpoints; errors become 400 6008/11000."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Literal

from sim.store import QueryError
from sim.timeutil import parse_time

Direction = Literal["asc", "desc"]


def time_param(params: Mapping[str, str], name: str, *, required: bool = False,
               date_ok: bool = True) -> datetime | None:
    """RFC3339 date-time (or full-date when `date_ok`), None when absent and optional."""
    raw = params.get(name, "")
    if raw == "":
        if required:
            msg = f"{name} is required"
            raise QueryError(msg)
        return None
    try:
        value = parse_time(raw)
    except ValueError:
        value = None
    if value is None or (not date_ok and "T" not in raw.upper()):
        kinds = "an RFC3339 date-time or full-date" if date_ok else "an RFC3339 date-time"
        msg = f"{name} must be {kinds}"
        raise QueryError(msg)
    return value


def int_param(params: Mapping[str, str], name: str, default: int, lo: int,
              hi: int | None = None, *, clamp: bool = False) -> int:
    """An integer in [lo, hi]; out of range raises, or clamps to hi when `clamp`."""
    raw = params.get(name, "")
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = lo - 1
    if hi is not None and value > hi and clamp:
        return hi
    if value < lo or (hi is not None and value > hi):
        msg = (f"{name} variable must be a number between {lo} and {hi}" if hi is not None
               else f"{name} variable must be a number greater than or equal to {lo}")
        raise QueryError(msg)
    return value


def direction_param(params: Mapping[str, str], default: Direction = "desc") -> Direction:
    """`asc` or `desc`."""
    raw = params.get("direction", "") or default
    if raw == "asc":
        return "asc"
    if raw == "desc":
        return "desc"
    msg = "direction must be one of asc, desc"
    raise QueryError(msg)


def flag(params: Mapping[str, str], name: str) -> bool:
    """A boolean query flag (`true`, `1`, `yes`)."""
    return params.get(name, "").lower() in ("true", "1", "yes")
