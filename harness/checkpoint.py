"""Resumable units: an agent's whole training state saved at a bounded interval, and resumed bit for bit.

The harness runs each unit inside ``saving(path, every_s)`` (harness/execute.py ``run_unit``; the path is
``results/<budget>/.checkpoints/<record key>.ckpt``, never committed, removed once the record is written).
An agent that supports resuming does, in its ``train``::

    ckpt = checkpoint.current()
    state = ckpt.load()                 # None: start from scratch
    ...                                 # else restore every object of ``state`` and continue after its step
    for step in ...:
        ...
        if ckpt.due():
            ckpt.save({"step": step, "net": net, "opt": opt, "envs": envs, ...})

``state`` holds the live objects themselves (modules, optimizers, replay buffers, environments, random
generators, the curve so far), pickled together in one file, so objects shared between them stay shared
and every random stream continues where it stopped: a resumed unit returns the record an uninterrupted one
would, bit for bit on CPU (tests/test_checkpoint.py kills a worker at a random point, per agent). The record
key names the code and the run, so a checkpoint written by other code or for another run is never read.

Outside ``saving`` (tests, notebooks, ``verify``) ``current()`` is a store that never saves and loads
nothing: training is unchanged. Checkpoints are pickles that this machine wrote for itself: load one only
from a results directory you trust (as with any pickle).
"""
from __future__ import annotations

import math
import os
import pickle
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

SUFFIX = ".ckpt"


class Checkpoint:
    """The checkpoint of one running unit: ``load`` once at the start, then ``save`` whenever ``due``."""

    def __init__(self, path: str | os.PathLike | None = None, every_s: float = math.inf):
        if every_s < 0:
            raise ValueError(f"a checkpoint interval must be >= 0 seconds, got {every_s}")
        self.path = None if path is None else Path(path)
        self.every_s = every_s
        self.saves = 0
        self.resumed_step: int | None = None
        """The ``step`` of the state ``load`` returned (None: the unit started from scratch)."""
        self._last = time.monotonic()

    def load(self) -> dict[str, Any] | None:
        """The saved state, or None when there is none. A file that is not a checkpoint (damaged, or written
        by another Python) is reported on stderr and removed, and training starts afresh."""
        if self.path is None or not self.path.is_file():
            return None
        try:
            with open(self.path, "rb") as f:
                state = pickle.load(f)
            if not isinstance(state, dict) or "step" not in state:
                raise ValueError("not a checkpoint (no 'step')")
        except Exception as e:  # noqa: BLE001 - any unreadable file means: start again
            print(f"checkpoint {self.path} is unreadable ({type(e).__name__}: {e}); removed, the unit starts "
                  "from scratch", file=sys.stderr)
            self.clear()
            return None
        self.resumed_step = int(state["step"])
        self._last = time.monotonic()
        return state

    def due(self) -> bool:
        """True when a save is wanted now (``every_s`` seconds since the last save, the load or the start)."""
        return self.path is not None and time.monotonic() - self._last >= self.every_s

    def save(self, state: dict[str, Any]) -> None:
        """Write ``state`` (with its ``step``) atomically: a crash mid-write leaves the previous checkpoint."""
        if self.path is None:
            return
        if "step" not in state:
            raise ValueError("a checkpoint state needs its 'step' (where training continues after it)")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                pickle.dump(state, f, protocol=pickle.HIGHEST_PROTOCOL)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self.saves += 1
        self._last = time.monotonic()

    def clear(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)


_current = Checkpoint()


def current() -> Checkpoint:
    """The checkpoint of the unit this process is running (a store that never saves outside ``saving``)."""
    return _current


@contextmanager
def saving(path: str | os.PathLike | None, every_s: float) -> Iterator[Checkpoint]:
    """Within this block, agents resume from and save to ``path`` every ``every_s`` seconds."""
    global _current
    previous, _current = _current, Checkpoint(path, every_s)
    try:
        yield _current
    finally:
        _current = previous
