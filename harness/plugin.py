"""The pytest plugin: claims as parametrized experiments, units of work, records and verdict items.

Loaded through the ``pytest11`` entry point (``pip install -e .``). It stays inert in a session that
collects no ``@pytest.mark.claim`` function, and holds pytest hooks only: designs are built by
harness/design.py, records read and written by harness/records.py, verdicts computed by harness/verdict.py.

- collection: each claim's design is built (marker, parametrization, params.yaml, and a plan of every unit:
  the claim function runs with training replaced by planning, so every mistake it can make is found before
  anything trains). Seed shards become a parametrization (ids ``width64-s0_4``; just ``width64`` with one
  shard). The budget may thin levels; the others are deselected.
- point items: each is a unit (claim, level, seed shard) whose run is addressed by its key. A record whose key
  matches is reused; claims that plan the same run share it (it runs once). With a parallel executor
  (``--workers N`` > 1, or ``--executor ray``) every missing run of the selected items is submitted before the
  first item runs, longest first; the driver validates and writes each record as its run finishes, and each
  point item waits for its own. With one worker a run happens in this process when its item runs. A point
  fails only when the harness breaks (an exception, an unreported NaN, a missing metric, a dead worker).
- verdict items ``test_<id>[verdict-<metric>]`` (unless ``--no-verdicts``), after the claim's points:
  REPRODUCED passes, CONTRADICTED fails, INCONCLUSIVE skips with its reason. A terminal summary prints one
  line per claim metric.
- after the run (not with ``--collect-only``): each claim that had items selected writes its design, with the
  digest of every record it refers to, to ``results/<budget>/claims/<id>.json`` (the DVC run stage's output,
  read by ``python -m harness verdict``).
"""
from __future__ import annotations

import contextlib
import math
import os
import sys
import tempfile
import threading
import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FuturesTimeout
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock, Timeout

from harness import checkpoint
from harness import design as designs
from harness import trend
from harness.budget import Budget, Params, ParamsError
from harness.claim import ClaimSpecError
from harness.design import Design, UnitDesign
from harness.execute import Executor, Unit, UnitFailed, WorkerDied, longest_first, make_executor
from harness.progress import Board, View, Watch, fmt_time
from harness.records import Lookup, Record, lookup, provenance, write_record
from harness.result import RunResult, _jsonable
from harness.report import summary_line
from harness.verdict import assess_claim, check_result, missing_metrics


@dataclass
class ClaimState:
    """What the plugin knows about one collected claim."""

    design: Design
    selected: bool = False
    """Whether any of its point items was selected (then its design is written after the run)."""
    summary: dict[str, Any] | None = None

    @property
    def spec(self):
        return self.design.spec


@dataclass
class State:
    params: Params | None
    budget: Budget | None
    results: Path
    device: str
    verdicts: bool
    executor: Executor | None = None
    claims: dict[str, ClaimState] = field(default_factory=dict)
    items: dict[str, tuple[str, UnitDesign]] = field(default_factory=dict)
    """Point item nodeid -> (claim, its unit)."""
    jobs: dict[str, Unit] = field(default_factory=dict)
    """Record key -> the run (one per key, however many claims ask for it)."""
    askers: dict[str, list[tuple[str, UnitDesign]]] = field(default_factory=dict)
    """Record key -> every (claim, unit) that asks for it."""
    futures: dict[str, Future] = field(default_factory=dict)
    """Record key -> its submitted run."""
    problems: dict[str, list[str]] = field(default_factory=dict)
    """Record key -> why its finished run's result was rejected ([] when its record was written)."""
    found: dict[str, Lookup] = field(default_factory=dict)
    """Record key -> its lookup at the end of collection (what the up-front submission uses)."""
    parametrizing_claim: bool = False
    ran: int = 0
    cached: int = 0
    waited: int = 0
    """Runs another process computed while this one waited for it (the per-run lock)."""
    log: Any = None
    """The terminal reporter, where the progress view writes (None: no progress shown)."""
    board: Board | None = None
    """The runs to compute in this session and what each is doing (harness/progress.py)."""
    view: View | None = None
    """Draws the board: a live view on a terminal, plain lines in logs (main thread only: ``_draw``)."""
    watches: dict[str, Watch] = field(default_factory=dict)
    """Record key -> its run's progress callback, for the executor."""
    last_draw: float = 0.0
    walls: dict[str, float] = field(default_factory=dict)
    """Record key -> the wall time of its run (measured in the worker: pytest's durations of point items
    include the time they waited for the pool)."""


