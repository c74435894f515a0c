"""Where units of work run: the ``Executor`` interface and its serial implementation.

A ``Unit`` is everything needed to run one (claim, level, seed shard) in any process: the claim file and
function, the point's parameters, the seeds and the per-budget settings. ``run_unit`` imports the claim
file, calls the claim function with the plugin's fixtures and returns the RunResult as a dict. Executors
only run units; the driver (the pytest plugin) alone reads and writes records and computes verdicts.
"""
from __future__ import annotations

import importlib.util
import sys
import time
from abc import ABC, abstractmethod
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from harness.result import RunResult, set_progress_sink

FIXTURES = ("seeds", "settings", "budget", "device", "record")  # what a claim function may ask for


@dataclass(frozen=True)
class Unit:
    """One (claim, level, seed shard): picklable, so that it can run in another process."""

    claim: str
    path: str
    """Absolute path of claims/test_<claim>.py."""
    function: str
    level_id: str
    """The point's pytest id without the shard, e.g. ``width64``."""
    params: dict[str, Any]
    """The point's parametrized arguments, e.g. ``{"width": 64}``."""
    seeds: tuple[int, ...]
    settings: dict[str, Any]
    budget: str
    device: str
    estimate_s: float | None = field(default=None, compare=False)
    """Expected seconds, when known (for scheduling and ETA)."""


def load_function(path: str, name: str) -> Callable[..., Any]:
    """The claim function, reusing the module pytest imported when it is loaded in this process."""
    resolved = str(Path(path).resolve())
    for mod in list(sys.modules.values()):
        if getattr(mod, "__file__", None) and str(Path(mod.__file__).resolve()) == resolved:
            return getattr(mod, name)
    mod_name = f"_claim_{Path(path).stem}"
    spec = importlib.util.spec_from_file_location(mod_name, resolved)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import claim file {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    spec.loader.exec_module(module)
    return getattr(module, name)


def run_unit(unit: Unit, progress: Callable[..., None] | None = None) -> dict[str, Any]:
    """Run one unit in this process (one torch thread) and return its RunResult as a dict."""
    import torch

    from harness.budget import Settings

    torch.set_num_threads(1)
    fn = load_function(unit.path, unit.function)
    captured: list[RunResult] = []

    def record(result: RunResult) -> None:
        if not isinstance(result, RunResult):
            raise TypeError(f"record() takes the RunResult that an agent's train() returns, got {type(result).__name__}")
        captured.append(result)

    fixtures = {"seeds": list(unit.seeds), "settings": Settings(f"claims.{unit.claim}.{unit.budget}", unit.settings),
                "budget": unit.budget, "device": unit.device, "record": record}
    import inspect
    wanted = inspect.signature(fn).parameters
    kwargs = {**unit.params, **{k: v for k, v in fixtures.items() if k in wanted}}
    previous = set_progress_sink(progress)
    start = time.perf_counter()
    try:
        fn(**kwargs)
    finally:
        set_progress_sink(previous)
    if len(captured) != 1:
        raise RuntimeError(f"{Path(unit.path).name}::{unit.function} called record() {len(captured)} times; "
                           "a claim function must call record(result) exactly once")
    out = captured[0].to_dict()
    out["_wall_time"] = time.perf_counter() - start
    return out


class Executor(ABC):
    """Runs units and returns futures of their RunResult dicts. Implementations: serial (here); a process
    pool and Ray come later without any change to claims, records or verdicts."""

    @abstractmethod
    def submit(self, unit: Unit, progress: Callable[..., None] | None = None) -> "Future[dict[str, Any]]":
        ...

    def shutdown(self) -> None:
        pass


class SerialExecutor(Executor):
    """Runs each unit in the calling process when it is submitted."""

    def submit(self, unit: Unit, progress: Callable[..., None] | None = None) -> "Future[dict[str, Any]]":
        fut: Future = Future()
        try:
            fut.set_result(run_unit(unit, progress))
        except BaseException as e:  # noqa: BLE001 - the future carries it to the driver
            if isinstance(e, KeyboardInterrupt):
                raise
            fut.set_exception(e)
        return fut


def make_executor(name: str = "serial") -> Executor:
    if name == "serial":
        return SerialExecutor()
    raise ValueError(f"unknown executor {name!r}; available: serial")
