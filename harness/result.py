"""The contract between agents and the harness: what an agent returns, and how the harness calls it.

One RunResult per unit, one MemberResult per seed of the ensemble: plain data that round-trips through JSON
(``to_dict`` / ``from_dict``). Every agent's ``train(cfg, seeds, device)`` is marked ``@trainer``, which lets
the harness *plan* a claim without training (``planning``): the claim function runs, builds its Config and
calls ``train``, and the call is captured as a ``Plan`` (agent module, config, seeds, device). A record is
addressed by that plan, not by the claim that asked for it (harness/records.py).

A leaf module: agents import only this (plus nn, envs and agents/common) from the core, and the core reads
results only through it.
"""
from __future__ import annotations

import functools
import math
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterator, Sequence

# The metrics every return-based agent reports, computed from the learning curve by ``curve_metrics``. The
# curve starts with the untrained policy's evaluation at step 0.
INITIAL_RETURN = "initial_return"  # the step-0 evaluation (the untrained policy)
FINAL_RETURN = "final_return"  # mean of the last 2 evaluations after step 0
AUC_RETURN = "auc_return"  # mean of the evaluations after step 0 (area under the learning curve / its length)


@dataclass
class MemberResult:
    """The outcome of one seed (one ensemble member)."""

    seed: int
    """The member's seed; every RNG stream of the member derives from it alone."""
    metrics: dict[str, float]
    """Scalar metrics by name (at least final_return and auc_return); NaN only when ``diverged``."""
    curve_steps: list[int]
    """Env steps (gradient steps for offline agents) at which the policy was evaluated; the first is 0, the
    untrained policy, evaluated with the same protocol as every later entry."""
    curve_returns: list[float]
    """Mean deterministic-policy evaluation return at each of ``curve_steps`` (NaN after divergence)."""
    initial: dict[str, float] = field(default_factory=dict)
    """The value each claimable metric has for the untrained policy (the step-0 evaluation): the baseline a
    learning gate measures progress from. ``untrained_metrics`` gives it for the curve metrics."""
    diverged: bool = False
    """True when a non-finite loss or parameter stopped this member's training."""
    diverged_step: int | None = None
    """Env step at which divergence was detected (None if it did not diverge)."""
    env_steps: int = 0
    """Environment steps taken by this member."""
    updates: int = 0
    """Gradient updates applied to this member."""
    params: dict[str, int] = field(default_factory=dict)
    """Parameter counts by module name (e.g. actor, critic); ``total`` is the sum."""
    flops: float = 0.0
    """Estimated training FLOPs of this member (forward+backward matmuls, 6 * params * samples rule)."""
    wall_time: float = 0.0
    """Seconds of wall time attributed to this member (the ensemble's wall time / members)."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Agent-specific JSON-serializable details (losses, diagnostics)."""


@dataclass
class RunResult:
    """What ``agent.train(cfg, seeds)`` returns: one member per seed, in the order of ``seeds``."""

    members: list[MemberResult]
    config: dict[str, Any] = field(default_factory=dict)
    """The resolved agent config (``dataclasses.asdict(cfg)``), recorded for provenance."""
    device: str = "cpu"

    @property
    def seeds(self) -> list[int]:
        return [m.seed for m in self.members]

    def to_dict(self) -> dict[str, Any]:
        return {"members": [_jsonable(asdict(m)) for m in self.members], "config": _jsonable(self.config),
                "device": self.device}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RunResult":
        members = []
        for m in d["members"]:
            m = dict(m)
            m["metrics"] = {k: _float(v) for k, v in m["metrics"].items()}
            m["curve_returns"] = [_float(v) for v in m["curve_returns"]]
            members.append(MemberResult(**m))
        return cls(members=members, config=d.get("config", {}), device=d.get("device", "cpu"))


