"""Budget profiles and per-claim settings, read from params.yaml.

params.yaml (README, "Budgets"):

    budget: quick                      # the active budget
    verdict: {alpha: 0.05, permutations: 9999}
    budgets:
      quick: {seeds: 5, seeds_per_unit: 5, levels: all, plumbing_only: false}
    claims:
      sac_width:                       # one entry per claims/test_<id>.py; the claims list of dvc.yaml
        agent: sac                     # harness/agents/<agent>.py (a DVC dependency of run@<id>)
        quick: {steps: 50000, eval_episodes: 5, minutes: 25}

Every missing entry is a ``ParamsError`` that names the key to add. ``Params.load`` validates every section
that is present against a schema (pydantic models: strict types, no unknown keys where the keys are fixed), and
reports every malformed value at once, one paragraph each with its dotted params.yaml location, what was found,
what is expected and an example; a missing section is reported when it is first needed. ``check_config`` checks
an agent Config built from a claim's settings against its field types.
"""
from __future__ import annotations

import collections.abc
import dataclasses
import functools
import math
import types
import typing
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any, Iterator, Literal, Mapping, Union

import pydantic
import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

LEVEL_MODES = ("all", "extremes")
# Keys of claims.<id>.<budget> that are not the agent's settings (so not in record keys): the planning
# estimate, and per-claim overrides of the budget's seeds, seeds_per_unit (agents that train seeds one after
# another gain nothing from a big unit, and small units spread better over workers) and levels (a list of
# axis values: the ladder a claim affords at that budget, e.g. the three smallest model presets).
HARNESS_KEYS = {"minutes", "seeds", "seeds_per_unit", "levels"}


class ParamsError(ValueError):
    """params.yaml lacks an entry or has a malformed one; the message says what to add."""


@dataclass(frozen=True)
class Budget:
    """One budget profile: how many seeds, how they are sharded into units, which levels run."""

    name: str
    seeds: int
    """Seeds per level: 0 .. seeds-1."""
    seeds_per_unit: int
    """Seeds trained together as one ensemble (one unit, one record)."""
    levels: str | tuple[Any, ...] = "all"
    """'all' levels of the sweep, only the 'extremes' (smallest and largest), or (set per claim) a tuple of
    axis values."""
    plumbing_only: bool = False
    """True for smoke budgets: check that everything runs; assert no verdict."""

    @property
    def shards(self) -> list[tuple[int, ...]]:
        """Seed shards, fixed by ``seeds_per_unit`` (never by the number of workers)."""
        s = list(range(self.seeds))
        return [tuple(s[i:i + self.seeds_per_unit]) for i in range(0, self.seeds, self.seeds_per_unit)]


