"""streams.progress: offsets held by the open transaction, holes, re-reads."""

from __future__ import annotations

from streams.progress import Progress

TP, OTHER = ("t", 0), ("t", 1)


def _progress(*offsets: int) -> Progress[tuple[str, int]]:
    progress: Progress[tuple[str, int]] = Progress()
    for offset in offsets:
        progress.mark(1, TP, offset)
    return progress


def test_processed_offsets_are_known_until_committed():
    progress = _progress(5, 6)
    assert progress.seen(1, TP, 5) and not progress.seen(1, TP, 7)
    assert not progress.seen(1, OTHER, 5)
    progress.prune({TP: 6})
    assert not progress.seen(1, TP, 5)
    assert progress.seen(1, TP, 6)


def test_a_rebalance_forgets_everything():
    progress = _progress(5)
    assert not progress.seen(2, TP, 5)


def test_holes_are_offsets_neither_processed_nor_known_gaps():
    progress = _progress(0, 1, 5, 6)
    assert progress.holes(TP, 0, 7) == [2, 3, 4]
    assert progress.holes(TP, 0, 7, gaps=[2, 3, 4]) == []  # markers the fetcher skipped
    assert progress.holes(TP, 0, 2) == []
    # a lone offset at the start is the previous transaction's marker; two are not
    assert _progress(1, 2).holes(TP, 0, 3) == []
    assert _progress(2, 3).holes(TP, 0, 4) == [0, 1]
    # at the log start (nothing committed yet) there is no earlier transaction: a record
    assert _progress(1, 2).holes(TP, 0, 3, committed=False) == [0]


def test_a_reread_proves_the_offsets_it_skips_hold_no_record():
    progress = _progress(0, 1, 5, 6, 7)
    assert progress.reread(TP, 2)
    assert not progress.reread(TP, 2)  # one at a time
    assert not progress.reread(TP, 2)
    assert not progress.reread(TP, 2)
    assert progress.reread(TP, 2)  # no sign of it after 3 ticks: seek again
    assert progress.seen(1, TP, 9) is False  # fetched before the seek: proves nothing
    assert progress.holes(TP, 0, 8) == [2, 3, 4]
    assert progress.seen(1, TP, 4) is False  # the re-read starts at 4: 2 and 3 are markers
    assert progress.holes(TP, 0, 8) == [4]
    progress.mark(1, TP, 4)
    assert progress.holes(TP, 0, 8) == []
    assert progress.seen(1, TP, 5)  # re-read again: acked, not processed twice


def test_stalls_reports_a_partition_whose_read_offset_does_not_move():
    from streams.progress import Stalls

    stalls: Stalls[str] = Stalls(stall_s=10, markers=3)
    assert not stalls.check("p", 5, 100, now=0)  # first sight
    assert not stalls.check("p", 5, 100, now=9)  # not long enough
    assert stalls.check("p", 5, 100, now=10)  # 10 s without a record, 94 waiting
    assert not stalls.check("p", 5, 100, now=15)  # reported; again only after another 10 s
    assert stalls.check("p", 5, 100, now=20)
    assert not stalls.check("p", 6, 100, now=21)  # moving again
    assert not stalls.check("p", 6, 100, now=30)
    # at the end but for commit markers (never delivered): not a stall
    assert not stalls.check("q", 96, 100, now=0)
    assert not stalls.check("q", 96, 100, now=60)
    # nothing delivered yet on a partition with records
    assert not stalls.check("r", None, 50, now=0)
    assert stalls.check("r", None, 50, now=11)
    assert not stalls.check("s", None, None, now=0)
    assert not stalls.check("s", None, None, now=60)  # end unknown
