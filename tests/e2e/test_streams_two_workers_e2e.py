"""Two streams workers share the raw partitions; kill -9 one mid-run: the other takes its
partitions over (after the session timeout), restores their dedup tables from the
changelogs and finishes. Every raw event is in its SIEM topic exactly once although the
raw topics hold duplicates, and an alert whose evidence spans both workers' partitions
fires once. A second batch, with duplicates of the first, is produced after the kill: the
survivor must take the killed worker's partitions over however fast the first batch went.
"""

from __future__ import annotations

import random
import secrets
import signal
import time
from typing import Any

import pytest
from support import count_keys, produce, skip_history, start_streams, streams_env, wait_until
from test_streams_datasets_e2e import Raw, _alerts, _denials, _outputs, _unique
from test_streams_datasets_e2e import samples as ocsf_samples

pytestmark = pytest.mark.e2e

DATASETS = {"audit_logs": 600, "access_requests": 600, "http_requests": 1800}


@pytest.mark.timeout(900)
def test_two_workers_one_killed_mid_run_complete_output_no_duplicates(stack, tmp_path):
    run = secrets.token_hex(4)
    raw = Raw(stack, run)
    rand = random.Random(11)
    messages, later, expected = [], [], {}
    for dataset, n in DATASETS.items():
        records = [_unique(dataset, r, run, i) for i, r in enumerate(ocsf_samples(dataset, n))]
        batch = [raw.message(dataset, r) for r in records]
        expected[dataset] = {m[1] for m in batch if m[1] is not None}
        second, batch = batch[: n // 4], batch[n // 4:]
        messages += batch + rand.sample(batch, n // 3)  # duplicates, later in the same partition
        later += second + rand.sample(batch, n // 10)  # new keys and duplicates of the first
    # six Access denials of one user: their keys spread over the partitions of both workers
    email = f"{run}-trudy@example.com"
    for message in _denials(raw, email, f"{run}t", "192.0.2.77", "2026-11-22T21:00"):
        messages.append(message)
        expected["access_requests"].add(message[1])
    rand.shuffle(messages)

    app_id = f"e2e-two-{run}"
    env = {**streams_env(stack, tmp_path, app_id), "STREAMS_DATASETS": ",".join(DATASETS)}
    skip_history(stack, app_id, [f"cloudflare.{d}.v1" for d in DATASETS])
    workers = [
        start_streams(tmp_path, {**env, "STREAMS_DATADIR": str(tmp_path / f"data-{n}")},
                      f"worker-{n}")
        for n in (0, 1)
    ]
    try:
        workers[0].wait_for("STREAMS READY", timeout_s=180)
        workers[1].wait_for("STREAMS READY", timeout_s=180)
        time.sleep(3)  # the second join's rebalance settles
        t0 = time.monotonic()
        produce(stack, messages)
        http = expected["http_requests"]
        wait_until(lambda: len(count_keys(stack, "siem.http_activity.v1", http)[0]) >= 50,
                   240, "some output", workers)
        workers[1].kill()  # kill -9 mid-run: its open transactions are aborted
        produce(stack, later)
        wanted = {d: dict.fromkeys(keys, 1) for d, keys in expected.items()}
        try:
            wait_until(lambda: _outputs(stack, wanted) == wanted, 300,
                       "every SIEM record once, from the surviving worker", workers[:1],
                       poll_s=3)
        except AssertionError:
            if workers[0].proc is not None:  # what is it waiting for: tasks and threads
                workers[0].proc.send_signal(signal.SIGUSR1)
                time.sleep(2)
            raise
        elapsed = time.monotonic() - t0
        time.sleep(3)
        got = _outputs(stack, wanted)
        for dataset in DATASETS:
            wrong = {k: n for k, n in got[dataset].items() if n != 1}
            assert not wrong, f"{dataset}: duplicated {list(wrong.items())[:5]}"
            assert set(got[dataset]) == expected[dataset], f"{dataset}: missing"

        def trudy() -> list[dict[str, Any]]:
            return [f for f in _alerts(stack, email)
                    if f["finding_info"]["analytic"]["uid"] == "cfkafka.auth.denials.user"]

        wait_until(lambda: bool(trudy()), 120, "the Access denials alert", workers[:1])
        time.sleep(2)
        assert len(trudy()) == 1
        rebalances = workers[0].output().count("tables caught up with their changelogs")
        print(f"TWO WORKERS E2E {len(messages) + len(later)} raw messages in {elapsed:.1f}s; "
              f"worker-0 restored its tables {rebalances} times")
        assert rebalances >= 2, "the survivor took the killed worker's partitions over"
    finally:
        for worker in workers:
            worker.stop()
