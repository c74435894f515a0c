"""A claim's design at one budget, built without pytest: its levels, seed shards and the run behind each unit.

``build(fn, claim, params, budget, device)`` reads the claim function's markers (``@pytest.mark.claim`` and
``@pytest.mark.parametrize``), checks them, and *plans* every unit: it calls the claim function once per
(point, seed shard) inside ``harness.result.planning``, so the agent's ``train`` hands back its call (agent
module, Config, seeds, device) instead of training. The record key is the hash of that call and of the
agent's code identity (harness/records.py), so a unit is addressed by what runs, never by the claim that
asked for it: two claims that plan the same run share its record.

Planning finds at collection, before anything trains, every mistake a claim can make: a setting the claim
reads but params.yaml lacks, one params.yaml sets but the claim never reads, a Config field that does not
exist, a claim that never calls an agent (or calls two), and a claim that ignores ``--device``.

The pytest plugin, ``python -m harness`` (verdict, verify, gc, status) and the tests all build designs here;
``Design.to_dict()`` is what a run writes to ``results/<budget>/claims/<claim>.json``.
"""
from __future__ import annotations

import difflib
import importlib
import importlib.util
import inspect
import itertools
import sys
from dataclasses import dataclass, field, is_dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from harness import trend
from harness.budget import Budget, Params, ParamsError, Settings, check_config
from harness.claim import STEPS_TO_THRESHOLD, ClaimSpec, ClaimSpecError, axis_coordinate, parse_docstring
from harness.identity import code_identity, relative
from harness.records import atomic_write_json, canonical_hash, file_digest, record_path, run_key
from harness.result import Plan, RunResult, planning

FIXTURES = ("seeds", "settings", "budget", "device", "record")  # what a claim function may ask for
FORMAT = 2


@dataclass
class UnitDesign:
    """One (point, seed shard) of a claim: the run it plans and where its record lives."""

    level_id: str
    """The point's id, e.g. ``width64`` (as pytest names the item, without the shard)."""
    params: dict[str, Any]
    """The point's parametrized arguments, e.g. ``{"width": 64}``."""
    seeds: tuple[int, ...]
    plan: Plan
    key: str
    path: str
    """The record's path relative to the results root."""
    code: dict[str, Any]
    """The agent's code identity (harness.identity.code_identity)."""

    @property
    def agent(self) -> str:
        return self.plan.agent

    def to_dict(self) -> dict[str, Any]:
        return {"level_id": self.level_id, "params": self.params, "seeds": list(self.seeds), "key": self.key,
                "path": self.path, "agent": self.plan.agent}


