"""At a fixed, ample env-step budget, PPO's return increases with model size.

Source: Hilton, Tang, Schulman 2023, arXiv:2301.13442 (abstract, VERIFIED: performance "scales as a power
law in model size");
Source status: VERIFIED (the abstract sentence quoted above).
Departures: MinAtar Breakout-v1 (1000-step episode limit) instead of Procgen/Dota; an MLP on the flattened
grid, 2 hidden layers of width 16..256 (13k..0.3M parameters, actor + critic) instead of CNNs; every
hyperparameter (lr 2.5e-4 annealed, 8 envs x 128 steps, 4 epochs, 4 minibatches) fixed across sizes, as
Hilton et al. kept them (per-size lr tuning is UNVERIFIED there); 5 seeds; 500k env steps (quick) or 5M
(full) per run, 5 evaluations of 10 episodes. The verdict is the trend test on final_return; the report
adds the fitted law return = a * params ** b.
Pilot: the one of ppo_env_steps (width 16, 500k steps: final returns 2.8, 4.5, 5.0 on 3 seeds), which is
the quick budget here.
Gates: the default learning gate, fixed after the first quick results were known. The anchor: random_score 0.32 (a uniformly random policy, measured here) and reference_score 4.95 (the
median final return of Stable-Baselines3's PPO on MinAtar Breakout-v1 after 500k env steps over 5 seeds,
measured by benchmarks/ppo_vs_sb3.py), so scores are normalized (random 0, SB3 PPO at 500k steps 1). No
ceiling: Breakout's bricks return when a wall is cleared, so its return has no maximum.
Paper effect unknown: Hilton et al.'s size exponent is of intrinsic performance, not return.
"""
import pytest

from harness.agents import ppo


@pytest.mark.claim(axis="width", metrics={"final_return": "increasing"}, blocks="seed", law="params",
                   random_score=0.32, reference_score=4.95, paper_effect="unknown")
@pytest.mark.parametrize("width", [16, 32, 64, 128, 256])
def test_ppo_size(width, seeds, settings, device, record):
    cfg = ppo.Config(env_id="MinAtar/Breakout-v1", steps=settings.steps, width=width, depth=2,
                     eval_every=settings.eval_every, eval_episodes=settings.eval_episodes, max_episode_steps=1000)
    record(ppo.train(cfg, seeds=seeds, device=device))
