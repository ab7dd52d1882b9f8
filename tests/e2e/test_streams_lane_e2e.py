"""The worker's short path (``streams.lane``) against the real broker and registry: with the
alert rules off, ``http_requests`` records go through ``NativeLane``; every raw event is
once in ``siem.http_activity.v1`` although the raw topic holds duplicates, across a kill -9
of the worker, and duplicates produced while it is down are dropped by the dedup table the
worker, restarted with an empty data directory, restores from the changelog the lane wrote.
"""

from __future__ import annotations

import random
import secrets
import time

import pytest
from support import count_keys, produce, skip_history, start_streams, streams_env, wait_until
from test_streams_datasets_e2e import Raw, _unique
from test_streams_datasets_e2e import samples as ocsf_samples

pytestmark = pytest.mark.e2e

DATASET = "http_requests"
TOPIC = "siem.http_activity.v1"
N = 6000


@pytest.mark.timeout(900)
def test_the_short_path_exactly_once_across_kill9(stack, tmp_path):
    run = secrets.token_hex(4)
    raw = Raw(stack, run)
    rand = random.Random(5)
    records = [_unique(DATASET, r, run, i) for i, r in enumerate(ocsf_samples(DATASET, N))]
    batch = [raw.message(DATASET, r) for r in records]
    expected = {m[1] for m in batch if m[1] is not None}
    second, first = batch[: N // 5], batch[N // 5:]
    first += rand.sample(first, N // 5)  # duplicates in the same partition
    rand.shuffle(first)
    later = second + rand.sample(first, N // 5)  # new keys and duplicates of the first

    app_id = f"e2e-lane-{run}"
    env = {**streams_env(stack, tmp_path, app_id), "STREAMS_DATASETS": DATASET,
           "STREAMS_ALERTS": "false"}
    skip_history(stack, app_id, [f"cloudflare.{DATASET}.v1"])
    worker = start_streams(tmp_path, env, "lane-0")
    services = [worker]
    try:
        worker.wait_for("STREAMS READY", timeout_s=180)
        assert "short path (streams.lane) for cloudflare.http_requests.v1" in worker.output()
        t0 = time.monotonic()
        produce(stack, first)
        wait_until(lambda: len(count_keys(stack, TOPIC, expected)[0]) >= 50, 240,
                   "some http output", [worker])
        worker.kill()  # kill -9: its open transaction is aborted
        partial = len(count_keys(stack, TOPIC, expected)[0])
        produce(stack, later)
        # restarted on "another host": an empty data directory, so the dedup table comes
        # from the changelog records the lane wrote alone
        worker = start_streams(tmp_path, {**env, "STREAMS_DATADIR": str(tmp_path / "moved")},
                               "lane-1")
        services.append(worker)
        wanted = dict.fromkeys(expected, 1)
        wait_until(lambda: count_keys(stack, TOPIC, expected)[0] == wanted, 300,
                   "every http record once", [worker], poll_s=3)
        elapsed = time.monotonic() - t0
        time.sleep(3)  # nothing more may arrive
        got, _ = count_keys(stack, TOPIC, expected)
        assert got == wanted, {k: n for k, n in got.items() if n != 1}
        assert worker.stop() == 0, worker.output()[-3000:]
        stopped = worker.output().split("streams stopped: ")[-1]
        assert " duplicates=0 " not in stopped, stopped  # the restored table dropped them
        print(f"LANE E2E {len(first) + len(later)} raw messages in {elapsed:.1f}s; "
              f"{partial} of {len(expected)} keys out at the kill -9")
    finally:
        for service in reversed(services):
            service.stop()
