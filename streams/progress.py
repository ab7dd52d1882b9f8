"""Pure: which offsets the open transactions hold, and which offsets may be committed.

Faust 0.15 (threaded consumer) sometimes does not deliver a few messages of a partition,
mostly right after an assignment: they are neither processed nor acked. Faust then either
stalls (it commits a partition only up to its first unacked offset once it has a committed
offset) or, for a partition without a committed offset yet, commits past them: lost
events. So the worker commits a partition only when every offset from its committed
position (else its log start) up to the new position was processed by this worker or is
known not to hold a record (a transaction marker or an aborted record: a gap Faust's
fetcher saw, or a hole that a fresh read from its start skipped again). A partition with
a hole is sought back to the hole; messages already processed in the open transaction
(their outputs and table writes are in it) are acked without being processed again.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


@dataclass
class Progress(Generic[K]):
    """Per partition: offsets processed since the last commit, verified holes, re-reads."""

    generation: int | None = None
    retry_ticks: int = 3
    _ticks: dict[K, int] = field(default_factory=dict)
    _done: dict[K, set[int]] = field(default_factory=dict)
    _empty: dict[K, set[int]] = field(default_factory=dict)
    _rereading: dict[K, int] = field(default_factory=dict)

    def _reset(self, generation: int) -> None:
        if generation != self.generation:  # a rebalance: transactions were restarted
            self.generation = generation
            self._done.clear()
            self._empty.clear()
            self._rereading.clear()
            self._ticks.clear()

    def seen(self, generation: int, tp: K, offset: int) -> bool:
        """Whether ``offset`` of ``tp`` was processed in this generation and not yet committed.

        Also completes a re-read: the first offset delivered at or after the re-read start
        proves that the offsets between them hold no record.
        """
        self._reset(generation)
        start = self._rereading.get(tp)
        if start is not None and offset >= start:
            # a message fetched before the seek can still arrive: only the first offset of
            # the re-read (at or before the first processed one after the start) proves it
            after = [o for o in self._done.get(tp, ()) if o >= start]
            if not after or offset <= min(after):
                del self._rereading[tp]
                self._empty.setdefault(tp, set()).update(range(start, offset))
        return offset in self._done.get(tp, ())

    def mark(self, generation: int, tp: K, offset: int) -> None:
        """``offset`` of ``tp`` was processed (its outputs are in the open transaction)."""
        self._reset(generation)
        self._done.setdefault(tp, set()).add(offset)

    def holes(
        self, tp: K, start: int, end: int, gaps: Iterable[int] = (), *, committed: bool = True
    ) -> list[int]:
        """Offsets in ``[start, end)`` neither processed, nor known empty, nor in ``gaps``.

        ``committed``: ``start`` is a committed offset (after a transaction, whose marker
        may sit there), not the log start (where a record is always a record).
        """
        done = self._done.get(tp, set())
        empty = self._empty.get(tp, set())
        known = set(gaps)
        holes = [o for o in range(start, end) if o not in done and o not in empty
                 and o not in known]
        if committed and holes[:1] == [start] and start + 1 not in holes:
            # a lone offset at the committed position is the marker of the transaction
            # that wrote the records before it: Faust records no fetch gap for it
            holes = holes[1:]
        return holes

    def reread(self, tp: K, start: int) -> bool:
        """Note a seek of ``tp`` back to ``start``; False while one is under way.

        A re-read that has not shown its first message after ``retry_ticks`` calls is
        started again: messages fetched before a seek can move Faust's read position past
        the re-read ones, which it then drops as already read.
        """
        pending = self._rereading.get(tp)
        ticks = self._ticks.get(tp, 0)
        if pending is not None and ticks < self.retry_ticks:
            self._ticks[tp] = ticks + 1
            return False
        self._rereading[tp] = start
        self._ticks[tp] = 0
        return True

    def prune(self, committed: Mapping[K, int | None]) -> None:
        """Forget offsets below each partition's committed offset (they cannot come back)."""
        for offsets in (self._done, self._empty):
            for tp, values in offsets.items():
                position = committed.get(tp)
                if position is not None and values:
                    values.difference_update([o for o in values if o < position])


@dataclass
class Stalls(Generic[K]):
    """Partitions whose read offset has not moved for ``stall_s`` while records wait.

    Faust's fetcher sometimes stops delivering a partition after a rebalance (nothing is
    paused, nothing is acked, the stream waits). ``check`` reports such a partition once
    per ``stall_s``: its read offset unchanged that long and the log end more than
    ``markers`` offsets past it (a transactional topic ends with commit markers, which are
    never delivered).
    """

    stall_s: float = 15.0
    markers: int = 3
    _since: dict[K, tuple[int | None, float]] = field(default_factory=dict)

    def check(self, tp: K, read: int | None, end: int | None, now: float) -> bool:
        """Whether ``tp`` (last delivered offset ``read``, log end ``end``) is stalled."""
        last = self._since.get(tp)
        if last is None or last[0] != read:
            self._since[tp] = (read, now)
            return False
        next_offset = 0 if read is None else read + 1
        if end is None or end - next_offset <= self.markers or now - last[1] < self.stall_s:
            return False
        self._since[tp] = (read, now)  # report again only after another stall_s
        return True
