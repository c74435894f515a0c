"""Where units of work run: the ``Executor`` interface, in this process, in a local pool, or on Ray.

A ``Unit`` is one planned run (harness.result.Plan: the agent module, its Config, the seeds and the device)
with its record key: everything needed to run it in any process. ``run_unit`` imports the agent, calls its
``train`` and returns the RunResult as a dict. Executors only run units; the driver (the pytest plugin, or
``python -m harness verify``) alone reads and writes records and computes verdicts.

Chosen with ``--executor {local,ray}`` and ``--workers N`` (``make_executor``): ``local`` with one worker
runs each unit in the pytest process (``SerialExecutor``); with more, a pool of spawned processes
(``LocalExecutor``); ``ray`` submits Ray tasks (``RayExecutor``, the optional ``ray`` extra).
"""
from __future__ import annotations

import dataclasses
import heapq
import importlib
import math
import multiprocessing as mp
import os
import pickle
import platform
import signal
import sys
import threading
import time
import traceback
import warnings
from abc import ABC, abstractmethod
from concurrent.futures import Future
from dataclasses import dataclass, field
from multiprocessing import connection as mp_connection
from multiprocessing.connection import Connection
from typing import Any, Callable

from harness import checkpoint
from harness.budget import ParamsError
from harness.result import Plan, RunResult, set_progress_sink


@dataclass(frozen=True)
class Unit:
    """One planned run and its record key: picklable, so that it can run in another process."""

    key: str
    plan: Plan
    label: str = field(default="", compare=False)
    """How messages name the unit: the claims and levels that asked for it, and its seeds."""
    estimate_s: float | None = field(default=None, compare=False)
    """Expected seconds, when known (for scheduling and ETA)."""
    order: int = field(default=0, compare=False)
    """The level's position in its claim's declared sweep (a proxy for cost among a claim's units)."""
    checkpoint: str | None = field(default=None, compare=False)
    """Where the unit saves and resumes its training state (harness.checkpoint), for agents that support it;
    None: nowhere (``verify`` recomputes from scratch)."""
    checkpoint_every_s: float = field(default=math.inf, compare=False)
    """Seconds between checkpoint saves."""

    @property
    def device(self) -> str:
        return self.plan.device


def rebuilt(config: Any) -> Any:
    """The Config constructed again in this process, nested dataclasses included: unpickling skips
    ``__post_init__``, whose checks (and side effects, such as registering an environment family) must run
    where the unit runs, exactly as they ran where the claim was planned."""
    if not dataclasses.is_dataclass(config) or isinstance(config, type):
        return config
    values = {f.name: rebuilt(getattr(config, f.name)) for f in dataclasses.fields(config) if f.init}
    return type(config)(**values)


MUJOCO_SILENCED = ("compiler attribute 'settotalmass' is deprecated",)
"""MuJoCo warnings that say nothing about a run: gymnasium's half_cheetah.xml sets settotalmass, which MuJoCo 4.0
still applies (total mass 14) but deprecates, once for every HalfCheetah env made."""


class MujocoWarning(UserWarning):
    """A warning of the MuJoCo engine (an unstable simulation, say), issued through Python's warnings."""


def route_mujoco_warnings() -> None:
    """MuJoCo's warnings as Python warnings (``MujocoWarning``), except ``MUJOCO_SILENCED``: by default MuJoCo
    prints each one to stderr and appends it to MUJOCO_LOG.TXT in the current directory (the project root).
    MuJoCo's handler is per process (spawned workers and Ray workers do not inherit it); nothing happens
    without mujoco. Display only: it changes no computation."""
    try:
        import mujoco
    except ImportError:
        return

    def warn(message: str) -> None:  # called from MuJoCo's C code, where an exception aborts the process
        if any(s in message for s in MUJOCO_SILENCED):
            return
        try:
            warnings.warn(message, MujocoWarning, stacklevel=2)
        except Exception:  # warnings turned into errors (-W error): say it all the same
            print(f"MuJoCo warning: {message}", file=sys.stderr)
    mujoco.set_mju_user_warning(warn)


