"""streams.dedupe: first sighting and the expiry sweep (pure parts, no broker)."""

from __future__ import annotations

import asyncio

from streams.dedupe import (
    expire,
    expired,
    first_sighting,
    repeated_state,
    state_digest,
    tables,
)
from streams.routing import DATASETS

NOW = 1_700_000_000
HORIZON = 7 * 24 * 3600


def test_first_sighting():
    seen = {b"a": NOW}
    assert first_sighting(seen, b"b")
    assert not first_sighting(seen, b"a")


def test_expired_keeps_keys_inside_the_horizon():
    items = [(b"old", NOW - HORIZON), (b"older", NOW - HORIZON - 1), (b"new", NOW - HORIZON + 1)]
    assert expired(items, NOW, HORIZON) == [b"old", b"older"]


def test_expired_drops_values_that_are_not_ints():
    assert expired([(b"junk", None)], NOW, HORIZON) == [b"junk"]


def test_expire_deletes_and_tombstones_each_expired_key():
    store: dict[bytes, int | None] = {b"old": NOW - HORIZON - 5, b"new": NOW - 5}
    tombstones: list[bytes] = []

    async def tombstone(key: bytes) -> None:
        tombstones.append(key)

    n = asyncio.run(expire(store, tombstone, NOW, HORIZON))
    assert n == 1
    assert store == {b"new": NOW - 5}
    assert tombstones == [b"old"]


def test_expire_on_an_empty_store_is_a_no_op():
    async def tombstone(key: bytes) -> None:
        raise AssertionError(key)

    assert asyncio.run(expire({}, tombstone, NOW, HORIZON)) == 0


def test_one_table_per_raw_topic_co_partitioned_with_it():
    from streams.app import settings

    assert sorted(tables) == sorted([*(d.name for d in DATASETS), "alert-state"])
    assert tables["alert-state"].partitions == settings.topic_partitions
    for dataset in DATASETS:
        table = tables[dataset.name]
        assert table.name == dataset.table
        assert table.partitions == settings.topic_partitions


def test_roster_state_digest_and_repeats():
    state = {"id": "u1", "email": "a@example.com", "roles": [{"name": "Admin"}]}
    digest = state_digest(state)
    assert digest == state_digest(dict(reversed(list(state.items()))))  # key order is irrelevant
    assert digest != state_digest({**state, "roles": []})
    assert repeated_state({b"k": digest}, b"k", digest)
    assert not repeated_state({b"k": digest}, b"k", state_digest({**state, "email": "b@x.io"}))
    assert not repeated_state({}, b"k", digest)
