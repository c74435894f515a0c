"""The pytest plugin: claims as parametrized experiments, units of work, records and verdict items.

Loaded through the ``pytest11`` entry point (``pip install -e .``). It stays inert in a session that
collects no ``@pytest.mark.claim`` function. For a claim function ``claims/test_<id>.py::test_<id>``:

- collection: the marker is validated (``ClaimSpec``), the function may ask only for the plugin's fixtures
  and its parametrized arguments, ``claims.<id>.<budget>`` must exist in params.yaml, and a design whose
  smallest achievable p is >= alpha is rejected (except on plumbing-only budgets). Seed shards become a
  parametrization (ids ``width64-s0_4``; just ``width64`` with one shard). The budget may thin levels to
  the extremes. The design is written to ``results/<budget>/<id>/design.json``.
- point items: each is a unit (claim, level, seed shard). A record whose key matches is reused. With a
  parallel executor (``--workers N`` > 1, or ``--executor ray``) every missing unit of the selected claims is
  submitted before the first item runs, longest first, so levels of different claims overlap; the driver
  validates and writes each record atomically as its unit finishes, and each point item waits for its own
  unit. With one worker the unit runs in this process when its item runs. A point fails only when the
  harness breaks (an exception, an unreported NaN, a missing metric, a worker that died too often).
- verdict items ``test_<id>[verdict-<metric>]`` (unless ``--no-verdicts``), after the claim's points:
  REPRODUCED passes, CONTRADICTED fails, INCONCLUSIVE skips with its reason (incl. the minimum detectable
  effect). A terminal summary prints one line per claim metric.
"""
from __future__ import annotations

import inspect
import json
import math
import os
import sys
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from harness import trend
from harness.budget import Budget, Params, ParamsError
from harness.execute import FIXTURES, Executor, Unit, longest_first, make_executor
from harness.records import (Lookup, Record, atomic_write_json, code_identity, lookup, provenance, record_path,
                             unit_key, write_record)
from harness.result import RunResult, _jsonable
from harness.verdict import (ClaimSpec, ClaimSpecError, assess_claim, axis_coordinate, check_result, parse_docstring,
                             summary_line)


@dataclass
class ClaimState:
    """What the plugin knows about one collected claim."""

    claim: str
    spec: ClaimSpec
    function: Any
    levels: dict[str, list[Any]]
    """Every parametrized argument's values, in declared order."""
    kept: list[Any]
    """The axis levels this budget runs."""
    budget: Budget
    """The budget as this claim runs it (its own seeds_per_unit, if params.yaml sets one)."""
    design: dict[str, Any] = field(default_factory=dict)
    """The JSON design (design.json), built once the points are known."""
    keys: dict[str, str] = field(default_factory=dict)
    """Record path relative to --results -> expected key."""
    summary: dict[str, Any] | None = None


