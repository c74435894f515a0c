"""Toy claim: the score increases with size (the synthetic truth is the opposite: it falls).

Source: synthetic data for the harness's own tests; no paper.
Departures: none (there is no agent: each "run" draws its curve from a seeded generator).
Pilot: none.
"""
import os
import signal
import time

import numpy as np
import pytest

from harness.result import MemberResult, RunResult, curve_metrics


@pytest.mark.claim(axis="size", metrics={"auc_return": "increasing"}, blocks="seed")
@pytest.mark.parametrize("size", [1, 2, 4, 8])
def test_toy_trend(size, seeds, settings, record):
    if os.environ.get("TOY_COUNTER"):
        with open(os.environ["TOY_COUNTER"], "a") as f:
            f.write(f"size{size} {list(seeds)}\n")
    if os.environ.get("TOY_PIDS"):  # the process running this unit (tests kill it)
        with open(os.environ["TOY_PIDS"], "a") as f:
            f.write(f"{os.getpid()}\n")
    if os.environ.get("TOY_SUICIDE") == f"size{size}":  # a unit whose process always dies
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(float(settings.get("sleep", 0.0)))
    members = []
    for seed in seeds:
        rng = np.random.default_rng([seed, size])
        steps = list(range(0, settings.steps + 1, settings.steps // 4))
        level = settings.slope * np.log2(size) + rng.normal(0, settings.noise)
        returns = [float(level * (i + 1) / len(steps)) for i in range(len(steps))]
        members.append(MemberResult(seed=seed, metrics=curve_metrics(returns), curve_steps=steps,
                                    curve_returns=returns, env_steps=settings.steps, params={"total": size}))
    record(RunResult(members=members, config={"size": size}))