STATE = pytest.StashKey[State]()


# --- options, marker, header --------------------------------------------------------------------------------

def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("claims", "RL scaling claims (harness)")
    g.addoption("--budget", default=None, help="budget profile from params.yaml (default: its `budget:` entry)")
    g.addoption("--results", default="results", help="root of the record cache (default: results)")
    g.addoption("--device", default="auto", choices=("auto", "cpu", "cuda"), help="torch device for agents")
    g.addoption("--no-verdicts", action="store_true", help="run points only (the DVC run stage uses this)")
    g.addoption("--params", default="params.yaml", help="path of params.yaml (default: ./params.yaml)")
    g.addoption("--executor", default=None, choices=("local", "ray"),
                help="where units run: local processes or a Ray cluster (default: execution.executor in "
                     "params.yaml, else local)")
    g.addoption("--workers", default=None, type=int,
                help="parallel units (default: execution.workers in params.yaml, else the number of cores; "
                     "1 runs units in the pytest process)")
    g.addoption("--checkpoint-minutes", default=None, type=float,
                help="minutes between checkpoints of a running unit, from which an interrupted one resumes "
                     "(default: execution.checkpoint_minutes in params.yaml, else 5; 0 saves none)")
    g.addoption("--ray-address", default=None,
                help="address of an existing Ray cluster (default: $RAY_ADDRESS; none starts a local Ray)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "claim(axis, metrics, margin=0, threshold=0, blocks=None, random_score=None, reference_score=None, "
        "scale='log', contrast=None, conjunction=False): a published scaling claim (see README)")
    results = Path(config.getoption("--results"))
    if not results.is_absolute():
        results = config.rootpath / results
    config.stash[STATE] = State(params=None, budget=None, results=results, device=config.getoption("--device"),
                                verdicts=not config.getoption("--no-verdicts"))
    config.pluginmanager.register(_ClaimScope(), "claims-id-scope")


def _state(config: pytest.Config) -> State:
    return config.stash[STATE]


def _load_params(config: pytest.Config) -> tuple[Params, Budget]:
    """params.yaml and the budget, loaded on first use (only sessions with claims need them)."""
    st = _state(config)
    if st.params is None:
        path = Path(config.getoption("--params"))
        if not path.is_absolute():
            path = (Path(config.invocation_params.dir) / path) if (Path(config.invocation_params.dir) / path).exists() \
                else config.rootpath / path
        params = Params.load(path)
        st.budget = params.budget(config.getoption("--budget"))
        st.params = params
    return st.params, st.budget


def _resolve_device(st: State) -> str:
    """--device auto -> cuda when torch sees a GPU, else cpu (torch is imported only for claims)."""
    if st.device == "auto":
        import torch
        st.device = "cuda" if torch.cuda.is_available() else "cpu"
    if st.device == "cuda":
        import torch
        if not torch.cuda.is_available():
            raise ClaimSpecError("--device cuda, but torch sees no GPU (torch.cuda.is_available() is False); "
                                 "use --device cpu or install a CUDA build of torch")
    return st.device


def pytest_report_header(config: pytest.Config) -> str | None:
    try:
        params, budget = _load_params(config)
    except ParamsError:
        return None
    return (f"claims: budget={budget.name} (seeds {budget.seeds}, {budget.seeds_per_unit} per unit, levels "
            f"{budget.levels}{', plumbing only' if budget.plumbing_only else ''}), alpha={params.alpha}, "
            f"results={_state(config).results}/{budget.name}, device={config.getoption('--device')}")


# --- collection ---------------------------------------------------------------------------------------------

class _ClaimScope:
    """Runs before the built-in parametrization so that claim levels get ids like ``width64``."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        _state(metafunc.config).parametrizing_claim = metafunc.definition.get_closest_marker("claim") is not None


def pytest_make_parametrize_id(config: pytest.Config, val: object, argname: str) -> str | None:
    if not _state(config).parametrizing_claim:
        return None
    return designs.value_id(argname, val)


@pytest.hookimpl(trylast=True)
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marker = metafunc.definition.get_closest_marker("claim")
    st = _state(metafunc.config)
    st.parametrizing_claim = False
    if marker is None:
        return
    try:
        params, budget = _load_params(metafunc.config)
        design = designs.build(metafunc.function, params, budget, _resolve_device(st))
        error = None
    except (ClaimSpecError, ParamsError) as e:
        error = str(e) if metafunc.function.__name__ in str(e) else f"claim {metafunc.definition.nodeid}: {e}"
    if error is not None:  # raised outside the except block: printed once, without the chained exception
        pytest.fail(error, pytrace=False)
    shards = design.budget.shards
    if len(shards) > 1:
        metafunc.parametrize("seeds", [list(s) for s in shards], ids=[f"s{s[0]}_{s[-1]}" for s in shards])
    st.claims[design.claim] = ClaimState(design)


def _claim_id_of(item: pytest.Item) -> str:
    return Path(str(item.path)).stem[len("test_"):]


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    st = _state(config)
    if not st.claims:
        return
    deselected = []
    for item in items:
        if not (isinstance(item, pytest.Function) and item.get_closest_marker("claim") is not None):
            continue
        claim = _claim_id_of(item)
        d = st.claims[claim].design
        point = {k: v for k, v in item.callspec.params.items() if k != "seeds"}
        if repr(point[d.spec.axis]) not in {repr(v) for v in d.kept}:
            deselected.append(item)
            continue
        unit = d.unit_for(point, item.callspec.params.get("seeds", d.budget.shards[0]))
        st.items[item.nodeid] = (claim, unit)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [it for it in items if it not in deselected]
    name, workers, _ = _execution(config)
    if name != "local" or (workers or os.cpu_count() or 1) > 1:
        # a parallel executor runs the longest units first: point items in that order report as units finish
        points = [it for it in items if it.nodeid in st.items]

        def submission_order(item: pytest.Item) -> tuple[float, int]:
            estimate, order = _schedule(st, *st.items[item.nodeid])
            return (-(estimate or 0.0), -order)  # as execute.longest_first
        items[:] = [it for it in items if it.nodeid not in st.items] + sorted(points, key=submission_order)
    if st.verdicts:
        last = {st.items[it.nodeid][0]: it for it in items if it.nodeid in st.items}
        out: list[pytest.Item] = []
        for item in items:
            out.append(item)
            claim = st.items[item.nodeid][0] if item.nodeid in st.items else None
            if claim is not None and last[claim] is item:
                spec = st.claims[claim].spec
                for metric in list(spec.metrics) + (["all"] if spec.conjunction else []):
                    out.append(VerdictItem.from_parent(item.parent, name=f"{item.originalname}[verdict-{metric}]",
                                                       claim=claim, metric=metric))
        items[:] = out


def _schedule(st: State, claim: str, unit: UnitDesign) -> tuple[float | None, int]:
    """A unit's expected seconds (its claim's params.yaml minutes over all the units of its design, so that
    selecting a few points with -k does not give them the whole claim's time) and its level's position in the
    declared sweep: what the executor's longest-first order sorts by."""
    minutes = st.params.expected_minutes(claim, st.budget.name)
    d = st.claims[claim].design
    order = [repr(v) for v in d.axis_values].index(repr(unit.params[d.spec.axis]))
    return (None if minutes is None else 60.0 * minutes / len(d.units)), order


def pytest_collection_finish(session: pytest.Session) -> None:
    st = _state(session.config)
    if not st.claims or st.budget is None:
        return
    selected = [it for it in session.items if it.nodeid in st.items]
    for it in selected:
        claim, unit = st.items[it.nodeid]
        st.claims[claim].selected = True
        st.askers.setdefault(unit.key, []).append((claim, unit))
    every_s = _checkpoint_s(session.config)
    for key, askers in st.askers.items():
        claim, unit = askers[0]
        estimate, order = _schedule(st, claim, unit)
        labels = sorted({f"{c} {u.level_id}" for c, u in askers})
        ckpt = st.results / st.budget.name / ".checkpoints" / f"{key}{checkpoint.SUFFIX}"
        resume = f" (resuming from its checkpoint of {_age(ckpt)})" if ckpt.is_file() else ""
        st.jobs[key] = Unit(key=key, plan=unit.plan, label=f"{', '.join(labels)} seeds {list(unit.seeds)}{resume}",
                            estimate_s=estimate, order=order, checkpoint=str(ckpt),
                            checkpoint_every_s=every_s)
        st.found[key] = lookup(st.results / unit.path, key)
    pending = [k for k, f in st.found.items() if f.status != "ok"]
    shared = sum(1 for a in st.askers.values() if len({c for c, _ in a}) > 1)
    tr = session.config.pluginmanager.get_plugin("terminalreporter")
    if tr is None:
        return
    msg = (f"claims: {len(selected)} points selected, {len(st.jobs)} runs ({len(st.jobs) - len(pending)} cached, "
           f"{len(pending)} to run{f', {shared} shared between claims' if shared else ''})")
    known = [st.jobs[k].estimate_s for k in pending]
    if pending and None not in known:
        eta = sum(known)
        name, workers, _ = _execution(session.config)
        workers = workers or os.cpu_count() or 1
        msg += f"; expected time ~{fmt_time(eta)} serial on the reference 2-core machine (params.yaml minutes)"
        if name == "local" and workers > 1:
            msg += f", roughly ~{fmt_time(eta / min(workers, len(pending)))} with {workers} workers"
    tr.write_line(msg)


# --- fixtures (values for direct use; point items run through the harness, which supplies the same) --------

@pytest.fixture
def budget(request: pytest.FixtureRequest) -> str:
    return _load_params(request.config)[1].name


@pytest.fixture
def seeds(request: pytest.FixtureRequest) -> list[int]:
    return list(_state(request.config).claims[_claim_id_of(request.node)].design.budget.shards[0])


@pytest.fixture
def settings(request: pytest.FixtureRequest):
    params, b = _load_params(request.config)
    return params.settings(_claim_id_of(request.node), b.name)


@pytest.fixture
def device(request: pytest.FixtureRequest) -> str:
    return _resolve_device(_state(request.config))


@pytest.fixture
def record(request: pytest.FixtureRequest):
    def _record(result: RunResult) -> None:  # point items never call the function through pytest
        raise RuntimeError("record() is only available inside a claim run by the harness")
    return _record


# --- point items ---------------------------------------------------------------------------------------------

@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    st = _state(pyfuncitem.config)
    if pyfuncitem.nodeid not in st.items:
        return None
    claim, unit = st.items[pyfuncitem.nodeid]
    fut = st.futures.get(unit.key)  # submitted up front to a parallel executor, or by an earlier item
    if fut is None:
        found = lookup(st.results / unit.path, unit.key)
        if found.status == "ok":
            st.cached += 1
            pyfuncitem.user_properties.append(("cached", True))
            if problems := _kept(missing_metrics(st.claims[claim].spec, found.record.result.to_dict())):
                pytest.fail(f"{claim} {unit.level_id} seeds {list(unit.seeds)}: " + "; ".join(problems), pytrace=False)
            return True
        _note_recompute(found)  # a serial executor: the run happens here, now
        fut = _submit(st, unit.key, _executor(pyfuncitem.config))
    try:
        while True:
            try:
                fut.result(timeout=0.5)
                break
            except FuturesTimeout:
                _draw(st)
    except ParamsError as e:
        pytest.fail(str(e), pytrace=False)
    except UnitFailed as e:  # the agent's frame and the exception; the worker's whole traceback with -v
        verbose = pyfuncitem.config.getoption("verbose") > 0
        pytest.fail(e.brief() + (f"\n\nThe whole traceback:\n{e.details}" if verbose else
                                 "\n(the whole traceback: run pytest with -v)"), pytrace=False)
    except WorkerDied as e:
        pytest.fail(str(e), pytrace=False)
    finally:
        _draw(st, pause=True)
    problems = st.problems[unit.key]
    if problems:
        pytest.fail(f"{st.jobs[unit.key].label}: " + "; ".join(problems), pytrace=False)
    return True


def _note_recompute(found: Lookup) -> None:
    if found.status == "corrupt":
        sys.stderr.write(f"\n{found.path}: corrupt record ({found.detail}); recomputing\n")


def _executor(config: pytest.Config) -> Executor:
    """The session's executor, made on first use: options, then params.yaml ``execution:``, then defaults."""
    st = _state(config)
    if st.executor is None:
        name, workers, address = _execution(config)
        try:
            st.executor = make_executor(name, workers=workers, ray_address=address)
        except RuntimeError as e:  # no Ray, or no cluster at the address: the message, without a traceback
            raise pytest.UsageError(str(e)) from None
    return st.executor


def _execution(config: pytest.Config) -> tuple[str, int | None, str | None]:
    """(executor name, workers or None for the number of cores, Ray address): options, then params.yaml."""
    params, _ = _load_params(config)
    cfg = params.data.get("execution") or {}
    workers = config.getoption("--workers")
    workers = cfg.get("workers") if workers is None else workers
    if workers is not None and int(workers) < 1:
        raise pytest.UsageError(f"--workers must be >= 1, got {workers}")
    return (config.getoption("--executor") or cfg.get("executor", "local"),
            None if workers is None else int(workers), config.getoption("--ray-address") or cfg.get("ray_address"))


def _checkpoint_s(config: pytest.Config) -> float:
    """Seconds between a running unit's checkpoints: --checkpoint-minutes, then params.yaml, else 5 minutes
    (0: none)."""
    minutes = config.getoption("--checkpoint-minutes")
    if minutes is None:
        minutes = (_load_params(config)[0].data.get("execution") or {}).get("checkpoint_minutes")
    minutes = 5.0 if minutes is None else minutes
    if minutes < 0 or not math.isfinite(minutes):
        raise pytest.UsageError(f"--checkpoint-minutes must be a number >= 0 (0 saves no checkpoint), got {minutes}")
    return 60.0 * minutes if minutes > 0 else math.inf


def _age(path: Path) -> str:
    return f"{fmt_time(max(0.0, time.time() - path.stat().st_mtime))} ago"


def _submit(st: State, key: str, executor: Executor) -> Future:
    """Submit a run. The returned future resolves once the driver has validated the run's result and written
    its record (or stored why not in ``st.problems``), so a finished run is recorded even if its item never
    runs (-x, Ctrl-C) and an item never reads a record that is not yet written.

    A file lock per run (``results/<budget>/.locks/<key>.lock``) is held from submission until its record is
    written: a second pytest or ``dvc repro`` that needs the same run waits for the first one's record and
    reuses it instead of computing it again (and computes it only if the first one stopped without it)."""
    unit = st.jobs[key]
    done: Future = Future()
    st.futures[key] = done
    path = st.results / st.budget.name / ".locks" / f"{key}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path), thread_local=False)

    def finish(f: Future) -> None:
        try:
            if not f.cancelled() and f.exception() is None:
                try:
                    st.problems[key] = _write_record(st, key, dict(f.result()))
                except Exception as e:  # noqa: BLE001 - the item reports it
                    st.problems[key] = [f"its record could not be written: {type(e).__name__}: {e}"]
        finally:
            lock.release()
            try:
                _log_finish(st, key, f)  # before the item waiting on `done` can go on (and the session end)
            finally:
                if f.cancelled():
                    done.cancel()
                elif f.exception() is not None:
                    done.set_exception(f.exception())
                else:
                    done.set_result(None)

    def start() -> None:
        executor.submit(unit, _watch(st, key)).add_done_callback(finish)

    try:
        lock.acquire(timeout=0)
    except Timeout:
        sys.stderr.write(f"\n{unit.label}: another run is computing it; waiting for its record\n")

        def wait() -> None:
            lock.acquire()
            found = lookup(st.results / st.askers[key][0][1].path, key)
            if found.status == "ok":
                lock.release()
                st.problems[key], st.waited = [], st.waited + 1
                done.set_result(None)
            else:  # the other run stopped without it: compute it here, still holding the lock
                try:
                    start()
                except BaseException as e:  # noqa: BLE001 - e.g. the executor was shut down meanwhile
                    lock.release()
                    done.set_exception(e)
        threading.Thread(target=wait, name=f"claims-wait-{key[:8]}", daemon=True).start()
        return done
    start()
    return done


def _watch(st: State, key: str) -> Watch | None:
    """The run's progress callback (a run needed after the up-front submission joins the board then)."""
    if st.board is None:
        return None
    if key not in st.watches:
        st.watches[key] = st.board.add(key, st.jobs[key].label, st.jobs[key].estimate_s)
    return st.watches[key]


def _log_finish(st: State, key: str, f: Future) -> None:
    """One plain line per finished run (terminal, logs and CI alike): pytest shows a point only when its turn
    comes, which can be long after its run finished."""
    if st.board is None or f.cancelled() or key not in st.watches:
        return
    wall = st.walls.get(key)
    failed = f.exception() is not None or bool(st.problems.get(key))
    state = "failed" if failed else f"finished in {fmt_time(wall)}" if wall is not None else "finished"
    done, _, _, total = st.board.counts()
    st.board.finished(key, f"claims: [{done + 1}/{total}] {st.jobs[key].label} {state} "
                           f"({fmt_time(time.perf_counter() - st.board.t0)} elapsed; about "
                           f"{fmt_time(st.board.eta())} to go)", failed=failed)


def _draw(st: State, pause: bool = False) -> None:
    """Draw the progress view (at most every 0.2 s unless runs started or finished), in the main thread, with
    pytest's output capture suspended (as pytest does for its own reports: other threads must not touch the
    capture); ``pause`` removes the live view before pytest writes again."""
    if st.view is None or threading.current_thread() is not threading.main_thread():
        return
    now = time.perf_counter()
    if not pause and now - st.last_draw < 0.2 and st.board.events.empty():
        return
    st.last_draw = now
    capture = st.log.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        if pause:
            st.view.pause()
        else:
            if st.view.live_mode and not st.view.showing:
                st.log.ensure_newline()  # the live view starts on a line of its own
            st.view.tick()


def _write_record(st: State, key: str, out: dict[str, Any]) -> list[str]:
    """Validate a finished run's result against every claim that asked for it and write its record; the
    problems that prevented it, if any."""
    wall = out.pop("_wall_time", 0.0)
    host = out.pop("_host", None)
    resumed = out.pop("_resumed_step", None)
    st.walls[key] = wall
    askers = st.askers[key]
    unit = askers[0][1]
    problems = [p for claim, u in askers for p in check_result(st.claims[claim].spec, out, u.seeds)]
    missing = sorted({p for claim, _ in askers for p in missing_metrics(st.claims[claim].spec, out)})
    config = _jsonable(asdict(unit.plan.config))
    if _jsonable(out.get("config")) != config:
        problems.append(f"{unit.agent}.train recorded the config {out.get('config')} but was given {config}: "
                        "an agent records asdict(cfg) of the Config it trained with")
    if problems:
        return sorted(set(problems))
    out["config"] = {}  # the record's own `config` is the one copy
    prov = provenance(wall, paths=list(unit.code["files"]), host=host)
    prov["made_for"] = sorted({f"{c} {u.level_id}" for c, u in askers})
    if resumed is not None:
        prov["resumed_after_step"] = resumed  # the run continued from a checkpoint (the same record bit for bit)
    rec = Record(key=key, agent=unit.agent, config=config, seeds=list(unit.seeds), device=unit.plan.device,
                 code=unit.code, result=RunResult.from_dict(out), provenance=prov)
    path = st.results / unit.path
    try:
        write_record(path, rec)
    except OSError as e:  # a full disk, a read-only mount: the finished run must not be lost
        spill = Path(tempfile.gettempdir()) / "harness-spill" / unit.path
        write_record(spill, rec)
        return [f"its record could not be written to {path} ({type(e).__name__}: {e}); the finished run was saved "
                f"to {spill}: copy it to {path} once that is writable, and the next run reuses it"]
    st.ran += 1
    if st.jobs[key].checkpoint:
        Path(st.jobs[key].checkpoint).unlink(missing_ok=True)
    return _kept(missing)


def _kept(missing: list[str]) -> list[str]:
    """A point's problems when its run's record holds no value for some of the claim's metrics."""
    return [*missing, "the record is kept: correct the claim's metrics (or the agent, which reruns it) and run "
            "again, which reuses it"] if missing else []


def _check_writable(results: Path, budget: str) -> None:
    """Before anything trains: the results directory must take a record (else a usage error, nothing lost)."""
    where = results / budget
    try:
        where.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=where, prefix=".write-check-"):
            pass
    except OSError as e:
        raise pytest.UsageError(f"the results directory {where} is not writable ({type(e).__name__}: {e}); nothing "
                                "was trained. Make it writable, or pass --results DIR (records already there are "
                                "still read)") from None


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtestloop(session: pytest.Session):
    """With a parallel executor, submit every missing run of the selected items up front, longest first;
    after the loop, write the designs of the claims that ran."""
    st = _state(session.config)
    collect_only = session.config.option.collectonly
    pending = [key for key, f in st.found.items() if f.status != "ok"]
    if pending and not collect_only:
        _check_writable(st.results, st.budget.name)
        st.log = session.config.pluginmanager.get_plugin("terminalreporter")
        workers = max(1, min(len(pending), _execution(session.config)[1] or os.cpu_count() or 1))
        st.board = Board(workers)
        for key in sorted(pending, key=lambda k: longest_first(st.jobs[k])):
            _watch(st, key)
        if st.log is not None:
            def write(line: str) -> None:
                st.log.ensure_newline()
                st.log.write_line(line)
            st.view = View(st.board, write, live=View.wants_live(st.log.isatty))
            st.board.on_change = lambda: _draw(st)  # a unit in this process (one worker) redraws as it goes
    if pending and not collect_only and _executor(session.config).parallel:
        for key in pending:
            _note_recompute(st.found[key])
        for key in sorted(pending, key=lambda k: longest_first(st.jobs[k])):
            _submit(st, key, st.executor)
    try:
        return (yield)
    finally:
        _draw(st, pause=True)
        if st.executor is not None:  # runs whose items will not run (-x, Ctrl-C) are dropped, not waited for
            st.executor.shutdown(cancel=True)
            st.executor = None
        if not collect_only:
            for cs in st.claims.values():
                if cs.selected:
                    cs.design.write(st.results)


