"""Code identity: the one function that says which source files a result depends on.

A training record depends on its agent's module and on every harness module that module imports,
transitively (``training_files``); an offline dataset on ``harness/offline.py`` and its imports. Record
keys (harness/records.py), the offline dataset key (harness/offline.py) and the DVC pipeline's stage
dependencies (checked by tests/test_project.py) all come from here, so they cannot disagree.

A file's hash is that of its syntax tree without docstrings (``code_text``): editing a comment or a docstring
never makes a record stale. Statistics and presentation (``STATISTICS``) never appear in a training closure: editing a power-law fit
or the report never makes a record stale. tests/test_identity.py checks that, for every agent.
"""
from __future__ import annotations

import ast
import hashlib
import importlib.util
import io
import tokenize
from functools import lru_cache
from pathlib import Path
from typing import Any

PACKAGE_ROOT = Path(__file__).resolve().parent  # harness/
PROJECT_ROOT = PACKAGE_ROOT.parent

STATISTICS = ("trend", "scaling", "verdict", "report", "cli", "plugin", "claim", "design", "records", "execute",
              "budget", "identity")
"""Harness modules that judge, present or drive runs: never part of what a run computed."""


def _module_name(path: Path) -> str | None:
    try:
        rel = path.resolve().relative_to(PROJECT_ROOT)
    except ValueError:
        return None
    return ".".join(rel.with_suffix("").parts)


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
        for cand in (PROJECT_ROOT / rel.with_suffix(".py"), PROJECT_ROOT / rel / "__init__.py"):
            if cand.exists():
                files.add(cand.resolve())
    return files


@lru_cache(maxsize=None)
def closure(path: Path) -> tuple[Path, ...]:
    """The source file at ``path`` and every harness module it imports, transitively (sorted)."""
    path = Path(path).resolve()
    seen: set[Path] = {path}
    todo = list(_harness_imports(path))
    while todo:
        f = todo.pop()
        if f in seen:
            continue
        seen.add(f)
        todo.extend(_harness_imports(f) - seen)
    seen.discard(Path(__file__).resolve())  # offline.py asks for its own key: this module computes no result
    return tuple(sorted(seen))


def module_file(module: str) -> Path:
    """The source file of an importable module (e.g. ``harness.agents.sac``), without importing it."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise ImportError(f"cannot find the module {module!r}")
    return Path(spec.origin).resolve()


def relative(path: Path) -> str:
    """A path relative to the project root where it lies inside it (as records and dvc.yaml name files)."""
    try:
        return Path(path).resolve().relative_to(PROJECT_ROOT).as_posix()
    except ValueError:
        return Path(path).resolve().as_posix()


def training_files(module: str) -> tuple[str, ...]:
    """The files a run of the agent ``module`` depends on, relative to the project root."""
    return tuple(relative(p) for p in closure(module_file(module)))


def code_text(path: Path | None, source: str | None = None) -> str:
    """What of a Python file (or of ``source``) can change a result: its source without docstrings, comments
    and blank lines (so editing those keeps every record valid). Text, not a syntax-tree dump, so that it
    reads the same under every Python version."""
    source = Path(path).read_text() if source is None else source
    lines = source.splitlines()
    cut: list[tuple[int, int, int, int]] = []  # (start line, start col, end line, end col), 1-based lines
    for node in ast.walk(ast.parse(source)):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            d = body[0]
            cut.append((d.lineno, d.col_offset, d.end_lineno, d.end_col_offset))
        for field in ("body", "orelse", "finalbody"):  # attribute docstrings: a string alone after a statement
            for stmt in (getattr(node, field, None) or [])[1:] if isinstance(getattr(node, field, None), list) else []:
                if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str):
                    cut.append((stmt.lineno, stmt.col_offset, stmt.end_lineno, stmt.end_col_offset))
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            cut.append((tok.start[0], tok.start[1], tok.end[0], tok.end[1]))
    for l0, c0, l1, c1 in sorted(cut, reverse=True):
        head, tail = lines[l0 - 1][:c0], lines[l1 - 1][c1:]
        lines[l0 - 1:l1] = [head + tail]
    return "\n".join(line.rstrip() for line in lines if line.strip())


def file_hashes(files: tuple[str, ...] | list[str]) -> dict[str, str]:
    """File -> hash of its ``code_text``."""
    return {f: hashlib.sha256(code_text(PROJECT_ROOT / f).encode()).hexdigest()[:16] for f in files}


def code_identity(module: str) -> dict[str, Any]:
    """``{"hash", "files"}``: the hash of every file in the training closure of ``module``."""
    files = file_hashes(training_files(module))
    text = ",".join(f"{k}={v}" for k, v in sorted(files.items()))
    return {"hash": hashlib.sha256(text.encode()).hexdigest()[:16], "files": files}
