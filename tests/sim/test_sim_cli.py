"""`python -m sim` as a separate process: SIM READY line, serves, stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
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
