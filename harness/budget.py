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

Every missing entry is a ``ParamsError`` that names the key to add.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterator, Mapping

import yaml

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