class Settings(Mapping[str, Any]):
    """Per-claim, per-budget quantities (``claims.<id>.<budget>``), read as attributes: ``settings.steps``."""

    def __init__(self, where: str, values: Mapping[str, Any]):
        self._where = where
        self._values = dict(values)
        self._read: set[str] = set()
        """The names a claim has read (planning checks that it read every one)."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        self._read.add(name)
        try:
            return self._values[name]
        except KeyError:
            raise ParamsError(f"params.yaml: {self._where} has no {name!r}; add `{name}: <value>` under "
                              f"{self._where} (it has: {', '.join(sorted(self._values)) or 'nothing'})") from None

    def __getitem__(self, key: str) -> Any:
        return self.__getattr__(key)

    def get(self, key: str, default: Any = None) -> Any:
        self._read.add(key)
        return self._values.get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self._values

    def __iter__(self) -> Iterator[str]:
        self._read.update(self._values)
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Settings({self._where}: {self._values})"

    def to_dict(self) -> dict[str, Any]:
        return dict(self._values)

    def unread(self) -> list[str]:
        """Settings that no attribute access, ``get``, iteration or ``**settings`` has read."""
        return sorted(set(self._values) - self._read)


@dataclass(frozen=True)
class Params:
    """The parsed params.yaml."""

    path: Path
    data: dict[str, Any]

    @classmethod
    def load(cls, path: str | Path = "params.yaml") -> "Params":
        path = Path(path)
        if not path.exists():
            raise ParamsError(f"{path} not found: run from the project root, or create it (see README, Budgets)")
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as e:
            raise ParamsError(f"{path} is not valid YAML: {e}") from e
        if not isinstance(data, dict):
            raise ParamsError(f"{path} must be a mapping with keys budget, verdict, budgets, claims")
        validate(data, path)
        return cls(path, data)

    def _get(self, *keys: str) -> Any:
        node: Any = self.data
        for i, k in enumerate(keys):
            if not isinstance(node, dict) or k not in node:
                dotted = ".".join(keys[: i + 1])
                raise ParamsError(f"{self.path}: missing `{dotted}`; add it (see the other entries there, "
                                  "and README, Budgets)")
            node = node[k]
        return node

    @property
    def active_budget(self) -> str:
        return str(self._get("budget"))

    @property
    def alpha(self) -> float:
        alpha = float(self._get("verdict", "alpha"))
        if not 0 < alpha < 1:
            raise ParamsError(f"{self.path}: verdict.alpha must lie in (0, 1), got {alpha}")
        return alpha

    @property
    def permutations(self) -> int:
        return int(self.data.get("verdict", {}).get("permutations", 9999))

    @property
    def claims(self) -> list[str]:
        return list(self._get("claims") or {})

    def budget(self, name: str | None = None) -> Budget:
        name = name or self.active_budget
        budgets = self._get("budgets")
        if name not in budgets:
            raise ParamsError(f"{self.path}: unknown budget {name!r}; known: {', '.join(budgets)} "
                              f"(add `budgets.{name}` to define it)")
        raw = dict(budgets[name])
        unknown = set(raw) - {"seeds", "seeds_per_unit", "levels", "plumbing_only"}
        if unknown:
            raise ParamsError(f"{self.path}: budgets.{name} has unknown keys {sorted(unknown)}")
        for key in ("seeds", "seeds_per_unit"):
            if key not in raw:
                raise ParamsError(f"{self.path}: missing `budgets.{name}.{key}`; add it")
        b = Budget(name=name, seeds=int(raw["seeds"]), seeds_per_unit=int(raw["seeds_per_unit"]),
                   levels=str(raw.get("levels", "all")), plumbing_only=bool(raw.get("plumbing_only", False)))
        if b.seeds < 1 or b.seeds_per_unit < 1:
            raise ParamsError(f"{self.path}: budgets.{name}: seeds and seeds_per_unit must be >= 1")
        if b.levels not in LEVEL_MODES:
            raise ParamsError(f"{self.path}: budgets.{name}.levels must be one of {LEVEL_MODES}, got {b.levels!r}")
        return b

    def claim_entry(self, claim: str) -> dict[str, Any]:
        claims = self._get("claims") or {}
        if claim not in claims:
            raise ParamsError(f"{self.path}: claim {claim!r} is not in the claims list; add `claims.{claim}` "
                              f"with `agent:` and one settings entry per budget (e.g. `smoke: {{steps: 500}}`)")
        return claims[claim] or {}

    def settings(self, claim: str, budget: str | None = None) -> Settings:
        budget = budget or self.active_budget
        entry = self.claim_entry(claim)
        if budget not in entry:
            raise ParamsError(f"{self.path}: missing `claims.{claim}.{budget}`; add the settings of claim "
                              f"{claim!r} at budget {budget!r} (e.g. `{budget}: {{steps: ..., eval_episodes: ...}}`)")
        values = {k: v for k, v in (entry[budget] or {}).items() if k not in HARNESS_KEYS}
        return Settings(f"claims.{claim}.{budget}", values)

    def claim_budget(self, claim: str, budget: Budget) -> Budget:
        """The budget as one claim runs it: ``seeds``, ``seeds_per_unit`` and ``levels`` in
        ``claims.<id>.<budget>`` override the budget's."""
        entry = self.claim_entry(claim).get(budget.name) or {}
        out = {}
        for key in ("seeds", "seeds_per_unit"):
            value = entry.get(key)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise ParamsError(f"{self.path}: claims.{claim}.{budget.name}.{key} must be an integer >= 1, "
                                  f"got {value!r}")
            if value is not None:
                out[key] = value
        levels = entry.get("levels")
        if levels is not None:
            if not (levels in LEVEL_MODES or (isinstance(levels, list) and len(levels) >= 2)):
                raise ParamsError(f"{self.path}: claims.{claim}.{budget.name}.levels must be one of {LEVEL_MODES} "
                                  f"or a list of at least 2 axis values, got {levels!r}")
            out["levels"] = levels if isinstance(levels, str) else tuple(levels)
        return replace(budget, **out)

    def expected_minutes(self, claim: str, budget: str | None = None) -> float | None:
        """The ``minutes`` estimate of a claim at a budget (on the 2-core machine), if params gives one."""
        value = (self.claim_entry(claim).get(budget or self.active_budget) or {}).get("minutes")
        return None if value is None else float(value)


