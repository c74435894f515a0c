"""Toy derived claim: the compute-optimal size grows with compute (the synthetic truth sets the sign).

Source: synthetic data for the harness's own tests; no paper.
Departures: none (an IsoFLOP grid of sizes x compute budgets; each "run" draws its return from a seeded
generator: the best size at compute C is 4 * (C / 64) ** settings.optimum_exponent, and the return falls
with the squared log-distance from it).
Pilot: none.
"""
import numpy as np
import pytest

from harness.result import MemberResult, RunResult, curve_metrics


@pytest.mark.claim(axis="size", over="compute", derive="compute_optimal", metrics={"final_return": "increasing"})
@pytest.mark.parametrize("compute", [4, 16, 64, 256, 1024])
@pytest.mark.parametrize("size", [1, 2, 4, 8, 16, 32])
def test_toy_compute_optimal(size, compute, seeds, settings, record):
    members = []
    for seed in seeds:
        rng = np.random.default_rng([seed, size, compute])
        best = 2 + settings.optimum_exponent * (np.log2(compute) - 6)
        ret = 10 - (np.log2(size) - best) ** 2 + rng.normal(0, settings.noise)
        returns = [float(ret), float(ret)]
        steps = max(compute // size, 1)
        members.append(MemberResult(seed=seed, metrics=curve_metrics(returns), curve_steps=[steps // 2, steps],
                                    curve_returns=returns, env_steps=steps, params={"total": size},
                                    flops=float(compute)))
    record(RunResult(members=members, config={"size": size, "compute": compute}))
