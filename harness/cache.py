"""Directories built once and shared: ``built(root, key, build)`` returns ``root/key``, building it first if absent.

The cached artifacts (pretrained LMs, harness/lm.py) are named by a hash of their config and code, so a
directory that exists is the right one. It counts as built once its ``card.json`` exists: ``build`` writes into a
temporary directory beside it, which is renamed into place only when complete (a crash leaves no half-built
artifact), and a file lock makes a second process wait for the first one's build and then reuse it.
harness/offline.py still holds its own copy of this logic, to move here at its next re-key (moving it changes
the datasets' code identity).
"""
from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable


def built(root: Path, key: str, build: Callable[[Path], None]) -> Path:
    """``root/key``, built by ``build(directory)`` first unless its ``card.json`` exists (waiting on a lock while
    another process builds it)."""
    path = root / key
    if not (path / "card.json").exists():
        root.mkdir(parents=True, exist_ok=True)
        with open(root / f".{key}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (path / "card.json").exists():
                tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".{key}."))
                try:
                    build(tmp)
                    os.replace(tmp, path)
                except BaseException:
                    shutil.rmtree(tmp, ignore_errors=True)
                    raise
    return path
