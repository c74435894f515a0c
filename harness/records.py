"""One JSON record per run, addressed by what was run.

A run is one call of an agent's ``train`` (harness.result.Plan: agent module, Config, seeds, device). Its
key is the hash of that call and of the agent's code identity (harness.identity: the agent's module and
every harness module it imports); the record lives at ``<results>/<budget>/runs/<agent>/<key>.json``. Two
claims that plan the same run share one record, and a record is never overwritten by a different run: a
change of settings, seeds, device or code gives a new key and a new file, and the old record stays until
``python -m harness gc`` removes the records no claim design refers to.

Each record carries a ``digest`` (sha256 of its canonical content without the digest): a record whose
digest does not match, or that is not a record, is ``corrupt`` and recomputed, never used. Writes are
atomic (temporary file + rename), so an interrupted run leaves only whole records.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import subprocess
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

from harness.result import Plan, RunResult, _jsonable

FORMAT = 2
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def canonical_json(obj: Any) -> str:
    return json.dumps(_jsonable(obj), sort_keys=True, separators=(",", ":"), default=str)


def canonical_hash(obj: Any, n: int = 16) -> str:
    """Stable short hash of a JSON-able object (sorted keys, no whitespace)."""
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()[:n]


def agent_name(module: str) -> str:
    """``harness.agents.sac`` -> ``sac``; a module outside harness.agents keeps its full name."""
    return module.rsplit(".", 1)[-1] if module.startswith("harness.agents.") else module


def run_key(plan: Plan, code_hash: str) -> str:
    """The hash of everything that determines a run's outcome."""
    return canonical_hash({"format": FORMAT, "agent": plan.agent, "config": asdict(plan.config),
                           "seeds": list(plan.seeds), "device": plan.device, "code": code_hash}, n=32)


def record_path(budget: str, agent: str, key: str) -> str:
    """The record's path relative to the results root."""
    return f"{budget}/runs/{agent_name(agent)}/{key}.json"


# --- provenance ---------------------------------------------------------------------------------------------

def git_state(paths: Sequence[str]) -> dict[str, Any]:
    """Commit of the working tree and whether the code of any of ``paths`` (relative to the project; docstrings
    and comments aside, as in harness.identity) differs from that commit (None outside git). Asked per record,
    so a commit made during a long run is seen."""
    from harness.identity import code_text

    def run(*args: str) -> subprocess.CompletedProcess | None:
        try:
            return subprocess.run(["git", *args], capture_output=True, text=True, timeout=10, cwd=PROJECT_ROOT)
        except (OSError, subprocess.SubprocessError):
            return None
    head = run("rev-parse", "HEAD")
    commit = head.stdout.strip() if head is not None and head.returncode == 0 else None
    if not commit:
        return {"commit": None, "dirty": None}
    dirty = False
    for path in paths:
        committed = run("show", f"{commit}:{path}")
        try:
            same = committed is not None and committed.returncode == 0 and (
                code_text(None, committed.stdout) == code_text(PROJECT_ROOT / path))
        except (OSError, SyntaxError, ValueError):
            same = False
        dirty = dirty or not same
    return {"commit": commit, "dirty": dirty}


def cpu_kind() -> str:
    """The kind of CPU a record is made on: its model and the vector instruction set torch's kernels use.
    numpy and torch pick their kernels by CPU, so floating-point results can differ in the last bits between
    kinds, and a training run that branches on them (a search's argmax, say) can go another way from there:
    bit-for-bit equality of a re-run holds on the CPU kind that made the record."""
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        pass
    try:
        import torch
        simd = torch.backends.cpu.get_cpu_capability()
    except (ImportError, AttributeError):
        simd = "unknown"
    return f"{model or platform.processor() or platform.machine()}; torch {simd}"


def provenance(wall_time: float, paths: Sequence[str], host: str | None = None) -> dict[str, Any]:
    """When and where a record was made; "dirty": one of ``paths`` (the files of the run's code identity)
    differs from the commit, so the record was made by uncommitted code."""
    import numpy
    versions = {"python": platform.python_version(), "numpy": numpy.__version__}
    for mod in ("torch", "gymnasium"):
        try:
            versions[mod] = __import__(mod).__version__
        except ImportError:
            pass
    return {"created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "host": host or platform.node(), "cpu": cpu_kind(), "wall_time": round(wall_time, 3), "versions": versions,
            "git": git_state(paths)}


# --- read / write -------------------------------------------------------------------------------------------

@dataclass
class Record:
    key: str
    agent: str
    config: dict[str, Any]
    seeds: list[int]
    device: str
    code: dict[str, Any]
    result: RunResult
    provenance: dict[str, Any] = field(default_factory=dict)
    """When, where and by which commit it was made, and ``made_for``: the claim unit that first asked for it."""

    def to_dict(self) -> dict[str, Any]:
        body = {"format": FORMAT, "key": self.key, "agent": self.agent, "config": _jsonable(self.config),
                "seeds": list(self.seeds), "device": self.device, "code": self.code,
                "result": self.result.to_dict(), "provenance": self.provenance}
        return {**body, "digest": digest(body)}

    @classmethod
    def from_dict(cls, d: Any) -> "Record":
        if not isinstance(d, dict):
            raise ValueError(f"a record is a JSON object, got {type(d).__name__}")
        if d.get("format") != FORMAT:
            raise ValueError(f"record format {d.get('format')!r}, expected {FORMAT}")
        body = {k: v for k, v in d.items() if k != "digest"}
        if d.get("digest") != digest(body):
            raise ValueError("its digest does not match its content (edited or damaged)")
        fields = {k: d[k] for k in ("key", "agent", "config", "seeds", "device", "code")}
        return cls(**fields, result=RunResult.from_dict(d["result"]), provenance=d.get("provenance", {}))


def digest(body: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(body).encode()).hexdigest()


@dataclass(frozen=True)
class Lookup:
    """The state of one expected record: ``status`` in ok | missing | corrupt."""

    path: Path
    status: str
    record: Record | None = None
    detail: str = ""


def atomic_write_json(path: Path, obj: Any) -> None:
    """Write JSON to ``path`` so that readers see the old file or the whole new one, never a part."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(_jsonable(obj), f, indent=1, sort_keys=False, allow_nan=False)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_record(path: Path, record: Record) -> None:
    atomic_write_json(path, record.to_dict())


def file_digest(path: Path) -> str | None:
    """sha256 of a file's bytes (None if it does not exist): how a claim design pins the records it read."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except FileNotFoundError:
        return None


def lookup(path: Path, key: str) -> Lookup:
    """Read the record at ``path`` and check that it is a whole, unedited record of the run ``key``."""
    path = Path(path)
    if not path.exists():
        return Lookup(path, "missing")
    try:
        rec = Record.from_dict(json.loads(path.read_text()))
    except (ValueError, KeyError, TypeError, OSError) as e:  # json.JSONDecodeError is a ValueError
        return Lookup(path, "corrupt", detail=f"{type(e).__name__}: {e}")
    if rec.key != key:
        return Lookup(path, "corrupt", detail=f"it holds the run {rec.key[:12]}, not {key[:12]}")
    return Lookup(path, "ok", rec)