@dataclass
class State:
    params: Params | None
    budget: Budget | None
    results: Path
    device: str
    verdicts: bool
    executor: Executor | None = None
    claims: dict[str, ClaimState] = field(default_factory=dict)
    units: dict[str, Unit] = field(default_factory=dict)
    """Point item nodeid -> its unit of work."""
    futures: dict[str, Future] = field(default_factory=dict)
    """Point item nodeid -> its submitted unit (parallel executors)."""
    problems: dict[str, list[str]] = field(default_factory=dict)
    """Point item nodeid -> why its finished unit's result was rejected ([] when its record was written)."""
    found: dict[str, Lookup] = field(default_factory=dict)
    """Point item nodeid -> its record lookup at the end of collection (what the up-front submission uses)."""
    parametrizing_claim: bool = False
    ran: int = 0
    cached: int = 0


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
    g.addoption("--ray-address", default=None,
                help="address of an existing Ray cluster (default: $RAY_ADDRESS; none starts a local Ray)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "claim(axis, metrics, margin=0, threshold=0, blocks=None, random_score=None, reference_score=None, "
        "scale='log', contrast=None, conjunction=False): a published scaling claim (see README)")
    config.stash[STATE] = State(params=None, budget=None, results=Path(config.getoption("--results")),
                                device=config.getoption("--device"), verdicts=not config.getoption("--no-verdicts"))
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
    if isinstance(val, bool) or not isinstance(val, (int, float, str)):
        return None
    return val if isinstance(val, str) else f"{argname}{val}"


def _claim_id(metafunc: pytest.Metafunc) -> str:
    path = Path(str(metafunc.definition.path))
    name = metafunc.function.__name__
    if not path.stem.startswith("test_") or name != path.stem:
        raise ClaimSpecError(f"a claim lives in claims/test_<id>.py as the function test_<id> (one name per "
                             f"claim everywhere); rename {name} in {path.name} to {path.stem}, or the file")
    return path.stem[len("test_"):]


def _parametrized(metafunc: pytest.Metafunc) -> dict[str, list[Any]]:
    """argname -> values in declared order, from the function's parametrize markers."""
    values: dict[str, list[Any]] = {}
    for mark in metafunc.definition.iter_markers("parametrize"):
        names = mark.args[0] if mark.args else mark.kwargs["argnames"]
        names = [n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)
        for raw in (mark.args[1] if len(mark.args) > 1 else mark.kwargs["argvalues"]):
            vals = raw.values if hasattr(raw, "marks") else (tuple(raw) if len(names) > 1 else (raw,))
            for n, v in zip(names, vals):
                values.setdefault(n, []).append(v)
    return values


@pytest.hookimpl(trylast=True)
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marker = metafunc.definition.get_closest_marker("claim")
    st = _state(metafunc.config)
    st.parametrizing_claim = False
    if marker is None:
        return
    try:
        _collect_claim(metafunc, marker)
    except (ClaimSpecError, ParamsError) as e:
        pytest.fail(f"claim {metafunc.definition.nodeid}: {e}", pytrace=False)


def _collect_claim(metafunc: pytest.Metafunc, marker: pytest.Mark) -> None:
    config = metafunc.config
    params, budget = _load_params(config)
    _resolve_device(_state(config))
    claim = _claim_id(metafunc)
    where = f"{Path(str(metafunc.definition.path)).name}::{metafunc.function.__name__}"
    spec = ClaimSpec.from_marker(marker.args, marker.kwargs, where)
    levels = _parametrized(metafunc)
    argnames = inspect.signature(metafunc.function).parameters
    unknown = [a for a in argnames if a not in FIXTURES and a not in levels]
    if unknown:
        raise ClaimSpecError(f"{where} asks for {unknown}: a claim function may use only the fixtures "
                             f"{', '.join(FIXTURES)} and its parametrized arguments (so that it can run in "
                             "another process)")
    for needed in ("seeds", "record"):
        if needed not in argnames:
            raise ClaimSpecError(f"{where} must take `{needed}` (train on `seeds`, then call `record(result)`)")
    spec.check_parametrized(list(levels), levels.get(spec.axis, []), where,
                            levels.get(spec.contrast) if spec.contrast else None)
    params.settings(claim, budget.name)  # a clear error now if claims.<id>.<budget> is missing
    budget = params.claim_budget(claim, budget)
    shards = budget.shards
    if len(shards) > 1:
        metafunc.parametrize("seeds", [list(s) for s in shards], ids=[f"s{s[0]}_{s[-1]}" for s in shards])
    kept = _kept_levels(levels[spec.axis], budget, f"{where}: claims.{claim}.{budget.name}.levels")
    if not budget.plumbing_only:
        controls = {repr(c) for c in spec.controls or ()}
        trend_levels = [v for v in kept if repr(v) not in controls]
        x = [axis_coordinate(spec, v, levels[spec.axis]) for v in trend_levels for _ in range(budget.seeds)]
        blocks = [s for _ in trend_levels for s in range(budget.seeds)] if spec.blocks else None
        min_p = trend.min_achievable_p(x, blocks=blocks, n_permutations=params.permutations)
        if min_p >= params.alpha:
            raise ClaimSpecError(f"{where}: at budget {budget.name!r} ({len(trend_levels)} levels x {budget.seeds} "
                                 f"seeds) the smallest achievable p is {min_p:.3g} >= alpha={params.alpha}: no outcome could be "
                                 "significant. Add seeds (budgets.<name>.seeds, or claims.<id>.<budget>.seeds) or "
                                 "levels.")
    _state(config).claims[claim] = ClaimState(claim, spec, metafunc.function, levels, kept, budget)


def _kept_levels(values: list[Any], budget: Budget, where: str) -> list[Any]:
    if budget.levels == "all":
        return list(values)
    if budget.levels == "extremes":
        return [values[0], values[-1]]
    chosen = {repr(v) for v in budget.levels}
    unknown = chosen - {repr(v) for v in values}
    if unknown:
        raise ClaimSpecError(f"{where} names {sorted(unknown)}, which are not parametrized levels of the axis "
                             f"({list(values)})")
    return [v for v in values if repr(v) in chosen]


def _level_id(item: pytest.Function, budget: Budget) -> str:
    cid = item.callspec.id
    if "seeds" in item.callspec.params and len(budget.shards) > 1:
        cid = cid.rsplit("-", 1)[0]
    return cid


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    st = _state(config)
    if not st.claims:
        return
    params, budget = _load_params(config)
    by_claim: dict[str, list[pytest.Function]] = {}
    for item in items:
        if isinstance(item, pytest.Function) and item.get_closest_marker("claim") is not None:
            by_claim.setdefault(_claim_id_of(item), []).append(item)
    deselected = []
    for claim, claim_items in by_claim.items():
        cs = st.claims[claim]
        kept_ids = {repr(v) for v in cs.kept}
        keep = [it for it in claim_items if repr(it.callspec.params[cs.spec.axis]) in kept_ids]
        deselected += [it for it in claim_items if it not in keep]
        _build_design(config, params, budget, cs, keep)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [it for it in items if it not in deselected]
    if st.verdicts:
        out: list[pytest.Item] = []
        for i, item in enumerate(items):
            out.append(item)
            claim = _claim_id_of(item) if item.get_closest_marker("claim") else None
            nxt = items[i + 1] if i + 1 < len(items) else None
            if claim and (nxt is None or not nxt.get_closest_marker("claim") or _claim_id_of(nxt) != claim):
                cs = st.claims[claim]
                names = list(cs.spec.metrics) + (["all"] if cs.spec.conjunction else [])
                for metric in names:
                    out.append(VerdictItem.from_parent(item.parent, name=f"{item.originalname}[verdict-{metric}]",
                                                       claim=claim, metric=metric))
        items[:] = out


def _claim_id_of(item: pytest.Item) -> str:
    return Path(str(item.path)).stem[len("test_"):]


def _build_design(config: pytest.Config, params: Params, budget: Budget, cs: ClaimState,
                  items: list[pytest.Function]) -> None:
    st = _state(config)
    fn = cs.function
    path = Path(inspect.getfile(fn)).resolve()
    settings = params.settings(cs.claim, budget.name).to_dict()
    budget = cs.budget
    code = code_identity(path, fn.__name__)
    axis_values = cs.levels[cs.spec.axis]
    units, level_rows = [], {}
    for item in items:
        point = {k: v for k, v in item.callspec.params.items() if k != "seeds"}
        seeds = tuple(item.callspec.params.get("seeds", budget.shards[0]))
        level_id = _level_id(item, budget)
        key = unit_key(claim=cs.claim, params=point, settings=settings, seeds=seeds, device=st.device,
                       spec_hash=cs.spec.hash, code_hash=code["hash"])
        unit = Unit(claim=cs.claim, path=str(path), function=fn.__name__, level_id=level_id, params=point,
                    seeds=seeds, settings=settings, budget=budget.name, device=st.device,
                    estimate_s=_estimate(params, cs.claim, budget, len(items)),
                    order=[repr(v) for v in axis_values].index(repr(point[cs.spec.axis])))
        st.units[item.nodeid] = unit
        cs.keys[_rel_path(unit)] = key
        units.append({"level_id": level_id, "params": point, "seeds": list(seeds), "path": _rel_path(unit),
                      "key": key})
        level_rows.setdefault(level_id, {"level_id": level_id, "params": point,
                                         "value": point[cs.spec.axis]})
    try:
        rel_claim_path = path.relative_to(config.rootpath).as_posix()
    except ValueError:
        rel_claim_path = str(path)
    cs.design = {"claim": cs.claim, "budget": budget.name, "spec": cs.spec.to_dict(), "spec_hash": cs.spec.hash,
                 "doc": parse_docstring(inspect.getmodule(fn).__doc__ or fn.__doc__), "file": rel_claim_path,
                 "function": fn.__name__,
                 "all_levels": [{"value": v} for v in axis_values], "levels": list(level_rows.values()),
                 "seeds": list(range(budget.seeds)), "shards": [list(s) for s in budget.shards],
                 "settings": settings, "code": code, "plumbing_only": budget.plumbing_only,
                 "units": units, "alpha": params.alpha, "permutations": params.permutations}
    design_path = st.results / budget.name / cs.claim / "design.json"
    if not design_path.exists() or _read_json(design_path) != _roundtrip(cs.design):
        atomic_write_json(design_path, cs.design)


def _estimate(params: Params, claim: str, budget: Budget, n_items: int) -> float | None:
    minutes = params.expected_minutes(claim, budget.name)
    return None if minutes is None or n_items == 0 else 60.0 * minutes / n_items


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _roundtrip(obj: Any) -> Any:
    return json.loads(json.dumps(_jsonable(obj)))


def pytest_collection_finish(session: pytest.Session) -> None:
    st = _state(session.config)
    if not st.claims or st.budget is None:
        return
    selected = [it for it in session.items if it.nodeid in st.units]
    st.found = {it.nodeid: _lookup_unit(st, it) for it in selected}
    pending = [it for it in selected if st.found[it.nodeid].status != "ok"]
    known = [st.units[it.nodeid].estimate_s for it in pending]
    eta = sum(e for e in known if e is not None)
    tr = session.config.pluginmanager.get_plugin("terminalreporter")
    if tr is None:
        return
    msg = f"claims: {len(selected)} points selected, {len(selected) - len(pending)} cached, {len(pending)} to run"
    if pending and None not in known:
        name, workers, _ = _execution(session.config)
        workers = workers or os.cpu_count() or 1
        msg += f"; expected time ~{_fmt_time(eta)} serial on the reference 2-core machine (params.yaml minutes)"
        if name == "local" and workers > 1:
            msg += f", roughly ~{_fmt_time(eta / min(workers, len(pending)))} with {workers} workers"
    tr.write_line(msg)


def _rel_path(unit: Unit) -> str:
    """The unit's record path relative to --results (the key of ClaimState.keys and design units)."""
    return record_path(Path("."), unit.budget, unit.claim, unit.level_id, unit.seeds).as_posix()


def _lookup_unit(st: State, item: pytest.Item) -> Lookup:
    unit = st.units[item.nodeid]
    rel = _rel_path(unit)
    return lookup(st.results / rel, st.claims[unit.claim].keys[rel])


# --- fixtures (values for direct use; point items run through run_unit, which supplies the same) -----------

@pytest.fixture
def budget(request: pytest.FixtureRequest) -> str:
    return _load_params(request.config)[1].name


@pytest.fixture
def seeds(request: pytest.FixtureRequest) -> list[int]:
    return list(_state(request.config).claims[_claim_id_of(request.node)].budget.shards[0])


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
    unit = st.units.get(pyfuncitem.nodeid)
    if unit is None:
        return None
    fut = st.futures.get(pyfuncitem.nodeid)  # submitted up front to a parallel executor
    progress = None
    if fut is None:
        found = _lookup_unit(st, pyfuncitem)
        if found.status == "ok":
            st.cached += 1
            pyfuncitem.user_properties.append(("cached", True))
            return True
        _note_recompute(found)  # a serial executor: the unit runs here, now
        progress = _Progress(pyfuncitem.config, pyfuncitem.nodeid)
        fut = _submit(st, pyfuncitem.nodeid, _executor(pyfuncitem.config), progress)
    try:
        fut.result()
    except ParamsError as e:
        pytest.fail(str(e), pytrace=False)
    finally:
        if progress is not None:
            progress.clear()
    problems = st.problems[pyfuncitem.nodeid]
    if problems:
        pytest.fail(f"{unit.label}: " + "; ".join(problems), pytrace=False)
    return True


def _note_recompute(found: Lookup) -> None:
    if found.status in ("corrupt", "stale"):
        sys.stderr.write(f"\n{found.path}: {found.status} record ({found.detail}); recomputing\n")


def _executor(config: pytest.Config) -> Executor:
    """The session's executor, made on first use: options, then params.yaml ``execution:``, then defaults."""
    st = _state(config)
    if st.executor is None:
        name, workers, address = _execution(config)
        st.executor = make_executor(name, workers=workers, ray_address=address)
    return st.executor


def _execution(config: pytest.Config) -> tuple[str, int | None, str | None]:
    """(executor name, workers or None for the number of cores, Ray address): options, then params.yaml."""
    params, _ = _load_params(config)
    cfg = params.data.get("execution") or {}
    workers = config.getoption("--workers") or cfg.get("workers")
    if workers is not None and int(workers) < 1:
        raise pytest.UsageError(f"--workers must be >= 1, got {workers}")
    return (config.getoption("--executor") or cfg.get("executor", "local"),
            None if workers is None else int(workers), config.getoption("--ray-address") or cfg.get("ray_address"))


def _submit(st: State, nodeid: str, executor: Executor, progress: Any = None) -> Future:
    """Submit an item's unit. The returned future resolves once the driver has validated the unit's result and
    written its record (or stored why not in ``st.problems``), so a finished unit is recorded even if its
    item never runs (-x, Ctrl-C) and an item never reads a record that is not yet written."""
    unit = st.units[nodeid]
    done: Future = Future()
    st.futures[nodeid] = done

    def finish(f: Future) -> None:
        if f.cancelled():
            done.cancel()
        elif f.exception() is not None:
            done.set_exception(f.exception())
        else:
            try:
                st.problems[nodeid] = _write_record(st, unit, dict(f.result()))
            except Exception as e:  # noqa: BLE001 - the item reports it
                st.problems[nodeid] = [f"its record could not be written: {type(e).__name__}: {e}"]
            done.set_result(None)
    executor.submit(unit, progress).add_done_callback(finish)
    return done


def _write_record(st: State, unit: Unit, out: dict[str, Any]) -> list[str]:
    """Validate a finished unit's result and write its record; the problems that prevented it, if any."""
    wall = out.pop("_wall_time", 0.0)
    host = out.pop("_host", None)
    cs = st.claims[unit.claim]
    problems = check_result(cs.spec, out, unit.seeds)
    if problems:
        return problems
    rel = _rel_path(unit)
    prov = provenance(wall, paths=[*cs.design["code"]["files"], unit.path])
    if host:
        prov["host"] = host
    rec = Record(key=cs.keys[rel], claim=unit.claim, level_id=unit.level_id, params=unit.params,
                 seeds=list(unit.seeds), budget=unit.budget, device=unit.device, settings=unit.settings,
                 spec_hash=cs.spec.hash, code=cs.design["code"], result=RunResult.from_dict(out), provenance=prov)
    write_record(st.results / rel, rec)
    st.ran += 1
    return []


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtestloop(session: pytest.Session):
    """With a parallel executor, submit every missing unit of the selected items up front, longest first."""
    st = _state(session.config)
    pending = [nodeid for nodeid, f in st.found.items() if f.status != "ok"]
    if pending and not session.config.option.collectonly and _executor(session.config).parallel:
        for nodeid in pending:
            _note_recompute(st.found[nodeid])
        for nodeid in sorted(pending, key=lambda n: longest_first(st.units[n])):
            _submit(st, nodeid, st.executor)
    try:
        return (yield)
    finally:
        if st.executor is not None:  # units whose items will not run (-x, Ctrl-C) are dropped, not waited for
            st.executor.shutdown(cancel=True)
            st.executor = None


class _Progress:
    """A live progress line on a terminal (env steps, recent return, steps/s, ETA); silent in CI logs."""

    def __init__(self, config: pytest.Config, nodeid: str):
        tr = config.pluginmanager.get_plugin("terminalreporter")
        self.tr = tr if tr is not None and tr.isatty and not os.environ.get("CI") else None
        self.name = nodeid.split("::")[-1]
        self.start = time.perf_counter()
        self.last = 0.0
        self.drawn = False

    def __call__(self, done: int, total: int, recent_return: float | None = None) -> None:
        now = time.perf_counter()
        if self.tr is None or now - self.last < 0.5:
            return
        self.last = now
        rate = done / max(now - self.start, 1e-9)
        eta = (total - done) / rate if rate > 0 else math.inf
        ret = "" if recent_return is None else f"  return {recent_return:9.1f}"
        line = f"  {self.name}: {done}/{total} env steps{ret}  {rate:7.0f} steps/s  ETA {_fmt_time(eta)}"
        self.tr.write("\r" + line.ljust(100)[:120], flush=True)
        self.drawn = True

    def clear(self) -> None:
        if self.drawn and self.tr is not None:
            self.tr.write("\r" + " " * 120 + "\r", flush=True)


def _fmt_time(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"


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
            lookups = {rel: lookup(st.results / rel, key) for rel, key in cs.keys.items()}
            cs.summary = assess_claim(cs.design, lookups, alpha=cs.design["alpha"],
                                      permutations=cs.design["permutations"])
        if self.metric == "all":
            verdict, reason = cs.summary["overall"] or trend.INCONCLUSIVE, "conjunction of " + ", ".join(cs.spec.metrics)
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
    if st.ran or st.cached:
        terminalreporter.write_line(f"claims: {st.ran} units ran, {st.cached} reused from records in {st.results}")
    if not done:
        return
    terminalreporter.section("claim verdicts")
    for cs in done:
        for m in cs.summary["metrics"]:
            terminalreporter.write_line(summary_line(cs.claim, m))
        if cs.summary["overall"]:
            terminalreporter.write_line(f"{cs.claim:<24} {'(all metrics)':<22} {cs.summary['overall']}")
