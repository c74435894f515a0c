"""What every agent returns: one RunResult per unit, one MemberResult per seed of the ensemble.

A leaf module: agents import only this (plus nn and envs) from the core, and the core reads results only
through it. Everything here is plain data that round-trips through JSON (``to_dict`` / ``from_dict``).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

# The two metrics every agent reports, computed from the learning curve by ``curve_metrics``.
FINAL_RETURN = "final_return"  # mean of the last 2 evaluations
AUC_RETURN = "auc_return"  # mean of all evaluations (area under the learning curve / its length)


@dataclass
class MemberResult:
    """The outcome of one seed (one ensemble member)."""

    seed: int
    """The member's seed; every RNG stream of the member derives from it alone."""
    metrics: dict[str, float]
    """Scalar metrics by name (at least final_return and auc_return); NaN only when ``diverged``."""
    curve_steps: list[int]
    """Env steps at which the policy was evaluated."""
    curve_returns: list[float]
    """Mean deterministic-policy evaluation return at each of ``curve_steps`` (NaN after divergence)."""
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
    """final_return (mean of the last 2 evaluations) and auc_return (mean of all) of one learning curve.

    NaN entries (evaluations after divergence) make both metrics NaN: a diverged run has no score of its
    own, and the verdict decides how divergence counts (see harness.verdict).
    """
    r = [float(v) for v in returns]
    if not r:
        raise ValueError("curve_metrics needs at least one evaluation; set eval_every so that one happens")
    if any(not math.isfinite(v) for v in r):
        return {FINAL_RETURN: math.nan, AUC_RETURN: math.nan}
    last = r[-2:]
    return {FINAL_RETURN: sum(last) / len(last), AUC_RETURN: sum(r) / len(r)}


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


def steps_to_threshold(curve_steps: Sequence[int], curve_returns: Sequence[float], threshold: float,
                       budget: int) -> float:
    """Env steps until the evaluation return first reaches ``threshold`` (data efficiency; lower is better).

    A run that never reaches it (NaN evaluations after divergence never do) is censored: it gets
    ``budget + 1``, one step past its env-step budget, so it ranks after every run that reached the
    threshold, even one that reached it at its last evaluation. Pure; used by agents and the verdict.
    """
    if len(curve_steps) != len(curve_returns):
        raise ValueError(f"curve_steps ({len(curve_steps)}) and curve_returns ({len(curve_returns)}) must "
                         "have one entry per evaluation")
    if budget < 0:
        raise ValueError(f"budget must be the member's env-step budget (>= 0), got {budget}")
    for step, ret in zip(curve_steps, curve_returns):
        if math.isfinite(float(ret)) and float(ret) >= threshold:
            return float(step)
    return float(budget + 1)
