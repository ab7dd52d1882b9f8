"""streams.restore: compacting changelog records, and rolling back uncommitted table writes."""

from __future__ import annotations

import json
from typing import Any

from streams.restore import Record, Uncommitted, latest


class Table:
    """Stands in for a Faust table on the memory store: ``data`` and the changelog batch API."""

    def __init__(self, name: str) -> None:
        self.data: dict[bytes, Any] = {}
        self.topic = f"{name}-changelog"
        self.changelog_topic = type("T", (), {"get_topic_name": lambda _: self.topic})()
        self.data_persisted: dict[int, int] = {}

        class Store(dict[bytes, Any]):
            def persisted_offset(_, tp: Any) -> int | None:  # noqa: N805
                return self.data_persisted.get(tp.partition)

        self.data = Store()

    def apply_changelog_batch(self, events: list[Any]) -> None:
        for event in events:
            if event.message.value is None:
                self.data.pop(event.key, None)
            else:
                self.data[event.key] = event.value
            self.data_persisted[event.message.partition] = event.message.offset


def test_latest_keeps_the_last_record_per_key_in_offset_order():
    records = [Record("t", 0, 1, b"a", b"1"), Record("t", 0, 2, b"b", b"1"),
               Record("t", 0, 3, b"a", None), Record("t", 1, 1, b"a", b"2")]
    assert latest(records) == [Record("t", 0, 2, b"b", b"1"), Record("t", 0, 3, b"a", None),
                               Record("t", 1, 1, b"a", b"2")]


def test_rollback_puts_back_what_the_open_transactions_changed():
    seen, state = Table("seen"), Table("state")
    seen.data[b"old"] = 1
    notes = Uncommitted()

    def write(table: Table, partition: int, key: bytes, value: Any) -> None:
        previous = table.data.get(key)
        before = None if previous is None else json.dumps(previous).encode()
        notes.note(table, partition, key, before)
        if value is None:
            table.data.pop(key, None)
        else:
            table.data[key] = value

    write(seen, 0, b"new", 5)  # a key first seen in the open transaction of partition 0
    write(seen, 0, b"new", 6)  # written twice: the oldest previous value wins
    write(seen, 0, b"old", None)  # a delete
    write(state, 1, b"u", {"v": 2})
    notes.committed([1])  # partition 1's transaction committed: its write is final
    write(seen, 2, b"p2", 7)
    assert notes.rollback() == 3
    assert dict(seen.data) == {b"old": 1}
    assert dict(state.data) == {b"u": {"v": 2}}
    assert notes.writes == {}
    assert seen.data_persisted == {0: -1, 2: -1}  # unknown before: the next catch-up reads all