def curve_metrics(returns: Sequence[float]) -> dict[str, float]:
    """initial_return (the step-0 entry), final_return (mean of the last 2 evaluations after it) and
    auc_return (mean of the evaluations after it) of one learning curve that starts at step 0.

    NaN entries (evaluations after divergence) make final_return and auc_return NaN: a diverged run has no
    score of its own, and the verdict decides how divergence counts (see harness.verdict).
    """
    r = [float(v) for v in returns]
    if len(r) < 2:
        raise ValueError("curve_metrics needs the step-0 evaluation and at least one after training; set "
                         "eval_every so that one happens")
    initial, trained = r[0], r[1:]
    if any(not math.isfinite(v) for v in trained):
        return {INITIAL_RETURN: initial, FINAL_RETURN: math.nan, AUC_RETURN: math.nan}
    last = trained[-2:]
    return {INITIAL_RETURN: initial, FINAL_RETURN: sum(last) / len(last), AUC_RETURN: sum(trained) / len(trained)}


def untrained_metrics(returns: Sequence[float]) -> dict[str, float]:
    """What final_return and auc_return are for the untrained policy: its step-0 evaluation (``initial``)."""
    return {FINAL_RETURN: float(returns[0]), AUC_RETURN: float(returns[0])}


def _float(v: Any) -> float:
    return math.nan if v is None else float(v)


def _jsonable(obj: Any) -> Any:
    """NaN/inf -> None (strict JSON), numpy scalars -> Python, tuples -> lists."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):  # numpy / torch scalar
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


# --- live progress -------------------------------------------------------------------------------------
# Agents call ``report_progress`` every few hundred env steps; the harness installs a sink that draws a
# progress line on a terminal (and nothing in CI logs). Without a sink the call costs one lookup.
_progress_sink: Any = None


def report_progress(env_steps_done: int, env_steps_total: int, recent_return: float | None = None) -> None:
    """Tell the harness how far the running unit is (total over the ensemble's members or per member)."""
    if _progress_sink is not None:
        _progress_sink(env_steps_done, env_steps_total, recent_return)


def set_progress_sink(sink: Any) -> Any:
    """Install ``sink(done, total, recent_return)`` (or None); returns the previous sink."""
    global _progress_sink
    previous, _progress_sink = _progress_sink, sink
    return previous


# --- planning ------------------------------------------------------------------------------------------
# ``@trainer`` marks an agent's ``train(cfg, seeds, device)``. Inside ``planning(sink)`` a call returns
# ``sink(Plan)`` and trains nothing; outside it trains as usual.
_plan_sink: Callable[["Plan"], Any] | None = None


@dataclass(frozen=True)
class Plan:
    """One call of an agent's ``train``: everything that determines the run's outcome (with the code)."""

    agent: str
    """The agent's module, e.g. ``harness.agents.sac``."""
    config: Any
    """The agent's Config, as ``train`` received it."""
    seeds: tuple[int, ...]
    device: str


def trainer(train: Callable[..., RunResult]) -> Callable[..., RunResult]:
    """Mark ``train(cfg, seeds, device="cpu", **options)`` as an agent's entry point (see ``planning``)."""
    @functools.wraps(train)
    def entry(cfg: Any, seeds: Sequence[int], device: str = "cpu", **options: Any) -> RunResult:
        if _plan_sink is not None:
            if options:
                raise TypeError(f"a claim calls {train.__module__}.train(cfg, seeds, device) only; options "
                                f"{sorted(options)} belong in the Config")
            return _plan_sink(Plan(train.__module__, cfg, tuple(int(s) for s in seeds), str(device)))
        return train(cfg, seeds, device, **options)
    entry.is_trainer = True  # type: ignore[attr-defined]
    return entry


@contextmanager
def planning(sink: Callable[[Plan], Any]) -> Iterator[None]:
    """Within this block, ``@trainer`` functions hand their call to ``sink`` instead of training."""
    global _plan_sink
    previous, _plan_sink = _plan_sink, sink
    try:
        yield
    finally:
        _plan_sink = previous
