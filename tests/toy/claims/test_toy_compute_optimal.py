"""Toy derived claim: the compute-optimal size grows with compute (the synthetic truth sets the sign).

Source: synthetic data for the harness's own tests; no paper.
Departures: none (an IsoFLOP grid of sizes x compute budgets; harness/agents/toy.py draws each run's return:
the best size at compute C is 4 * (C / 64) ** settings.optimum_exponent, and the return falls with the
squared log-distance from it).
Pilot: none.
"""
import pytest

from harness.agents import toy


@pytest.mark.claim(axis="size", over="compute", derive="compute_optimal", metrics={"final_return": "increasing"})
@pytest.mark.parametrize("compute", [4, 16, 64, 256, 1024])
@pytest.mark.parametrize("size", [1, 2, 4, 8, 16, 32])
def test_toy_compute_optimal(size, compute, seeds, settings, device, record):
    cfg = toy.Config(kind="compute_optimal", size=size, compute=compute, noise=settings.noise,
                     optimum_exponent=settings.optimum_exponent)
    record(toy.train(cfg, seeds, device))
