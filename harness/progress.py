"""What the units of a run are doing, shown while they run: a live view on a terminal, plain lines in logs.

``Board`` holds the state of every unit to run (queued, running with its env steps and recent return,
finished), updated from any thread: executors call a unit's ``Watch`` when the unit starts and whenever its
agent reports progress (``harness.result.report_progress``, sent over the worker's pipe by the local pool).
``View`` draws the board, from the main thread only (the pytest plugin calls ``tick`` while an item waits,
with pytest's output capture suspended):

- on a terminal (and not under ``CI``): a rich live view of the pool below the log lines: units done / total,
  the overall ETA, and per running unit its claims and level, env steps, recent return, elapsed time and ETA;
  it is drawn only while an item waits, and removed before pytest writes its own output;
- otherwise (logs, CI, ``dvc repro`` into a file): a plain line when a unit starts or finishes, and a status
  line at most once a minute in between.

Display only: nothing here affects what a unit computes or records.
"""
from __future__ import annotations

import math
import os
import queue
import threading
import time
from dataclasses import dataclass
from typing import Callable

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

STATUS_EVERY_S = 60.0
"""Plain mode: the most often a status line is written between unit starts and finishes."""


def fmt_time(seconds: float | None) -> str:
    """3s, 4m05s, 2h10m; ? when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "?"
    seconds = int(round(max(seconds, 0.0)))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"


@dataclass
class UnitState:
    label: str
    estimate_s: float | None
    started: float | None = None
    finished: float | None = None
    failed: bool = False
    steps: int = 0
    total: int = 0
    recent_return: float | None = None

    def elapsed(self, now: float) -> float:
        return 0.0 if self.started is None else (self.finished or now) - self.started

    def remaining(self, now: float) -> float | None:
        """Seconds left: from the unit's own rate once it reports steps, else from its estimate."""
        if self.finished is not None:
            return 0.0
        if self.started is not None and self.steps > 0 and self.total > 0:
            return self.elapsed(now) * (self.total - self.steps) / self.steps
        if self.estimate_s is None:
            return None
        return max(self.estimate_s - self.elapsed(now), 0.0)


class Watch:
    """One unit's callback for executors: ``started()`` once, then ``watch(done, total, recent_return)``
    (the signature of ``harness.result.report_progress``)."""

    def __init__(self, board: "Board", key: str):
        self.board, self.key = board, key

    def started(self) -> None:
        self.board.started(self.key)

    def __call__(self, done: int, total: int, recent_return: float | None = None) -> None:
        self.board.progress(self.key, done, total, recent_return)


