"""Toy claim: the score increases with size (the synthetic truth is the opposite: it falls).

Source: synthetic data for the harness's own tests; no paper.
Departures: none (harness/agents/toy.py draws each run's curve from a seeded generator).
Pilot: none.
"""
import pytest

from harness.agents import toy


@pytest.mark.claim(axis="size", metrics={"auc_return": "increasing"}, blocks="seed")
@pytest.mark.parametrize("size", [1, 2, 4, 8])
def test_toy_trend(size, seeds, settings, device, record):
    cfg = toy.Config(size=size, steps=settings.steps, slope=settings.slope, noise=settings.noise,
                     sleep=settings.get("sleep", 0.0), fault=settings.get("fault", ""))
    record(toy.train(cfg, seeds, device))
