"""Avro schemas: the single source of truth for every topic's value format.

``load(name)`` returns the parsed schema for ``<name>.avsc`` in this package;
``text(name)`` the canonical JSON text registered with the schema registry.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

import fastavro

NAMES: tuple[str, ...] = tuple(
    sorted(
        p.name.removesuffix(".avsc")
        for p in resources.files(__name__).iterdir()
        if p.name.endswith(".avsc")
    )
)


@functools.cache
def raw(name: str) -> dict[str, Any]:
    """Return the schema ``name`` as a JSON object (unparsed)."""
    path = resources.files(__name__).joinpath(f"{name}.avsc")
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def text(name: str) -> str:
    """Return the schema ``name`` as compact JSON text, as registered."""
    return json.dumps(raw(name), separators=(",", ":"), sort_keys=False)


@functools.cache
def load(name: str) -> Any:
    """Return the schema ``name`` parsed by fastavro (cached)."""
    return fastavro.parse_schema(raw(name))


__all__ = ["NAMES", "load", "raw", "text"]