class Board:
    """Every unit of the run and its state; thread-safe. ``on_change`` is called (in the calling thread)
    after each update, so that a unit running in the main thread (one worker) can redraw the view."""

    def __init__(self, workers: int, clock: Callable[[], float] = time.perf_counter):
        self.workers = max(workers, 1)
        self.clock = clock
        self.t0 = clock()
        self.units: dict[str, UnitState] = {}
        self.lock = threading.Lock()
        self.events: queue.Queue[tuple[str, str]] = queue.Queue()
        """(kind, line) of units that started or finished, for the view to write (kind: started, finished)."""
        self.on_change: Callable[[], None] | None = None

    def add(self, key: str, label: str, estimate_s: float | None) -> Watch:
        with self.lock:
            self.units[key] = UnitState(label, estimate_s)
        return Watch(self, key)

    def started(self, key: str) -> None:
        with self.lock:
            u = self.units[key]
            u.started = self.clock()
        est = f" (expected {fmt_time(u.estimate_s)})" if u.estimate_s else ""
        self.events.put(("started", f"claims: started {u.label}{est}"))
        self._changed()

    def progress(self, key: str, done: int, total: int, recent_return: float | None) -> None:
        with self.lock:
            u = self.units[key]
            if u.started is None:
                u.started = self.clock()
            u.steps, u.total, u.recent_return = int(done), int(total), recent_return
        self._changed()

    def finished(self, key: str, line: str, failed: bool = False) -> None:
        with self.lock:
            u = self.units[key]
            u.finished, u.failed = self.clock(), failed
            if u.started is None:
                u.started = u.finished
        self.events.put(("finished", line))
        self._changed()

    def _changed(self) -> None:
        if self.on_change is not None:
            try:
                self.on_change()
            except Exception:  # noqa: BLE001 - display only: a drawing error must never stop a unit
                pass

    # --- what is shown -----------------------------------------------------------------------------------

    def counts(self) -> tuple[int, int, int, int]:
        """(finished, running, queued, total)."""
        with self.lock:
            states = list(self.units.values())
        done = sum(u.finished is not None for u in states)
        running = sum(u.started is not None and u.finished is None for u in states)
        return done, running, len(states) - done - running, len(states)

    def eta(self) -> float | None:
        """Seconds until every unit is done: the work left (running units' remaining time, queued units'
        estimates) spread over the workers, and at least the longest running unit's remaining time."""
        now = self.clock()
        with self.lock:
            left = [u.remaining(now) for u in self.units.values() if u.finished is None]
        if not left:
            return 0.0
        if None in left:
            return None
        return max(sum(left) / self.workers, max(left))  # type: ignore[arg-type]

    def running(self) -> list[UnitState]:
        with self.lock:
            return [u for u in self.units.values() if u.started is not None and u.finished is None]

    def status_line(self) -> str:
        done, running, queued, total = self.counts()
        now = self.clock()
        parts = []
        for u in self.running():
            steps = f" {u.steps}/{u.total} env steps" if u.total else ""
            ret = f", recent return {fmt_number(u.recent_return)}" if u.recent_return is not None else ""
            parts.append(f"{u.label}{steps}{ret}, {fmt_time(u.elapsed(now))} in")
        return (f"claims: {done}/{total} units done, {running} running, {queued} queued; "
                f"{fmt_time(now - self.t0)} elapsed, about {fmt_time(self.eta())} to go"
                + ("" if not parts else " | " + " | ".join(parts)))

    def table(self) -> Group:
        done, running, queued, total = self.counts()
        now = self.clock()
        head = Text.assemble(("claims ", "bold"), f"{done}/{total} units done · {running} running · {queued} queued"
                             f" · {fmt_time(now - self.t0)} elapsed · ETA {fmt_time(self.eta())}")
        t = Table(box=None, pad_edge=False, show_edge=False, header_style="dim")
        for name, kw in (("unit (claims, level, seeds)", {"overflow": "ellipsis", "no_wrap": True, "ratio": 1}),
                         ("env steps", {"justify": "right"}), ("", {}), ("recent return", {"justify": "right"}),
                         ("elapsed", {"justify": "right"}), ("ETA", {"justify": "right"})):
            t.add_column(name, **kw)
        for u in self.running():
            frac = u.steps / u.total if u.total else 0.0
            bar = "█" * int(round(20 * frac)) + "·" * (20 - int(round(20 * frac)))
            t.add_row(u.label, f"{u.steps:,}/{u.total:,}" if u.total else "starting", bar,
                      fmt_number(u.recent_return), fmt_time(u.elapsed(now)), fmt_time(u.remaining(now)))
        return Group(head, t)


def fmt_number(x: float | None) -> str:
    if x is None:
        return "—"
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"


class View:
    """Draws a Board: ``line`` and ``tick`` from the main thread only; ``write`` is where plain text goes
    (the plugin passes the terminal reporter's ``write_line``); ``live`` chooses the rich live view."""

    def __init__(self, board: Board, write: Callable[[str], None], live: bool,
                 console: Callable[[], Console] | None = None):
        self.board, self.write, self.live_mode = board, write, live
        self._console = console or (lambda: Console())
        self._live: Live | None = None
        self._last_status = board.clock()
        self._last_draw = 0.0

    @property
    def showing(self) -> bool:
        """Whether the live view is on the terminal now."""
        return self._live is not None

    @staticmethod
    def wants_live(isatty: bool) -> bool:
        return isatty and not os.environ.get("CI") and os.environ.get("TERM") != "dumb"

    def _events(self) -> list[tuple[str, str]]:
        out = []
        while not self.board.events.empty():
            out.append(self.board.events.get())
        return out

    def tick(self) -> None:
        """Write the lines of units that finished (and in plain mode started) since the last tick, then redraw
        the live view (at most twice a second), or in plain mode write a status line when a minute has passed
        without a line."""
        events = self._events()
        now = self.board.clock()
        if not self.live_mode:
            for _, line in events:
                self.write(line)
            if events:
                self._last_status = now
            elif now - self._last_status >= STATUS_EVERY_S and self.board.running():
                self.write(self.board.status_line())
                self._last_status = now
            return
        if self._live is None:
            self._live = Live(console=self._console(), auto_refresh=False, transient=True,
                              redirect_stdout=False, redirect_stderr=False)
            self._live.start()
        for kind, line in events:
            if kind == "finished":  # the table shows what started
                self._live.console.print(line, highlight=False, markup=False, soft_wrap=True)
        if events or now - self._last_draw >= 0.5:
            self._live.update(self.board.table(), refresh=True)
            self._last_draw = now

    def pause(self) -> None:
        """Remove the live view (before pytest writes its own output) and write the finished units' lines that
        came since the last tick; the next tick draws the view again."""
        if self._live is not None:
            self._live.stop()
            self._live = None
        for kind, line in self._events():
            if kind == "finished" or not self.live_mode:
                self.write(line)