# --- the params.yaml schema -------------------------------------------------------------------------------
# Strict: no str -> bool, no float -> int, no str -> number (an int is a valid float). A field whose default is
# None but whose type does not admit None is optional when absent (the "missing `...`" error comes when it is
# first needed) but wrong when written as null.

_Count = Annotated[int, Field(ge=1)]
_FIXED = ConfigDict(strict=True, extra="forbid")


class VerdictSchema(BaseModel):
    model_config = _FIXED
    alpha: Annotated[float, Field(gt=0, lt=1, allow_inf_nan=False)] = None  # type: ignore[assignment]
    permutations: _Count = None  # type: ignore[assignment]


class ExecutionSchema(BaseModel):
    model_config = _FIXED
    executor: Literal["local", "ray"] = "local"
    workers: _Count | None = None
    ray_address: str | None = None
    checkpoint_minutes: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None


class BudgetSchema(BaseModel):
    model_config = _FIXED
    seeds: _Count
    seeds_per_unit: _Count
    levels: Literal["all", "extremes"] = "all"
    plumbing_only: bool = False


class ClaimBudgetSchema(BaseModel):
    """``claims.<id>.<budget>``: the harness keys are typed; every other key is the agent's setting."""

    model_config = ConfigDict(strict=True, extra="allow")
    minutes: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
    seeds: _Count | None = None
    seeds_per_unit: _Count | None = None
    levels: Any = None

    @field_validator("levels")
    @classmethod
    def _levels(cls, v: Any) -> Any:
        if v is None or v in LEVEL_MODES or (isinstance(v, list) and len(v) >= 2):
            return v
        raise ValueError("levels must be one of 'all', 'extremes' or a list of at least 2 axis values")


class ClaimSchema(BaseModel):
    """``claims.<id>``: ``agent`` and one entry per budget (any other key)."""

    model_config = ConfigDict(strict=True, extra="allow")
    __pydantic_extra__: dict[str, ClaimBudgetSchema | None]
    agent: str


class ParamsSchema(BaseModel):
    model_config = _FIXED
    budget: str = None  # type: ignore[assignment]
    verdict: VerdictSchema = None  # type: ignore[assignment]
    execution: ExecutionSchema | None = None
    budgets: dict[str, BudgetSchema] = None  # type: ignore[assignment]
    claims: dict[str, ClaimSchema | None] | None = None