# --- verdict items -------------------------------------------------------------------------------------------

class VerdictFailure(Exception):
    """A CONTRADICTED claim metric."""


class VerdictItem(pytest.Item):
    """``test_<id>[verdict-<metric>]``: the claim metric's verdict from all of its records."""

    def __init__(self, *, claim: str, metric: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.claim, self.metric = claim, metric

    def runtest(self) -> None:
        st = _state(self.config)
        cs = st.claims[self.claim]
        if cs.summary is None:
            d = cs.design
            lookups = {u.path: lookup(st.results / u.path, u.key) for u in d.units}
            cs.summary = assess_claim(d.to_dict(), lookups, alpha=d.alpha, permutations=d.permutations)
        if self.metric == "all":
            o = cs.summary["overall"] or {"verdict": trend.INCONCLUSIVE, "p": None}
            verdict, reason = o["verdict"], "conjunction of " + ", ".join(cs.spec.metrics) + (
                f" (p={o['p']:.3g}, the largest of its metrics' p)" if o.get("p") is not None else "")
        else:
            m = next(m for m in cs.summary["metrics"] if m["metric"] == self.metric)
            verdict, reason = m["verdict"], m["reason"]
        if verdict == trend.CONTRADICTED:
            raise VerdictFailure(f"{self.claim} {self.metric}: CONTRADICTED: {reason}")
        if verdict == trend.INCONCLUSIVE:
            pytest.skip(f"{self.claim} {self.metric}: INCONCLUSIVE: {reason}")

    def repr_failure(self, excinfo, style=None):  # type: ignore[override]
        if isinstance(excinfo.value, VerdictFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, None, self.name


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    st = _state(config)
    done = [cs for cs in st.claims.values() if cs.summary is not None]
    if st.ran or st.cached or st.waited:
        terminalreporter.write_line(f"claims: {st.ran} units ran, {st.cached} reused from records in {st.results}"
                                    + (f", {st.waited} computed meanwhile by another run" if st.waited else ""))
    if st.walls:
        slow = sorted(st.walls.items(), key=lambda kv: -kv[1])[:10]
        terminalreporter.write_line("claims: the slowest runs (their own wall time; pytest's durations of point "
                                    "items include waiting for the pool): " + ", ".join(
                                        f"{st.jobs[k].label} {fmt_time(w)}" for k, w in slow))
    if not done:
        return
    terminalreporter.section("claim verdicts")
    for cs in done:
        for m in cs.summary["metrics"]:
            terminalreporter.write_line(summary_line(cs.design.claim, m))
        if cs.summary["overall"]:
            terminalreporter.write_line(f"{cs.design.claim:<24} {'(all metrics)':<34} {cs.summary['overall']['verdict']}")