@dataclass
class Design:
    claim: str
    budget: Budget
    spec: ClaimSpec
    file: str
    function: str
    doc: dict[str, str]
    axis_values: list[Any]
    """Every declared value of the axis, in order."""
    kept: list[Any]
    """The axis values this budget runs."""
    settings: dict[str, Any]
    units: list[UnitDesign]
    alpha: float
    permutations: int
    code: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Agent module -> its code identity (the files and hashes behind every record key)."""

    @property
    def levels(self) -> list[dict[str, Any]]:
        rows: dict[str, dict[str, Any]] = {}
        for u in self.units:
            rows.setdefault(u.level_id, {"level_id": u.level_id, "params": u.params, "value": u.params[self.spec.axis]})
        return list(rows.values())

    def unit_for(self, params: dict[str, Any], seeds: Sequence[int]) -> UnitDesign:
        want = (canonical_hash(params), tuple(seeds))
        for u in self.units:
            if (canonical_hash(u.params), u.seeds) == want:
                return u
        raise KeyError(f"{self.claim}: no unit with {params} seeds {list(seeds)}")

    def write(self, results: Path) -> Path:
        """``results/<budget>/claims/<id>.json``: the design with the digest of each record it refers to (what a
        run writes after its units finished; the DVC run stage's output)."""
        digests = {u.path: file_digest(results / u.path) for u in self.units}
        path = results / self.budget.name / "claims" / f"{self.claim}.json"
        atomic_write_json(path, self.to_dict(digests))
        return path

    def to_dict(self, digests: dict[str, str | None] | None = None) -> dict[str, Any]:
        """The JSON design; ``digests`` (record path -> sha256 of its file, None while missing) ties a verdict
        to the exact records it read."""
        units = [u.to_dict() for u in self.units]
        if digests is not None:
            for u in units:
                u["digest"] = digests.get(u["path"])
        return {"format": FORMAT, "claim": self.claim, "budget": self.budget.name, "spec": self.spec.to_dict(),
                "spec_hash": self.spec.hash, "doc": self.doc, "file": self.file, "function": self.function,
                "all_levels": [{"value": v} for v in self.axis_values], "levels": self.levels,
                "seeds": list(range(self.budget.seeds)), "shards": [list(s) for s in self.budget.shards],
                "settings": self.settings, "plumbing_only": self.budget.plumbing_only, "units": units,
                "code": self.code, "alpha": self.alpha, "permutations": self.permutations}


# --- markers ---------------------------------------------------------------------------------------------

def marks(fn: Callable[..., Any]) -> list[Any]:
    """The function's pytest marks, in the order pytest applies them (the decorator nearest ``def`` first)."""
    return list(getattr(fn, "pytestmark", []))


def claim_mark(fn: Callable[..., Any]) -> Any | None:
    return next((m for m in marks(fn) if m.name == "claim"), None)


def parametrize_marks(fn: Callable[..., Any]) -> list[tuple[list[str], list[tuple[Any, ...]]]]:
    """(argnames, value tuples) of each ``parametrize`` mark, nearest ``def`` first (pytest's id order)."""
    out = []
    for mark in marks(fn):
        if mark.name != "parametrize":
            continue
        names = mark.args[0] if mark.args else mark.kwargs["argnames"]
        names = [n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)
        rows = []
        for raw in (mark.args[1] if len(mark.args) > 1 else mark.kwargs["argvalues"]):
            vals = raw.values if hasattr(raw, "marks") else (tuple(raw) if len(names) > 1 else (raw,))
            rows.append(tuple(vals))
        out.append((names, rows))
    return out


def levels_of(fn: Callable[..., Any]) -> dict[str, list[Any]]:
    """argname -> its values in declared order."""
    values: dict[str, list[Any]] = {}
    for names, rows in parametrize_marks(fn):
        for row in rows:
            for n, v in zip(names, row):
                values.setdefault(n, []).append(v)
    return values


def value_id(argname: str, value: Any) -> str | None:
    """How a claim level is named: strings as they are, numbers after their argument (``width64``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    return value if isinstance(value, str) else f"{argname}{value}"


def level_id(fn: Callable[..., Any], params: dict[str, Any]) -> str:
    """The point's id as pytest writes it (parts of the nearest parametrize first, joined by "-")."""
    parts = []
    for names, _ in parametrize_marks(fn):
        for n in names:
            vid = value_id(n, params[n])
            parts.append(vid if vid is not None else f"{n}={params[n]!r}")
    return "-".join(parts)


def points(fn: Callable[..., Any]) -> list[dict[str, Any]]:
    """Every combination of the parametrized arguments."""
    groups = [[dict(zip(names, row)) for row in rows] for names, rows in parametrize_marks(fn)]
    return [{k: v for part in combo for k, v in part.items()} for combo in itertools.product(*groups)]


# --- building ---------------------------------------------------------------------------------------------

def claim_id(path: str | Path, function: str) -> str:
    path = Path(path)
    if not path.stem.startswith("test_") or function != path.stem:
        raise ClaimSpecError(f"a claim lives in claims/test_<id>.py as the function test_<id> (one name per "
                             f"claim everywhere); rename {function} in {path.name} to {path.stem}, or the file")
    return path.stem[len("test_"):]


def load_claim(path: str | Path) -> Callable[..., Any]:
    """The claim function of ``claims/test_<id>.py``, imported outside pytest (or the module pytest imported)."""
    path = Path(path).resolve()
    name = path.stem
    for mod in list(sys.modules.values()):
        if getattr(mod, "__file__", None) and Path(mod.__file__).resolve() == path:
            return getattr(mod, name)
    spec = importlib.util.spec_from_file_location(f"_claim_{name}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import claim file {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    if not hasattr(module, name):
        raise ClaimSpecError(f"{path.name} defines no function {name}: a claim file holds its claim function "
                             f"test_<id>")
    return getattr(module, name)


def build(fn: Callable[..., Any], params: Params, budget: Budget, device: str) -> Design:
    """The claim's design at ``budget`` (checks the marker, the parametrization, params.yaml and every unit's
    plan; ClaimSpecError or ParamsError with the fix otherwise)."""
    path = Path(inspect.getfile(fn)).resolve()
    claim = claim_id(path, fn.__name__)
    where = f"{path.name}::{fn.__name__}"
    mark = claim_mark(fn)
    if mark is None:
        raise ClaimSpecError(f"{where} has no @pytest.mark.claim(...) marker")
    spec = ClaimSpec.from_marker(mark.args, mark.kwargs, where)
    levels = levels_of(fn)
    argnames = inspect.signature(fn).parameters
    unknown = [a for a in argnames if a not in FIXTURES and a not in levels]
    if unknown:
        raise ClaimSpecError(f"{where} asks for {unknown}: a claim function may use only the fixtures "
                             f"{', '.join(FIXTURES)} and its parametrized arguments")
    for needed in ("seeds", "record"):
        if needed not in argnames:
            raise ClaimSpecError(f"{where} must take `{needed}` (train on `seeds`, then call `record(result)`)")
    spec.check_parametrized(list(levels), levels.get(spec.axis, []), where,
                            levels.get(spec.contrast) if spec.contrast else None,
                            levels.get(spec.per_block) if spec.per_block else None)
    settings = params.settings(claim, budget.name)  # a clear error now if claims.<id>.<budget> is missing
    budget = params.claim_budget(claim, budget)
    kept = kept_levels(levels[spec.axis], budget, f"{where}: claims.{claim}.{budget.name}.levels")
    if not budget.plumbing_only:
        check_power(spec, kept, levels[spec.axis], budget, params, where)
    units: list[UnitDesign] = []
    codes: dict[str, dict[str, Any]] = {}
    kept_ids = {repr(v) for v in kept}
    for point in points(fn):
        if repr(point[spec.axis]) not in kept_ids:
            continue
        lid = level_id(fn, point)
        for shard in budget.shards:
            plan = plan_unit(fn, point, shard, settings, budget.name, device, f"{where}[{lid}]")
            if plan.agent not in codes:
                codes[plan.agent] = code_identity(plan.agent)
            key = run_key(plan, codes[plan.agent]["hash"])
            units.append(UnitDesign(level_id=lid, params=point, seeds=tuple(shard), plan=plan, key=key,
                                    path=record_path(budget.name, plan.agent, key), code=codes[plan.agent]))
    check_metrics(spec, {u.plan.agent for u in units}, where)
    unread = settings.unread()
    if unread:
        raise ParamsError(f"{params.path}: claims.{claim}.{budget.name} sets {', '.join(unread)}, but {fn.__name__} "
                          f"never uses {'it' if len(unread) == 1 else 'them'}: pass settings.{unread[0]} to the "
                          "agent's Config (or **settings), or remove it from params.yaml")
    declared = params.claim_entry(claim).get("agent")
    agents = sorted({u.agent.rsplit('.', 1)[-1] for u in units})
    if declared is not None and agents and agents != [declared]:
        raise ParamsError(f"{params.path}: claims.{claim}.agent is {declared!r}, but {fn.__name__} trains "
                          f"{', '.join(agents)}; set `agent: {agents[0]}` (dvc.yaml's run@{claim} depends on it)")
    return Design(claim=claim, budget=budget, spec=spec, file=relative(path), function=fn.__name__,
                  doc=parse_docstring(inspect.getmodule(fn).__doc__ or fn.__doc__, where), axis_values=list(levels[spec.axis]),
                  kept=kept, settings=settings.to_dict(), units=units, alpha=params.alpha,
                  permutations=params.permutations, code=codes)


class _Planned(RunResult):
    """What an agent's ``train`` returns while planning: the call, no members."""

    def __init__(self, plan: Plan):
        super().__init__(members=[])
        self.plan = plan


def plan_unit(fn: Callable[..., Any], point: dict[str, Any], seeds: Sequence[int], settings: Settings,
              budget: str, device: str, where: str) -> Plan:
    """Call the claim function for one unit with training replaced by planning; the one run it asks for."""
    calls: list[Plan] = []
    recorded: list[Any] = []

    def sink(plan: Plan) -> _Planned:
        calls.append(plan)
        return _Planned(plan)

    fixtures = {"seeds": list(seeds), "settings": settings, "budget": budget, "device": device,
                "record": recorded.append}
    wanted = inspect.signature(fn).parameters
    kwargs = {**point, **{k: v for k, v in fixtures.items() if k in wanted}}
    try:
        with planning(sink):
            fn(**kwargs)
    except (ParamsError, ClaimSpecError):
        raise
    except Exception as e:  # noqa: BLE001 - a mistake in the claim function, found before anything trains
        raise ClaimSpecError(f"{where}: building the run raised {type(e).__name__}: {e} (the claim function "
                             "builds an agent Config and calls its train(cfg, seeds, device); nothing was trained)") from e
    if len(calls) != 1:
        raise ClaimSpecError(f"{where} called an agent's train {len(calls)} times; a claim function makes one "
                             "agent Config and calls <agent>.train(cfg, seeds, device) once (an agent's train is "
                             "marked @harness.result.trainer)")
    if len(recorded) != 1 or not isinstance(recorded[0], _Planned) or recorded[0].plan is not calls[0]:
        raise ClaimSpecError(f"{where} must call record() once, with the result of the agent's train(), unchanged")
    plan = calls[0]
    if list(plan.seeds) != list(seeds):
        raise ClaimSpecError(f"{where} trains seeds {list(plan.seeds)}, but its unit has seeds {list(seeds)}: "
                             "pass the `seeds` fixture to train")
    if plan.device != device:
        raise ClaimSpecError(f"{where} trains on device {plan.device!r} while the run asks for {device!r}: take "
                             "the `device` fixture and pass it to train(cfg, seeds, device)")
    if not is_dataclass(plan.config):
        raise ClaimSpecError(f"{where}: the agent got a {type(plan.config).__name__} as its config; pass the "
                             "agent's Config dataclass")
    check_config(plan.config, settings, where)
    return plan


def kept_levels(values: list[Any], budget: Budget, where: str) -> list[Any]:
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


def check_power(spec: ClaimSpec, kept: list[Any], axis_values: list[Any], budget: Budget, params: Params,
                where: str) -> None:
    """Reject a design whose smallest achievable p is >= alpha: no outcome could be significant."""
    controls = {repr(c) for c in spec.controls or ()}
    trend_levels = [v for v in kept if repr(v) not in controls]
    x = [axis_coordinate(spec, v, axis_values) for v in trend_levels for _ in range(budget.seeds)]
    blocks = [s for _ in trend_levels for s in range(budget.seeds)] if spec.blocks else None
    min_p = trend.min_achievable_p(x, blocks=blocks, n_permutations=params.permutations)
    if min_p >= params.alpha:
        raise ClaimSpecError(f"{where}: at budget {budget.name!r} ({len(trend_levels)} levels x {budget.seeds} "
                             f"seeds) the smallest achievable p is {min_p:.3g} >= alpha={params.alpha}: no outcome "
                             "could be significant. Add seeds (budgets.<name>.seeds, or claims.<id>.<budget>.seeds) "
                             "or levels.")


def check_metrics(spec: ClaimSpec, agents: set[str], where: str) -> None:
    """Each of the claim's metrics must be one its agents report, for agents that declare theirs (``METRICS``
    in the agent's module); an agent that does not is checked when its result comes back."""
    for agent in sorted(agents):
        reported = getattr(importlib.import_module(agent), "METRICS", None)
        if reported is None:
            continue
        wrong = [m for m in spec.metrics if m not in reported and not (m == STEPS_TO_THRESHOLD and spec.reach)]
        if wrong:
            near = difflib.get_close_matches(wrong[0], reported, n=1)
            raise ClaimSpecError(f"{where}: the claim marker's metric {wrong[0]!r} is not one that {agent} reports "
                                 f"({', '.join(reported)}){f'; did you mean {near[0]!r}?' if near else ''} "
                                 "(nothing was trained)")


def build_all(params: Params, budget: Budget, device: str = "cpu", claims: Sequence[str] | None = None,
              root: Path | None = None) -> dict[str, Design]:
    """The designs of ``claims`` (default: every claim in params.yaml) from ``claims/test_<id>.py``."""
    root = root or params.path.resolve().parent
    out = {}
    for claim in claims or params.claims:
        path = root / "claims" / f"test_{claim}.py"
        if not path.exists():
            raise ParamsError(f"{params.path}: claim {claim!r} has no file {path}; add claims/test_{claim}.py")
        out[claim] = build(load_claim(path), params, budget, device)
    return out