_KEYS = {  # the fixed keys of each mapping, for "unknown key" messages
    "": ("budget", "verdict", "execution", "budgets", "claims"),
    "verdict": ("alpha", "permutations"),
    "execution": ("executor", "workers", "ray_address", "checkpoint_minutes"),
    "budgets.*": ("seeds", "seeds_per_unit", "levels", "plumbing_only"),
}
_BUDGET_EXAMPLE = "{seeds: 5, seeds_per_unit: 5, levels: all, plumbing_only: false}"
_EXPECT: dict[str, tuple[str, str]] = {  # location pattern -> (what is expected, an example line)
    "budget": ("the name of a budget under `budgets` (a string)", "budget: quick"),
    "verdict": ("a mapping with alpha and permutations", "verdict: {alpha: 0.05, permutations: 9999}"),
    "verdict.alpha": ("a number strictly between 0 and 1", "alpha: 0.05"),
    "verdict.permutations": ("an integer >= 1", "permutations: 9999"),
    "execution": ("a mapping with executor and optionally workers, ray_address", "execution: {executor: local}"),
    "execution.executor": ("'local' or 'ray'", "executor: local"),
    "execution.workers": ("an integer >= 1 (leave it out for the number of cores)", "workers: 2"),
    "execution.ray_address": ("a string, the address of a Ray cluster", "ray_address: auto"),
    "execution.checkpoint_minutes": ("a number >= 0: minutes between a running unit's checkpoints (0: none)",
                                     "checkpoint_minutes: 5"),
    "budgets": ("a mapping of budget names to budget profiles", f"budgets: {{quick: {_BUDGET_EXAMPLE}}}"),
    "budgets.*": ("a mapping with seeds, seeds_per_unit, levels, plumbing_only", f"<name>: {_BUDGET_EXAMPLE}"),
    "budgets.*.seeds": ("an integer >= 1", "seeds: 2"),
    "budgets.*.seeds_per_unit": ("an integer >= 1", "seeds_per_unit: 2"),
    "budgets.*.levels": ("'all' or 'extremes'", "levels: all"),
    "budgets.*.plumbing_only": ("true or false (a YAML boolean, unquoted)", "plumbing_only: false"),
    "claims": ("a mapping of claim ids to their entries", "claims: {sac_width: {agent: sac, quick: {steps: 10000}}}"),
    "claims.*": ("a mapping with `agent:` and one settings entry per budget",
                 "<id>: {agent: sac, smoke: {steps: 500}}"),
    "claims.*.agent": ("the name of a module in harness/agents/ (a string)", "agent: sac"),
    "claims.*.*": ("a mapping of the claim's settings at that budget", "<budget>: {steps: 10000, minutes: 5}"),
    "claims.*.*.minutes": ("a number >= 0 (the expected wall time in minutes)", "minutes: 5"),
    "claims.*.*.seeds": ("an integer >= 1", "seeds: 3"),
    "claims.*.*.seeds_per_unit": ("an integer >= 1", "seeds_per_unit: 1"),
    "claims.*.*.levels": ("'all', 'extremes' or a list of at least 2 axis values", "levels: [XS, S]"),
}

_SUBJECTS = {"budgets.*": "budgets.<name>", "claims.*": "claims.<id>", "claims.*.*": "claims.<id>.<budget>"}


def _pattern(loc: tuple[Any, ...]) -> str:
    """``("budgets", "smoke", "seeds")`` -> ``budgets.*.seeds``: the schema location of a params.yaml path."""
    out = []
    for i, part in enumerate(loc):
        if (loc[0] == "budgets" and i == 1) or (loc[0] == "claims" and i == 1) or \
                (loc[0] == "claims" and i == 2 and part != "agent"):
            out.append("*")
        else:
            out.append(str(part))
    return ".".join(out)


def _show(value: Any) -> str:
    """A found value as the message shows it (a quoted number or boolean says that it is a string)."""
    text = repr(value)
    if len(text) > 80:
        text = text[:77] + "..."
    if isinstance(value, str):
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError:
            parsed = value
        if isinstance(parsed, (bool, int, float)):
            text += " (a string: write it without quotes)"
        elif any(c.isdigit() for c in value) and _is_number(value):
            text += " (a string: YAML reads a number like 1e-3 as text; write 0.001 or 1.0e-3)"
    elif value is None:
        text = "null"
    return text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _problem(path: Path, error: Mapping[str, Any]) -> tuple[str, str]:
    """(dotted location, one paragraph) for one pydantic error on params.yaml."""
    loc = tuple(error["loc"])
    if loc and loc[-1] == "[key]":  # a mapping key that is not a string
        where = ".".join(str(p) for p in loc[:-2]) or "params.yaml's top level"
        return ".".join(map(str, loc)), (f"{path}: {where} has the key {loc[-2]!r} ({type(loc[-2]).__name__}); "
                                        f"names in params.yaml must be strings, e.g. quote it: `'{loc[-2]}': ...`")
    dotted = ".".join(str(p) for p in loc)
    key = str(loc[-1]) if loc else ""
    if error["type"] == "extra_forbidden":
        parent = _pattern(loc[:-1])
        allowed = ", ".join(_KEYS.get(parent, ()))
        inside = ".".join(map(str, loc[:-1])) or "params.yaml's top level"
        return dotted, (f"{path}: {dotted} is not a key of {inside} (found `{key}: {_show(error['input'])}`); the "
                        f"keys there are {allowed}: remove it or fix its spelling")
    pattern = _pattern(loc)
    expected, example = _EXPECT.get(pattern, ("a valid value", f"{key}: ..."))
    example = example.replace(example.split(":", 1)[0], key, 1) if example.startswith("<") else example
    subject = _SUBJECTS.get(pattern, key)
    if error["type"] == "missing":
        return dotted, f"{path}: missing `{dotted}`; add it, e.g. `{example}` (see README)"
    return dotted, f"{path}: {dotted} is {_show(error['input'])}; {subject} must be {expected}, e.g. `{example}`"


