"""The progress view: the board's arithmetic, plain lines for logs, the rich live view, and progress sent by
worker processes over their pipe."""
from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from rich.console import Console

from harness.agents import toy
from harness.execute import LocalExecutor, SerialExecutor, Unit
from harness.progress import STATUS_EVERY_S, Board, View, fmt_time
from harness.result import Plan


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def board_of_three(clock: Clock) -> Board:
    b = Board(workers=2, clock=clock)
    for key, est in (("a", 100.0), ("b", 60.0), ("c", 40.0)):
        b.add(key, f"claim_x level_{key} seeds [0, 1]", est)
    return b


def test_eta_uses_a_units_own_rate_once_it_reports_steps():
    clock = Clock()
    b = board_of_three(clock)
    assert b.counts() == (0, 0, 3, 3)
    assert b.eta() == 100.0  # (100 + 60 + 40) / 2 workers, and no less than the longest unit
    b.started("a")
    clock.t += 10
    b.progress("a", 250, 1000, -12.5)  # a quarter in 10 s: 30 s to go, not the estimate's 90
    assert b.units["a"].remaining(clock()) == 30.0
    assert b.eta() == (30 + 60 + 40) / 2
    b.finished("a", "done a")
    assert b.counts() == (1, 0, 2, 3)
    assert b.eta() == 60.0  # the longest left
    b.add("d", "unknown", None)
    assert b.eta() is None and fmt_time(b.eta()) == "?"


def test_plain_mode_writes_starts_finishes_and_a_status_line_at_most_once_a_minute():
    clock = Clock()
    b = board_of_three(clock)
    out: list[str] = []
    v = View(b, out.append, live=False)
    b.started("a")
    v.tick()
    assert out == ["claims: started claim_x level_a seeds [0, 1] (expected 1m40s)"]
    for _ in range(5):  # progress arrives, and ticks come often: no line before a minute
        clock.t += STATUS_EVERY_S / 6
        b.progress("a", 100, 1000, 3.0)
        v.tick()
    assert len(out) == 1
    clock.t += STATUS_EVERY_S / 6
    v.tick()
    assert len(out) == 2 and out[1].startswith("claims: 0/3 units done, 1 running, 2 queued; 1m00s elapsed")
    assert "claim_x level_a seeds [0, 1] 100/1000 env steps, recent return 3, 1m00s in" in out[1]
    b.finished("a", "claims: [1/3] a finished")
    v.pause()  # plain mode: pause writes what came meanwhile
    assert out[-1] == "claims: [1/3] a finished"


def test_live_mode_draws_the_pool_and_keeps_only_finished_lines():
    clock = Clock()
    b = board_of_three(clock)
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=140, color_system=None)
    v = View(b, lambda line: buf.write("PLAIN " + line + "\n"), live=True, console=lambda: console)
    b.started("a")
    clock.t += 5
    b.progress("a", 1000, 4000, 250.0)
    v.tick()
    text = buf.getvalue()
    assert "0/3 units done · 1 running · 2 queued" in text
    assert "claim_x level_a seeds [0, 1]" in text and "1,000/4,000" in text and "250" in text
    assert "started claim_x" not in text  # the table shows what runs
    b.finished("a", "claims: [1/3] a finished in 5s")
    v.tick()
    v.pause()
    assert "claims: [1/3] a finished in 5s" in buf.getvalue()
    assert "PLAIN" not in buf.getvalue()


def test_a_display_error_never_stops_a_unit():
    b = Board(workers=1)
    watch = b.add("k", "k", 1.0)

    def broken():
        raise RuntimeError("terminal gone")
    b.on_change = broken
    r = SerialExecutor().submit(Unit("k", Plan("harness.agents.toy", toy.Config(steps=10, sleep=0.05), (0,), "cpu")),
                                watch).result()
    assert r["members"][0]["env_steps"] == 10 and b.units["k"].steps == 10


class Recorder:
    def __init__(self):
        self.calls: list[tuple] = []

    def started(self):
        self.calls.append(("started",))

    def __call__(self, done, total, recent_return=None):
        self.calls.append((done, total, recent_return))


def test_worker_processes_send_start_and_progress_to_the_driver():
    ex = LocalExecutor(1)
    rec = Recorder()
    try:
        unit = Unit("k", Plan("harness.agents.toy", toy.Config(steps=100, sleep=2.5), (0,), "cpu"))
        result = ex.submit(unit, rec).result(timeout=120)
    finally:
        ex.shutdown()
    assert result["members"][0]["env_steps"] == 100
    assert rec.calls[0] == ("started",)
    steps = [c[0] for c in rec.calls[1:]]
    assert 2 <= len(steps) <= 6  # ten reports in 2.5 s, sent at most once a second, and the last one
    assert steps == sorted(steps) and rec.calls[-1] == (100, 100, 9.0)


def test_a_claim_run_into_a_log_shows_each_unit_start_and_finish(tmp_path):
    """As in CI or `dvc repro > log`: no terminal, plain lines, in the order units start and finish."""
    toy_dir = Path(__file__).parent / "toy"
    (tmp_path / "claims").mkdir()
    (tmp_path / "params.yaml").write_text((toy_dir / "params.yaml").read_text().replace(
        "quick: {steps: 8,", "quick: {sleep: 1.5, steps: 8,"))
    (tmp_path / "claims" / "test_toy_trend.py").write_text((toy_dir / "claims" / "test_toy_trend.py").read_text())
    env = {**os.environ, "CI": "true", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    r = subprocess.run([sys.executable, "-m", "pytest", "claims", "--budget", "quick", "--no-verdicts",
                        "--workers", "2", "-k", "size1 or size8", "-p", "no:cacheprovider"],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = [line for line in r.stdout.splitlines() if line.startswith("claims: ")]
    starts = [line for line in lines if line.startswith("claims: started ")]
    finishes = [line for line in lines if "finished in" in line]
    assert len(starts) == len(finishes) == 4, textwrap.indent(r.stdout, "  ")  # 2 levels x 2 seed shards
    assert finishes[-1].startswith("claims: [4/4] ") and "about 0s to go" in finishes[-1]
