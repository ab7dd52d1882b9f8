"""`python -m sim` as a separate process: SIM READY line, serves, stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_cli_ready_serve_and_sigterm():
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-m", "sim", "--port", "0", "--initial-events", "20",
         "--events-per-second", "0", "--seed", "3"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith("SIM READY http://127.0.0.1:"), line
        base_url = line.split()[-1]
        assert base_url.endswith("/client/v4")
        admin = base_url.removesuffix("/client/v4") + "/__sim"
        with urllib.request.urlopen(f"{admin}/health", timeout=5) as r:
            assert json.load(r)["events"] == 20
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        out, err = proc.communicate(timeout=5)
        assert out == "" and "Traceback" not in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def test_cli_limited_token_and_cursor_style():
    token = "R" * 40
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-m", "sim", "--port", "0", "--initial-events", "20",
         "--events-per-second", "0", "--limited-token", f"{token}=account_settings_read",
         "--audit-v2-cursor-style", "after"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )

    def get(url: str) -> tuple[int, dict]:
        req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.status, json.load(r)
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, json.load(exc)

    try:
        base_url = proc.stdout.readline().strip().split()[-1]
        acct = "0123456789abcdef0123456789abcdef"
        assert get(f"{base_url}/user/tokens/verify")[0] == 200
        status, body = get(f"{base_url}/accounts/{acct}/access/logs/access_requests")
        assert status == 403 and body["errors"][0]["code"] == 10000
        status, body = get(f"{base_url}/accounts/{acct}/logs/audit?since=2026-01-01"
                           "&before=2099-01-01&limit=5")
        assert status == 200 and body["result_info"]["cursors"]["after"]
        assert body["result_info"]["count"] == "5"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