def validate(data: Mapping[str, Any], path: str | Path = "params.yaml") -> None:
    """Check the sections of a parsed params.yaml that are present against the schema; a ``ParamsError`` with
    one paragraph per malformed value otherwise."""
    try:
        ParamsSchema.model_validate(data)
    except ValidationError as e:
        problems: dict[str, str] = {}
        for error in e.errors():
            dotted, text = _problem(Path(path), error)
            problems.setdefault(dotted, text)
        raise ParamsError("\n\n".join(problems.values())) from None


# --- agent Configs -------------------------------------------------------------------------------------------

def _list_to_tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _relaxed(tp: Any) -> Any:
    """``tp`` as check_config accepts it: a list where a tuple is expected (params.yaml has no tuples)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (Union, types.UnionType):
        return Union[tuple(_relaxed(a) for a in args)]
    if origin is tuple:
        inner = tuple[tuple(a if a is Ellipsis else _relaxed(a) for a in args)] if args else tuple
        return Annotated[inner, BeforeValidator(_list_to_tuple)]
    if tp is tuple:
        return Annotated[tuple, BeforeValidator(_list_to_tuple)]
    if origin in (list, dict, collections.abc.Sequence, collections.abc.Mapping) and args:
        return origin[tuple(_relaxed(a) for a in args)]
    return tp


@functools.lru_cache(maxsize=None)
def _adapter(tp: Any) -> pydantic.TypeAdapter:
    return pydantic.TypeAdapter(_relaxed(tp))


def _conforms(value: Any, tp: Any) -> bool:
    try:
        adapter = _adapter(tp)
    except TypeError:  # an unhashable annotation: no cache
        adapter = pydantic.TypeAdapter(_relaxed(tp))
    except Exception:  # noqa: BLE001 - a type pydantic cannot build a validator for: check the class only
        cls = typing.get_origin(tp) or tp
        return not isinstance(cls, type) or isinstance(value, cls)
    try:
        adapter.validate_python(value, strict=True)
    except ValidationError:
        return False
    return True


_WORDS = {int: "an int", float: "a float (an int will do)", str: "a str", bool: "a bool (true or false)",
          type(None): "None (null)"}


def _type_text(tp: Any) -> str:
    if tp in _WORDS:
        return _WORDS[tp]
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (Union, types.UnionType):
        return " or ".join(_type_text(a) for a in args)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    name = repr(tp).replace("typing.", "") if origin is not None else getattr(tp, "__qualname__", repr(tp))
    if origin in (tuple, list, collections.abc.Sequence):
        return f"a {name} (a list in params.yaml)"
    return f"a {name}"


def _yaml_inline(value: Any) -> str | None:
    def plain(v: Any) -> Any:
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {str(k): plain(x) for k, x in v.items()}
        if v is None or isinstance(v, (bool, int, float, str)):
            return v
        raise TypeError(v)
    try:
        text = yaml.safe_dump(plain(value), default_flow_style=True, width=10_000).strip()
    except (TypeError, yaml.YAMLError):
        return None
    return text[:-3].strip() if text.endswith("...") else text


def _example(field: dataclasses.Field, tp: Any) -> Any:
    """The field's default when it has one of the right type, else a value of the type (or MISSING)."""
    default = field.default
    if default is dataclasses.MISSING and field.default_factory is not dataclasses.MISSING:
        try:
            default = field.default_factory()
        except Exception:  # noqa: BLE001
            default = dataclasses.MISSING
    if default is not dataclasses.MISSING and default is not None and _conforms(default, tp):
        return default
    for candidate in (1, 0.5, "name", True, ["a", "b"]):
        if _conforms(candidate, tp):
            return candidate
    return dataclasses.MISSING


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if type(a) is not type(b):
        return False
    try:
        return bool(a == b) or (isinstance(a, float) and math.isnan(a) and math.isnan(b))
    except Exception:  # noqa: BLE001
        return False


