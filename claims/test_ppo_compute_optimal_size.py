"""The compute-optimal model size of PPO grows with the training compute budget.

Source: Hilton, Tang, Schulman 2023, arXiv:2301.13442 (abstract, VERIFIED: "the optimal model size scales
as a power law in the training compute budget").
Derived two-axis claim (ClaimSpec.derive="compute_optimal"): an IsoFLOP grid (Hoffmann et al. 2022) of
widths 16..128 x compute budgets `compute x base_flops` FLOPs (quick: 1..8 x 3.5e10, i.e. the smallest model
gets 100k..800k env steps and the largest 10k..80k); each cell is a separate run whose env-step budget is
the compute divided by the FLOPs per env step, (2 + 6 x epochs) x parameters (harness/agents/common.py
training_flops), with its own lr schedule. At 8 log-spaced budgets that every size covers, N*(C) is the
parameter count whose final_return, interpolated in log compute, is highest; N* = k * C ** e is fitted per
seed and the verdict is on e (REPRODUCED when its 90% t-interval over seeds lies above 0, a one-sided test
at alpha 0.05; CONTRADICTED when it lies below).
Source status: VERIFIED (the abstract sentence quoted above).
Departures: MinAtar Breakout-v1 and MLPs as ppo_size; raw final return instead of intrinsic performance;
an IsoFLOP grid instead of Hilton's learning curves (the width x steps grid that was first written here gives
each width a compute range shifted by its parameter ratio, disjoint between 16 and 256, so N* would rise
by construction: tests/test_scaling.py shows it); 4 widths and an 8x compute range (full: the same range at 8x the compute);
N* is chosen among 4 sizes, so it moves in steps of ~2.2x parameters; 5 seeds.
Pilot: the one of ppo_env_steps (width 16, 500k steps: final returns 2.8, 4.5, 5.0 on 3 seeds).
Gates: the default learning gate on the best grid cell, and the bracket gate (the optimum must be interior
at more than half of the seed-budgets), fixed after the first quick results were known. The anchor: random_score 0.32 (a uniformly random policy, measured here) and reference_score 4.95 (the
median final return of Stable-Baselines3's PPO on MinAtar Breakout-v1 after 500k env steps over 5 seeds,
measured by benchmarks/ppo_vs_sb3.py), so scores are normalized (random 0, SB3 PPO at 500k steps 1). No
ceiling: Breakout's bricks return when a wall is cleared, so its return has no maximum.
Paper effect unknown: Hilton et al. report the exponent of N* in C per environment in figures only; the
claim is its sign.
Reading: at quick the grid does not bracket the optimum (the bracket gate: the best width is the smallest or
largest at most seed-budgets), so the verdict is INCONCLUSIVE by design, not evidence against the claim. In
this miniature an env step costs far more than the network's FLOPs, and the small MLPs learn about as much
per step as the large ones, so at equal FLOPs the smallest width, which gets the most env steps, wins. A
grid-placement pilot on MinAtar SpaceInvaders-v1 (the game of ppo_size; widths at the smallest and largest
of a 16x compute range, seeds 100-102, which no sweep uses; `ppo.steps_for_compute` as below) found no
affordable grid either: at 6.5e10 FLOPs every width from 4 to 128 (13k to 513k env steps) ended at exactly
3.0, the untrained mode's idle score; at 5.2e11 FLOPs final returns fell with width, 29.7 (width 8, 2.0M
steps), 19.9 (16, 1.0M), 18.3 (32, 0.49M), 7.6 (64, 0.23M). Bracketing it needs compute where the smallest
useful width gets several million env steps per cell (the `full` budget, or a faster environment).
"""
import pytest

from harness.agents import ppo


@pytest.mark.claim(axis="width", over="compute", derive="compute_optimal", metrics={"final_return": "increasing"},
                   random_score=0.32, reference_score=4.95, paper_effect="unknown")
@pytest.mark.parametrize("compute", [1, 2, 4, 8])
@pytest.mark.parametrize("width", [16, 32, 64, 128])
def test_ppo_compute_optimal_size(width, compute, seeds, settings, device, record):
    cfg = ppo.Config(env_id="MinAtar/Breakout-v1", width=width, depth=2, eval_episodes=settings.eval_episodes,
                     max_episode_steps=1000)
    steps = ppo.steps_for_compute(cfg, compute * settings.base_flops)
    cfg = ppo.Config(env_id="MinAtar/Breakout-v1", steps=steps, width=width, depth=2, eval_every=max(steps // 4, 1),
                     eval_episodes=settings.eval_episodes, max_episode_steps=1000)
    record(ppo.train(cfg, seeds=seeds, device=device))