def run_unit(unit: Unit, progress: Callable[..., None] | None = None) -> dict[str, Any]:
    """Run one unit in this process (one torch thread) and return its RunResult as a dict."""
    route_mujoco_warnings()
    module = importlib.import_module(unit.plan.agent)
    config = rebuilt(unit.plan.config)
    if "torch" in sys.modules:  # the agent uses torch (one thread per process: units run in parallel processes)
        sys.modules["torch"].set_num_threads(1)
    previous = set_progress_sink(progress)
    start = time.perf_counter()
    try:
        with checkpoint.saving(unit.checkpoint, unit.checkpoint_every_s) as ckpt:
            result = module.train(config, list(unit.plan.seeds), unit.plan.device)
    finally:
        set_progress_sink(previous)
    if not isinstance(result, RunResult):
        raise TypeError(f"{unit.plan.agent}.train returned {type(result).__name__}, not a RunResult")
    out = result.to_dict()
    out["_wall_time"] = time.perf_counter() - start
    out["_host"] = platform.node()
    out["_resumed_step"] = ckpt.resumed_step
    return out


class UnitFailed(RuntimeError):
    """A unit raised where it ran; ``brief()`` is what a user needs (the exception and the innermost frame of the
    project's code), ``details`` the whole traceback of the process that ran it."""

    def __init__(self, message: str, details: str = ""):
        super().__init__(message)
        self.details = details

    def brief(self) -> str:
        lines = [line for line in self.details.rstrip().splitlines() if line.strip()]
        frames = [i for i, line in enumerate(lines) if line.lstrip().startswith('File "')]
        ours = [i for i in frames if f"{os.sep}harness{os.sep}" in lines[i] and f"{os.sep}execute.py" not in lines[i]]
        if not frames:
            return str(self)
        where = ours[-1] if ours else frames[-1]
        frame = lines[where].strip()
        code = lines[where + 1].strip() if where + 1 < len(lines) and where + 1 not in frames else ""
        error = "\n".join(line for line in lines[frames[-1] + 1:] if not line.startswith(" "))
        return f"{self}: {error.strip()}\n  {frame}\n    {code}".rstrip()


class WorkerDied(RuntimeError):
    """The process running a unit died (killed, out of memory) more often than the retries allow."""


class Executor(ABC):
    """Runs units and returns futures of their RunResult dicts. The driver (the pytest plugin) submits every
    missing unit up front, longest first, and writes each record from a done-callback as its unit finishes.

    Implementations: ``SerialExecutor`` (in this process, when the unit's item runs), ``LocalExecutor`` (a
    pool of spawned worker processes on this machine) and ``RayExecutor`` (tasks on a Ray cluster). None of
    them changes what a unit computes: records, keys and verdicts are the same whichever ran them.
    """

    parallel = True
    """False: units run when their item asks for them (``submit`` blocks), so nothing is submitted up front."""

    @abstractmethod
    def submit(self, unit: Unit, progress: Callable[..., None] | None = None) -> "Future[dict[str, Any]]":
        ...

    def shutdown(self, cancel: bool = False) -> None:
        """Release workers; ``cancel`` drops units not yet finished (Ctrl-C) instead of waiting for them."""


def _notify(watch: Any, event: str | None, *args: Any) -> None:
    """Tell a unit's watcher (harness.progress.Watch, or any callable taking (done, total, recent_return))
    that the unit started (``event="started"``, when the watcher has ``started``) or made progress. Display
    only: an error in it must never stop a unit or the dispatcher."""
    if watch is None:
        return
    try:
        if event == "started":
            if hasattr(watch, "started"):
                watch.started()
        else:
            watch(*args)
    except Exception:  # noqa: BLE001
        pass


class SerialExecutor(Executor):
    """Runs each unit in the calling process when it is submitted (``--workers 1``)."""

    parallel = False

    def submit(self, unit: Unit, progress: Callable[..., None] | None = None) -> "Future[dict[str, Any]]":
        fut: Future = Future()
        try:
            _notify(progress, "started")
            fut.set_result(run_unit(unit, progress))
        except BaseException as e:  # noqa: BLE001 - the future carries it to the driver
            if isinstance(e, KeyboardInterrupt):
                raise
            fut.set_exception(e if isinstance(e, ParamsError) else
                              UnitFailed(f"{unit.label} raised", traceback.format_exc()))
        return fut