def _setting_of(settings: Mapping[str, Any], field_path: tuple[str, ...], value: Any) -> tuple[str, ...] | None:
    """The path, within the settings, of the setting that ``value`` (Config field ``field_path``) came from:
    the same path (or, nested, the same name) holding that object or an equal value, else the one setting
    that holds that very object."""
    entries: list[tuple[tuple[str, ...], Any]] = []

    def walk(node: Mapping[str, Any], prefix: tuple[str, ...]) -> None:
        for k, v in node.items():
            entries.append((prefix + (str(k),), v))
            if isinstance(v, Mapping):
                walk(v, prefix + (str(k),))
    walk(settings, ())
    tiers = [
        [p for p, v in entries if p == field_path and (v is value or _same(v, value))],
        [p for p, v in entries if p[-1] == field_path[-1] and v is value],
        [p for p, v in entries if p[-1] == field_path[-1] and _same(v, value)],
        [p for p, v in entries if v is value],
    ]
    for tier in tiers:
        if len(tier) == 1:
            return tier[0]
    return None


def _check_fields(obj: Any, cls_name: str, field_path: tuple[str, ...], settings: Settings,
                  problems: list[str], where: str) -> None:
    try:
        hints = typing.get_type_hints(type(obj))
    except Exception:  # noqa: BLE001 - an annotation that does not resolve: check those that do
        hints = {f.name: f.type for f in dataclasses.fields(obj) if not isinstance(f.type, str)}
    for f in dataclasses.fields(obj):
        if f.name not in hints:
            continue
        tp, value, here = hints[f.name], getattr(obj, f.name), field_path + (f.name,)
        if dataclasses.is_dataclass(value) and not isinstance(value, type) and _conforms(value, tp):
            _check_fields(value, cls_name, here, settings, problems, where)
            continue
        if _conforms(value, tp):
            continue
        name = f"{cls_name}.{'.'.join(here)}"
        example = _example(f, tp)
        source = _setting_of(settings._values, here, value)
        prefix = f"{where}: " if where else ""
        if source is not None:
            loc = ".".join((settings._where,) + source) if settings._where else ".".join(source)
            line = _yaml_inline(example) if example is not dataclasses.MISSING else None
            fix = f"write `{source[-1]}: {line}`" if line is not None else f"write {_type_text(tp)}"
            problems.append(f"{prefix}params.yaml: {loc} is {_show(value)}, but {name} is {_type_text(tp)}: {fix}")
        else:
            fix = f" (e.g. `{f.name}={example!r}`)" if example is not dataclasses.MISSING else ""
            problems.append(f"{prefix}{name} is {value!r} ({type(value).__name__}), but it must be "
                            f"{_type_text(tp)}: the claim function sets it; pass a value of that type{fix}")


def check_config(cfg: Any, settings: Settings, where: str) -> None:
    """Check every field of an agent Config (a dataclass instance, nested dataclasses included) against its type
    annotation, strictly (an int will do for a float, a list for a tuple); a ``ParamsError`` that names the field,
    its value, the expected type and, when the value came from a setting, its params.yaml location."""
    if not dataclasses.is_dataclass(cfg) or isinstance(cfg, type):
        raise ParamsError(f"{where}: the agent's config is a {type(cfg).__name__}, not a Config dataclass instance")
    cls = type(cfg)
    cls_name = f"{cls.__module__.rsplit('.', 1)[-1]}.{cls.__qualname__}"
    problems: list[str] = []
    _check_fields(cfg, cls_name, (), settings, problems, where)
    if problems:
        raise ParamsError("\n\n".join(problems))
