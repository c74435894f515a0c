"""One JSON record per unit of work, with its key and provenance.

Path: ``results/<budget>/<claim>/<level_id>__s<first>-<last>.json``. The key is a hash of everything
that determines the unit's outcome: the point's parameters, the claim's per-budget settings, the seed
shard, the device, the claim spec (the marker) and the code identity (the claim function's body and the
source of every harness module it imports, transitively: its agent, nn, envs, result). A record whose
key matches is reused; a missing, corrupt or stale one is recomputed, never used. Writes are atomic
(temporary file + rename), so an interrupted run leaves only whole records and resumes where it stopped.

Each claim directory also holds ``design.json``: the claim's full design at this budget (spec, levels,
shards, expected keys), written at collection, so that verdicts can be computed outside pytest.
"""
from __future__ import annotations

import ast
import datetime as _dt
import hashlib
import json
import os
import platform
import subprocess
import tempfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Sequence

from harness.result import RunResult, _jsonable

FORMAT = 1
PACKAGE_ROOT = Path(__file__).resolve().parent  # harness/


def canonical_hash(obj: Any, n: int = 16) -> str:
    """Stable short hash of a JSON-able object (sorted keys, no whitespace)."""
    text = json.dumps(_jsonable(obj), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def shard_label(seeds: Iterable[int]) -> str:
    s = list(seeds)
    return f"s{s[0]}-{s[-1]}"


def record_path(results: Path, budget: str, claim: str, level_id: str, seeds: Iterable[int]) -> Path:
    return Path(results) / budget / claim / f"{level_id}__{shard_label(seeds)}.json"


def unit_key(*, claim: str, params: dict, settings: dict, seeds: Iterable[int], device: str, spec_hash: str,
             code_hash: str) -> str:
    return canonical_hash({"claim": claim, "params": params, "settings": settings, "seeds": list(seeds),
                           "device": device, "spec": spec_hash, "code": code_hash}, n=32)


# --- code identity ----------------------------------------------------------------------------------------

def function_body_source(path: str | Path, function: str) -> str:
    """The claim function's source without its decorators (levels and marker are hashed elsewhere)."""
    tree = ast.parse(Path(path).read_text())
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == function:
            node.decorator_list = []
            return ast.unparse(node)
    raise LookupError(f"function {function!r} not found in {path}")


def _harness_imports(path: Path) -> set[Path]:
    """Files of harness modules imported by the source file at ``path`` (absolute and relative imports)."""
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    pkg = _module_name(path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level and pkg:
                parent = pkg.split(".")[: -node.level]
                base = ".".join(parent + ([base] if base else []))
            names.add(base)
            names.update(f"{base}.{a.name}" for a in node.names)
    files = set()
    for name in names:
        if name != "harness" and not name.startswith("harness."):
            continue
        rel = Path(*name.split("."))
        for cand in (PACKAGE_ROOT.parent / rel.with_suffix(".py"), PACKAGE_ROOT.parent / rel / "__init__.py"):
            if cand.exists():
                files.add(cand.resolve())
    return files


def _module_name(path: Path) -> str | None:
    try:
        rel = path.resolve().relative_to(PACKAGE_ROOT.parent)
    except ValueError:
        return None
    return ".".join(rel.with_suffix("").parts)


@lru_cache(maxsize=None)
def _closure(path: Path) -> tuple[Path, ...]:
    seen: set[Path] = set()
    todo = list(_harness_imports(path))
    while todo:
        f = todo.pop()
        if f in seen:
            continue
        seen.add(f)
        todo.extend(_harness_imports(f) - seen)
    return tuple(sorted(seen))


def code_identity(claim_path: str | Path, function: str) -> dict[str, Any]:
    """Hash of the claim function body and of every harness module it imports, transitively.

    The plugin, verdict and report modules are not imported by claims, so editing them never invalidates
    a record; editing an agent, ``nn``, ``envs`` or ``result`` does.
    """
    claim_path = Path(claim_path).resolve()
    files = {str(f.relative_to(PACKAGE_ROOT.parent)): hashlib.sha256(f.read_bytes()).hexdigest()[:16]
             for f in _closure(claim_path)}
    body = hashlib.sha256(function_body_source(claim_path, function).encode()).hexdigest()[:16]
    return {"hash": canonical_hash({"body": body, "files": files}), "body": body, "files": files}


# --- provenance ---------------------------------------------------------------------------------------------

def git_state(paths: Sequence[str] = ("harness", "claims")) -> dict[str, Any]:
    """Commit of the working tree and whether any of ``paths`` (relative to the project) differs from it
    (None outside git). Asked per record, so a commit made during a long run is seen."""
    def run(*args: str) -> str | None:
        try:
            return subprocess.run(["git", *args], capture_output=True, text=True, timeout=10,
                                  cwd=PACKAGE_ROOT.parent).stdout.strip() or None
        except (OSError, subprocess.SubprocessError):
            return None
    commit = run("rev-parse", "HEAD")
    dirty = run("status", "--porcelain", "--untracked-files=all", "--", *paths)
    return {"commit": commit, "dirty": bool(dirty) if commit else None}


def provenance(wall_time: float, paths: Sequence[str] = ("harness", "claims")) -> dict[str, Any]:
    """When and where a record was made; "dirty": one of ``paths`` (give the files that made the record: its
    claim and the harness modules the claim imports) differs from the commit."""
    import numpy
    versions = {"python": platform.python_version(), "numpy": numpy.__version__}
    for mod in ("torch", "gymnasium"):
        try:
            versions[mod] = __import__(mod).__version__
        except ImportError:
            pass
    return {"created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "host": platform.node(), "wall_time": round(wall_time, 3), "versions": versions,
            "git": git_state(paths)}


# --- read / write -------------------------------------------------------------------------------------------

@dataclass
class Record:
    key: str
    claim: str
    level_id: str
    params: dict[str, Any]
    seeds: list[int]
    budget: str
    device: str
    settings: dict[str, Any]
    spec_hash: str
    code: dict[str, Any]
    result: RunResult
    provenance: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "key": self.key, "claim": self.claim, "level_id": self.level_id,
                "params": _jsonable(self.params), "seeds": list(self.seeds), "budget": self.budget,
                "device": self.device, "settings": _jsonable(self.settings), "spec_hash": self.spec_hash,
                "code": self.code, "result": self.result.to_dict(), "provenance": self.provenance}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Record":
        if d.get("format") != FORMAT:
            raise ValueError(f"record format {d.get('format')!r}, expected {FORMAT}")
        fields = {k: d[k] for k in ("key", "claim", "level_id", "params", "seeds", "budget", "device",
                                    "settings", "spec_hash", "code")}
        return cls(**fields, result=RunResult.from_dict(d["result"]), provenance=d.get("provenance", {}))


@dataclass(frozen=True)
class Lookup:
    """The state of one expected record: ``status`` in ok | missing | corrupt | stale."""

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


def lookup(path: Path, key: str) -> Lookup:
    """Read the record at ``path`` and check it against the expected ``key``."""
    path = Path(path)
    if not path.exists():
        return Lookup(path, "missing")
    try:
        rec = Record.from_dict(json.loads(path.read_text()))
    except (ValueError, KeyError, TypeError) as e:  # json.JSONDecodeError is a ValueError
        return Lookup(path, "corrupt", detail=f"{type(e).__name__}: {e}")
    if rec.key != key:
        return Lookup(path, "stale", rec, detail=f"key {rec.key[:12]} != expected {key[:12]} (settings, seeds, "
                                               "device, claim spec or code changed)")
    return Lookup(path, "ok", rec)


def to_frame(records: Iterable[Record]):
    """One row per (record, member, metric): claim, level_id, params..., seed, metric, value, diverged."""
    import pandas as pd
    rows = []
    for rec in records:
        for m in rec.result.members:
            for metric, value in m.metrics.items():
                rows.append({"claim": rec.claim, "level_id": rec.level_id, **rec.params, "seed": m.seed,
                             "metric": metric, "value": value, "diverged": m.diverged,
                             "diverged_step": m.diverged_step, "env_steps": m.env_steps, "flops": m.flops,
                             "wall_time": m.wall_time})
    return pd.DataFrame(rows)
