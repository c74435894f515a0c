"""--executor ray with a cluster that is not there: the harness's own message within 30 s, never Ray's minutes
of retries (a real cluster is exercised in test_execute.py)."""
from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("ray")

ROOT = Path(__file__).resolve().parents[1]
CONNECT = ("import sys\n"
           "from harness.execute import make_executor\n"
           "try:\n"
           "    make_executor('ray', 1, sys.argv[1])\n"
           "except RuntimeError as e:\n"
           "    print(e)\n"
           "    sys.exit(3)\n")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("address", ["127.0.0.1:{port}", "ray://127.0.0.1:{port}"])  # loopback: no DNS, no network
def test_an_unreachable_cluster_fails_within_30_s_with_the_harness_message(address):
    address = address.format(port=_closed_port())  # in the test: ids must not vary (pytest-xdist compares them)
    start = time.monotonic()
    # A process of its own, with a timeout: were the address to answer after all, ray.init would wait for minutes.
    r = subprocess.run([sys.executable, "-c", CONNECT, address], cwd=ROOT, capture_output=True, text=True,
                       timeout=120)
    took = time.monotonic() - start
    print(f"{address}: failed after {took:.1f} s")
    assert r.returncode == 3, r.stdout + r.stderr
    assert f"cannot reach the Ray cluster at {address}: TCP connect failed" in r.stdout, r.stdout + r.stderr
    assert took < 30, f"{took:.1f} s"
