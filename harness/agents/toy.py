"""A synthetic agent for the harness's own tests and for trying the pipeline in seconds: no learning.

Each "run" draws its learning curve from a generator seeded by (seed, size): the level it reaches is
``slope * log2(size)`` plus Gaussian noise (``kind="trend"``), or, over an IsoFLOP grid (``kind=
"compute_optimal"``), ``10 - (log2(size) - log2(best size at this compute)) ** 2`` plus noise, where the best
size is ``4 * (compute / 64) ** optimum_exponent``. The curve starts at 0 (the "untrained" step-0
evaluation). ``fault`` injects what a broken agent would do, so tests can check how the harness reacts.
Never used by a real claim.
"""
from __future__ import annotations

import math
import os
import signal
import time
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

from harness import checkpoint
from harness.result import (AUC_RETURN, FINAL_RETURN, INITIAL_RETURN, MemberResult, RunResult, curve_metrics,
                            report_progress, trainer, untrained_metrics)

METRICS = (INITIAL_RETURN, FINAL_RETURN, AUC_RETURN)  # what a claim may test (checked at collection)
FAULTS = ("", "unreported_nan", "missing_metric", "diverge_seed0_size8", "raises")


@dataclass(frozen=True)
class Config:
    size: float = 1
    steps: int = 8
    slope: float = -1.0
    noise: float = 0.1
    kind: str = "trend"
    compute: float = 1.0
    optimum_exponent: float = 0.5
    sleep: float = 0.0
    """Seconds each run sleeps (to test interruption and parallel pools)."""
    fault: str = ""
    """One of FAULTS."""

    def __post_init__(self) -> None:
        if self.fault not in FAULTS:
            raise ValueError(f"toy Config.fault must be one of {FAULTS}, got {self.fault!r}")
        if self.kind not in ("trend", "compute_optimal"):
            raise ValueError(f"toy Config.kind must be 'trend' or 'compute_optimal', got {self.kind!r}")


@trainer
def train(cfg: Config, seeds: Sequence[int], device: str = "cpu") -> RunResult:
    if os.environ.get("TOY_COUNTER"):  # which runs happened (tests count them)
        with open(os.environ["TOY_COUNTER"], "a") as f:
            f.write(f"size{cfg.size} {list(seeds)}\n")
    if os.environ.get("TOY_PIDS"):  # the process running this unit (tests kill it)
        with open(os.environ["TOY_PIDS"], "a") as f:
            f.write(f"{os.getpid()}\n")
    while os.environ.get("TOY_HOLD") and not os.path.exists(os.environ["TOY_HOLD"]):  # tests release it
        time.sleep(0.05)
    if os.environ.get("TOY_SUICIDE") == f"size{cfg.size}":  # a unit whose process always dies
        os.kill(os.getpid(), signal.SIGKILL)
    if cfg.fault == "raises":
        raise ValueError("toy fault: the agent raised")
    ckpt = checkpoint.current()  # resumable: the tenths of the sleep already slept (harness/checkpoint.py)
    state = ckpt.load()
    for i in range(0 if state is None else state["step"] + 1, 10):  # the sleep in tenths, reported as progress
        time.sleep(cfg.sleep / 10)
        report_progress((i + 1) * cfg.steps // 10, cfg.steps, float(i))
        if ckpt.due():
            ckpt.save({"step": i})
    members = []
    for seed in seeds:
        if cfg.kind == "trend":
            rng = np.random.default_rng([seed, int(round(cfg.size * 1000))])
            level = cfg.slope * np.log2(cfg.size) + rng.normal(0, cfg.noise)
            steps = list(range(0, cfg.steps + 1, max(cfg.steps // 4, 1)))
            env_steps = cfg.steps
        else:
            rng = np.random.default_rng([seed, int(cfg.size), int(cfg.compute)])
            best = 2 + cfg.optimum_exponent * (np.log2(cfg.compute) - 6)
            level = 10 - (np.log2(cfg.size) - best) ** 2 + rng.normal(0, cfg.noise)
            env_steps = max(int(cfg.compute // cfg.size), 1)
            steps = [0, env_steps // 2, env_steps]
        returns = [0.0] + [float(level * i / (len(steps) - 1)) for i in range(1, len(steps))]
        diverged = cfg.fault == "diverge_seed0_size8" and cfg.size == 8 and seed == 0
        if diverged or cfg.fault == "unreported_nan":
            returns[-1] = math.nan
        metrics = curve_metrics(returns)
        if cfg.fault == "missing_metric":
            metrics = {"final_return": metrics["final_return"]}
        members.append(MemberResult(
            seed=int(seed), metrics=metrics, initial=untrained_metrics(returns), curve_steps=steps,
            curve_returns=returns, env_steps=env_steps, params={"total": int(cfg.size)},
            flops=float(cfg.compute) if cfg.kind == "compute_optimal" else 0.0, diverged=diverged,
            diverged_step=steps[-1] if diverged else None))
    return RunResult(members=members, config=asdict(cfg), device=device)