def longest_first(unit: Unit) -> tuple[float, int]:
    """Sort key that submits the longest expected units first: ``estimate_s``, and within a claim (whose units
    share one estimate) later levels of the sweep first, since sweeps are declared from the cheapest level
    to the most expensive. Python's sort is stable, so ties keep the collection order."""
    return (-(unit.estimate_s or 0.0), -unit.order)


# --- local process pool ----------------------------------------------------------------------------------

def _exit_with_parent(parent: int) -> None:
    """Exit this worker at once when the driver dies (even by SIGKILL): an orphan must not go on running."""
    while os.getppid() == parent:
        time.sleep(0.2)
    os._exit(1)


PROGRESS_EVERY_S = 1.0
"""The most often a worker sends its unit's progress to the driver."""


def _progress_sender(conn: Connection) -> Callable[..., None]:
    """The progress sink of a worker: the agent's ``report_progress`` calls, at most one a second, sent to the
    driver as ("progress", done, total, recent_return)."""
    last = [0.0]

    def send(done: int, total: int, recent_return: float | None = None) -> None:
        now = time.perf_counter()
        if now - last[0] >= PROGRESS_EVERY_S or done >= total:
            last[0] = now
            conn.send(("progress", int(done), int(total), None if recent_return is None else float(recent_return)))
    return send


