"""Held-out in-context adaptation grows with the size of the training task pool.

Source: Adaptive Agent Team 2023, "Human-Timescale Adaptation in an Open-Ended Task Space",
arXiv:2301.07608 (abstract, VERIFIED: scaling "with respect to ... richness of the training task
distribution"; secondary: "median and 20th percentile adaptation scales positively with an increase in
task pool size").
Source status: VERIFIED (the abstract's "richness of the training task distribution"); the sentence about median
and 20th-percentile adaptation is known from a secondary source only.
Departures: Bernoulli 5-armed bandits (4 trials of 10 pulls) instead of XLand 2.0; the pool is N tasks
(arm-mean vectors) drawn once per seed from the training split, or a fresh task every episode
("unlimited"), instead of XLand's procedurally generated worlds, games and co-players; the same 2-layer,
width-32 transformer, env steps and settings at every pool size; no curriculum, no distillation.
Evaluation on 1000 held-out tasks from a separate stream (quick). The axis is ordinal (an unlimited pool
has no magnitude). Metrics: the adaptation gain (last trial minus first, expected reward per trial of 10
pulls), median and 20th percentile over tasks, each judged on its own.
Pilot: the unlimited-pool model is the validated bandits agent: tests/test_ada.py.
Gates: the default learning gate (0.1 of the way from each run's untrained gain to the ceiling), fixed
after the first quick results were known; ceilings are the best reference policy's gains on the same 1000
held-out tasks, greedy after one pull of each arm: median 1.756 and 20th percentile 0.842 (Thompson
sampling 1.655 and 0.560, UCB1 0.834 and 0.077, random 0.001 and -0.887; `bandits.play(policy,
ada.held_out(cfg, 1000)) * bandits.PULLS`, last trial minus first). Paper effect unknown: AdA reports XLand
task scores in figures; nothing maps them onto a bandit's gain in reward per trial.
"""
import pytest

from harness.agents import ada


@pytest.mark.claim(axis="pool", metrics={"gain_median": "increasing", "gain_p20": "increasing"},
                   blocks="seed", scale="ordinal", ceiling={"gain_median": 1.756, "gain_p20": 0.842},
                   paper_effect="unknown")
@pytest.mark.parametrize("pool", [4, 16, 64, 256, "unlimited"])
def test_ada_task_pool(pool, seeds, settings, device, record):
    record(ada.train(ada.claim_config(settings, pool=None if pool == "unlimited" else pool), seeds, device))
