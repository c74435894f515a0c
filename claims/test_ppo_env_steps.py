"""PPO's return increases with environment interactions at a fixed model size.

Source: Hilton, Tang, Schulman 2023, "Scaling laws for single-agent reinforcement learning",
arXiv:2301.13442 (abstract, VERIFIED: "intrinsic performance scales as a power law in model size and
environment interactions"); the "enormous number of games" of AlphaGo Zero and AlphaStar in miniature.
Source status: VERIFIED (the abstract sentence quoted above).
Departures: one MinAtar game (Breakout-v1, 1000-step episode limit) instead of Procgen/Dota; an MLP on the
flattened 10x10x4 grid (width 64, 2 layers, ~60k parameters) instead of Hilton's CNNs; 5 seeds; raw
return instead of intrinsic performance. Each level is a separate run of `steps x base_steps` env steps
(quick: 25k..800k, full: 50k..1.6M) whose lr annealing and evaluation schedule (4 evaluations of 10
episodes) are scaled to its own budget, as in scaling-law practice; checkpoints of one run are never
levels. The verdict is the trend test on final_return (mean of the last two evaluations); the report adds
the fitted power law return = a * env_steps ** b with a t-interval over seeds (no floor: raw return; a
random policy scores 0.32).
Pilot: the smallest model of the family (width 16), `python - <<EOF` with ppo.Config(env_id=
"MinAtar/Breakout-v1", steps=500_000, width=16, max_episode_steps=1000), 3 seeds, 74 s: final returns 2.8,
4.5, 5.0 (random 0.32; PPO reaches tens after millions of steps): it learns and stays far below the ceiling,
which is why Breakout was chosen; Breakout also steps at ~130k/s, so the networks set the cost.
Gates: the default learning gate (0.1 of the way from each run's baseline to the reference), fixed after
the first quick results were known. The anchor: random_score 0.32 (a uniformly random policy, measured here) and reference_score 4.95 (the
median final return of Stable-Baselines3's PPO on MinAtar Breakout-v1 after 500k env steps over 5 seeds,
measured by benchmarks/ppo_vs_sb3.py), so scores are normalized (random 0, SB3 PPO at 500k steps 1). No
ceiling: Breakout's bricks return when a wall is cleared, so its return has no maximum. Paper effect unknown: Hilton et al. fit
intrinsic performance (a compute scale), not return, as a power law of env steps; no per-doubling change of
return follows from it.
"""
import pytest

from harness.agents import ppo


@pytest.mark.claim(axis="steps", metrics={"final_return": "increasing"}, blocks="seed", law="env_steps",
                   random_score=0.32, reference_score=4.95, paper_effect="unknown")
@pytest.mark.parametrize("steps", [1, 2, 4, 8, 16, 32])
def test_ppo_env_steps(steps, seeds, settings, device, record):
    budget = steps * settings.base_steps
    cfg = ppo.Config(env_id="MinAtar/Breakout-v1", steps=budget, width=64, depth=2, eval_every=max(budget // 4, 1),
                     eval_episodes=settings.eval_episodes, max_episode_steps=1000)
    record(ppo.train(cfg, seeds=seeds, device=device))