def _worker_main(conn: Connection, parent: int) -> None:
    """A worker process: run the units the driver sends until it sends None or goes away."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle: it stops the pool
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()
    while True:
        try:
            unit = conn.recv()
        except (EOFError, OSError):  # the driver is gone
            return
        if unit is None:
            return
        try:
            reply: tuple = ("ok", run_unit(unit, _progress_sender(conn)))
        except BaseException as e:  # noqa: BLE001 - sent to the driver, which fails the unit's point
            tb = traceback.format_exc()
            try:
                pickle.dumps(e)
            except Exception:  # an exception that cannot travel: send its text
                e = UnitFailed(f"{type(e).__name__}: {e}")
            reply = ("error", e, tb)
        conn.send(reply)


@dataclass
class _Worker:
    process: Any
    conn: Connection
    task: "_Task | None" = None


@dataclass(order=True)
class _Task:
    rank: int
    unit: Unit = field(compare=False)
    future: Future = field(compare=False)
    attempts: int = field(default=0, compare=False)
    watch: Any = field(default=None, compare=False)


class LocalExecutor(Executor):
    """A pool of ``workers`` processes on this machine, started with ``spawn`` (never fork: forking after
    torch has started threads can deadlock), each with one torch thread.

    A dispatcher thread in the driver hands queued units to idle workers (in submission order, which the
    plugin makes longest-first) and resolves each unit's future when its worker replies. A worker that
    dies while running a unit (SIGKILL, out of memory) is replaced and the unit is run again, at most
    ``retries`` more times; then its future fails with ``WorkerDied``. Other units and their futures are
    not affected. A unit that raises fails its future at once (a Python error is deterministic: no retry).
    """

    def __init__(self, workers: int, retries: int = 2):
        if workers < 1:
            raise ValueError(f"--workers must be >= 1, got {workers}")
        self.workers, self.retries = workers, retries
        self._ctx = mp.get_context("spawn")
        self._queue: list[_Task] = []
        self._pool: list[_Worker] = []
        self._lock = threading.Condition()
        self._closing = False
        self._submitted = 0
        self._thread = threading.Thread(target=self._dispatch, name="claims-dispatcher", daemon=True)
        self._thread.start()

    def submit(self, unit: Unit, progress: Callable[..., None] | None = None) -> "Future[dict[str, Any]]":
        fut: Future = Future()
        with self._lock:
            if self._closing:
                raise RuntimeError("the executor is shut down")
            heapq.heappush(self._queue, _Task(self._submitted, unit, fut, watch=progress))
            self._submitted += 1
            self._lock.notify()
        return fut

    def _start_worker(self) -> _Worker:
        parent, child = self._ctx.Pipe()
        os.environ.setdefault("OMP_NUM_THREADS", "1")  # inherited by the spawned interpreter
        proc = self._ctx.Process(target=_worker_main, args=(child, os.getpid()), name="claims-worker", daemon=True)
        proc.start()
        child.close()
        return _Worker(proc, parent)

    def _dispatch(self) -> None:
        try:
            self._dispatch_loop()
        except BaseException as e:  # a bug here must fail the units, never leave the driver waiting forever
            with self._lock:
                tasks = self._queue + [w.task for w in self._pool if w.task]
                self._queue.clear()
            for task in tasks:
                if not task.future.done():
                    task.future.set_exception(RuntimeError(f"the local executor's dispatcher failed: {e!r}"))
            raise

    def _dispatch_loop(self) -> None:
        while True:
            with self._lock:
                while not self._closing and not self._queue and not any(w.task for w in self._pool):
                    self._lock.wait()
                if self._closing:
                    return
                self._pool = [w for w in self._pool if w.process.is_alive() or w.task]
                while self._queue:
                    idle = next((w for w in self._pool if w.task is None and w.process.is_alive()), None)
                    if idle is None and len(self._pool) < self.workers:
                        idle = self._start_worker()
                        self._pool.append(idle)
                    if idle is None:
                        break
                    task = heapq.heappop(self._queue)
                    if task.attempts == 0 and not task.future.set_running_or_notify_cancel():
                        continue  # cancelled while queued
                    task.attempts += 1
                    idle.task = task
                    idle.conn.send(task.unit)
                    _notify(task.watch, "started")
                busy = [w for w in self._pool if w.task]
            waitables = [w.conn for w in busy] + [w.process.sentinel for w in busy]
            ready = set(mp_connection.wait(waitables, timeout=0.5)) if waitables else set()
            for w in busy:
                if w.conn in ready or w.process.sentinel in ready:
                    self._collect(w)

    def _collect(self, w: _Worker) -> None:
        task = w.task
        assert task is not None
        while True:
            try:
                reply = w.conn.recv() if w.conn.poll() else None
            except Exception:  # EOF or a half-written reply: the worker died while answering
                reply = None
            if reply is None or reply[0] != "progress":
                break
            _notify(task.watch, None, *reply[1:])
        if reply is None and w.process.is_alive():  # only progress so far
            return
        if reply is None:  # no answer: the worker died (its sentinel fired)
            w.process.join(timeout=5)
            code = w.process.exitcode
            w.task = None
            with self._lock:
                self._pool.remove(w)
                if task.attempts <= self.retries:
                    heapq.heappush(self._queue, task)  # keeps its rank: it runs next
                    return
            task.future.set_exception(WorkerDied(
                f"the worker process running {task.unit.label} died (exit code {code}) {task.attempts} times; "
                f"{self.retries} retries allowed"))
            return
        w.task = None
        if reply[0] == "ok":
            task.future.set_result(reply[1])
        else:
            _, exc, tb = reply
            if not isinstance(exc, ParamsError):
                exc = UnitFailed(f"{task.unit.label} raised in a worker process", tb)
            task.future.set_exception(exc)

    def shutdown(self, cancel: bool = False) -> None:
        with self._lock:
            if cancel:
                for task in self._queue:
                    task.future.cancel()
                self._queue.clear()
            else:
                while self._queue or any(w.task for w in self._pool):
                    self._lock.wait(timeout=0.2)
            self._closing = True
            self._lock.notify_all()
        self._thread.join(timeout=10)
        for w in self._pool:
            if w.task is not None:  # cancelled mid-unit: nothing of it is recorded
                w.process.kill()
                w.task.future.set_exception(RuntimeError("cancelled: the run was interrupted"))
            else:
                try:
                    w.conn.send(None)
                except (BrokenPipeError, OSError):
                    pass
        for w in self._pool:
            w.process.join(timeout=10)
            if w.process.is_alive():
                w.process.kill()
                w.process.join()
            w.conn.close()
        self._pool.clear()

    def worker_pids(self) -> list[int]:
        return [w.process.pid for w in self._pool if w.process.is_alive()]


# --- Ray -------------------------------------------------------------------------------------------------

def _ray_unit(unit: Unit) -> dict[str, Any]:
    return run_unit(unit)


class RayExecutor(Executor):
    """Each unit is a Ray task asking for one CPU (and ``gpu_fraction`` of a GPU when the device is cuda).

    ``address``: an existing cluster (``--ray-address`` or ``RAY_ADDRESS``); None starts a private local
    Ray instance with ``workers`` CPUs. The project must be importable at the same path on every node (a
    shared checkout), since a unit imports its agent module by name. Ray runs a task again when its
    worker process dies (``max_retries``); Python errors are not retried. The driver still writes every
    record, so caching and resume behave as with the local pool.
    """

    def __init__(self, address: str | None, workers: int, retries: int = 2, gpu_fraction: float = 0.25):
        try:
            import ray
        except ImportError:
            raise RuntimeError('--executor ray needs Ray: pip install -e ".[ray]"') from None
        self._ray = ray
        env = {"env_vars": {"OMP_NUM_THREADS": "1"}}
        if address:
            import socket
            host, _, port = address.rpartition("://")[2].rpartition(":")
            try:
                if port.isdigit():  # ray.init retries a GCS that does not answer for many minutes: probe it first
                    try:
                        socket.create_connection((host.strip("[]"), int(port)), timeout=10).close()
                    except OSError as e:  # refused, unknown host, or no answer within 10 s
                        raise ConnectionError(f"TCP connect failed: {e}") from None
                ray.init(address=address, runtime_env=env, log_to_driver=False, logging_level="warning")
            except ConnectionError as e:
                raise RuntimeError(
                    f"cannot reach the Ray cluster at {address}: {e}. Check the address (`ray status` on the "
                    "head node); if the cluster uses token authentication (the default of recent Ray), set "
                    "RAY_AUTH_MODE=token here and copy the head's ~/.ray/auth_token (or set RAY_AUTH_TOKEN)"
                ) from None
        else:
            ray.init(num_cpus=workers, runtime_env=env, log_to_driver=False, logging_level="warning",
                     include_dashboard=False)
        self._task = ray.remote(_ray_unit)
        self.retries, self.gpu_fraction = retries, gpu_fraction
        self._refs: list[Any] = []

    def submit(self, unit: Unit, progress: Callable[..., None] | None = None) -> "Future[dict[str, Any]]":
        gpus = self.gpu_fraction if unit.device == "cuda" else 0
        ref = self._task.options(num_cpus=1, num_gpus=gpus, max_retries=self.retries,
                                 retry_exceptions=False).remote(unit)
        _notify(progress, "started")  # submitted: Ray does not say when a task starts, nor its progress
        self._refs.append(ref)
        fut: Future = Future()

        def resolve(ray_future: Future) -> None:
            exc = ray_future.exception()
            if exc is None:
                fut.set_result(ray_future.result())
            else:
                cause = getattr(exc, "cause", None)
                fut.set_exception(cause if isinstance(cause, ParamsError) else
                                  WorkerDied(str(exc)) if "WorkerCrashed" in type(exc).__name__ else
                                  UnitFailed(f"{unit.label} failed on the Ray cluster", str(exc)))
        ref.future().add_done_callback(resolve)
        return fut

    def shutdown(self, cancel: bool = False) -> None:
        if cancel:
            for ref in self._refs:
                try:
                    self._ray.cancel(ref, force=True)
                except Exception:  # already finished
                    pass
        elif self._refs:
            self._ray.wait(self._refs, num_returns=len(self._refs))
        self._ray.shutdown()


def make_executor(name: str = "local", workers: int | None = None, ray_address: str | None = None) -> Executor:
    """``local`` with one worker runs units in this process (``SerialExecutor``); more workers, a process
    pool; ``ray``, Ray tasks. ``workers`` defaults to the number of cores."""
    workers = workers or os.cpu_count() or 1
    if name == "local":
        return SerialExecutor() if workers == 1 else LocalExecutor(workers)
    if name == "ray":
        return RayExecutor(ray_address or os.environ.get("RAY_ADDRESS"), workers)
    raise ValueError(f"unknown executor {name!r}; use --executor local or --executor ray")
