"""In-context adaptation grows with memory length.

Source: Adaptive Agent Team 2023, "Human-Timescale Adaptation in an Open-Ended Task Space",
arXiv:2301.07608 (abstract, VERIFIED: "characteristic scaling laws with respect to network size, memory
length, and richness of the training task distribution"; secondary: "increasing memory length improves
performance, particularly on the tails of the distribution").
Source status: VERIFIED (the abstract's "scaling laws with respect to ... memory length"); the sentence about the
tails of the distribution is known from a secondary source only.
Departures: Bernoulli 5-armed bandits (4 trials of 10 pulls, arm means fixed across the episode, prior
Uniform(0, 1)) instead of XLand 2.0; a 2-layer, width-32 sliding-window transformer (~26k parameters)
trained with PPO (RL^2) instead of Muesli with a Transformer-XL; no curriculum, no distillation (AdA
reports both matter for its large agents); a tiny task space. The axis is the memory reach in trials: the
per-layer context is set so the logits can depend on that many whole trials before the current step
(0.5, 1, 2, 3, 4 trials = per-layer contexts 4, 6, 11, 16, 21 = reaches of 7, 11, 21, 31, 41 steps); 4
trials covers the whole episode. Half a trial is a negative control (it cannot carry what was learnt in
one trial into the next), shown but left out of the trend. Everything else is fixed across levels.
Metrics: the adaptation gain (score of the last trial minus the first, in expected reward per trial of 10
pulls) on 1000 held-out tasks (quick), median and 20th percentile over tasks as AdA reports; each is
judged on its own.
Pilot: the control-free mid model (memory 4 trials) is the validated bandits agent: tests/test_ada.py.
Gates: the default learning gate (0.1 of the way from each run's untrained gain to the ceiling), fixed
after the first quick results were known; ceilings are the best reference policy's gains on the same 1000
held-out tasks, greedy after one pull of each arm: median 1.756 and 20th percentile 0.842 (Thompson
sampling 1.655 and 0.560, UCB1 0.834 and 0.077, random 0.001 and -0.887; `bandits.play(policy,
ada.held_out(cfg, 1000)) * bandits.PULLS`, last trial minus first). Paper effect unknown: AdA reports XLand
task scores in figures; nothing maps them onto a bandit's gain in reward per trial.
"""
import pytest

from harness.agents import ada


@pytest.mark.claim(axis="memory_trials", metrics={"gain_median": "increasing", "gain_p20": "increasing"},
                   blocks="seed", controls=[0.5], ceiling={"gain_median": 1.756, "gain_p20": 0.842},
                   paper_effect="unknown")
@pytest.mark.parametrize("memory_trials", [0.5, 1, 2, 3, 4])
def test_ada_memory(memory_trials, seeds, settings, device, record):
    base = ada.claim_config(settings)
    record(ada.train(ada.claim_config(settings, context=ada.context_for(memory_trials, base)), seeds, device))
