"""Our seed-vectorized PPO against Stable-Baselines3 PPO, side by side in one run, identical settings.

    python benchmarks/ppo_vs_sb3.py              # issue 6's comparison: Breakout, 500k steps, 5 seeds each
    python benchmarks/ppo_vs_sb3.py --quick      # a one-minute smoke run of every part
    python benchmarks/ppo_vs_sb3.py --env MinAtar/SpaceInvaders-v1 --steps 1000000 --skip-vectorization
                                                 # ppo_size's reference score (part (a) on its game and budget)

(a) Quality and speed: MinAtar Breakout-v1 (the claims' game, 1000-step episodes), width 64 x 2 tanh
    layers, the claims' settings (8 envs x 128 steps, 4 epochs, 4 minibatches, lr 2.5e-4 annealed linearly
    to 0, gamma 0.99, lambda 0.95, clip 0.2, entropy 0.01, value 0.5, grad-norm 0.5, Adam eps 1e-5,
    orthogonal init, advantages normalized per minibatch), the same env steps, 5 seeds each. SB3 trains
    the seeds one after another; ours as one ensemble. Both are evaluated with the harness's protocol
    (``harness.envs.evaluate``: deterministic policy, the same evaluation seeds, 10 episodes) at the end
    and at 3/4 of the run; final return = the mean of those two. Printed: both medians, ours / SB3
    (target: within 20%), and total env-steps/s of each with their ratio.
(b) Seed vectorization: wall time of 5 seeds as one ensemble against 5 one-seed runs, at widths 16, 64
    and 256 (Breakout, 50k steps each): does batching the seeds pay?

stable-baselines3 is a benchmark extra (``pip install -e ".[bench]"``), not a runtime dependency.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from harness.agents import ppo  # noqa: E402
from harness.envs import check_env_id, derive_seed, evaluate  # noqa: E402
from timing import ensemble_vs_looped  # noqa: E402

ENV = "MinAtar/Breakout-v1"


def sb3_final_return(cfg: ppo.Config, seed: int) -> float:
    """SB3 PPO with exactly ``cfg``'s settings; the harness's evaluation at 3/4 of the run and at its end."""
    import gymnasium as gym
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env

    check_env_id(cfg.env_id)  # registers MinAtar
    env = make_vec_env(lambda: gym.make(cfg.env_id, max_episode_steps=cfg.max_episode_steps), n_envs=cfg.num_envs,
                       seed=derive_seed(seed, "env") & 0xFFFF_FFFF)
    model = PPO("MlpPolicy", env, n_steps=cfg.rollout, batch_size=cfg.num_envs * cfg.rollout // cfg.minibatches,
                n_epochs=cfg.epochs, learning_rate=lambda progress: cfg.lr * progress, gamma=cfg.gamma,
                gae_lambda=cfg.gae_lambda, clip_range=cfg.clip, ent_coef=cfg.ent_coef, vf_coef=cfg.vf_coef,
                max_grad_norm=cfg.max_grad_norm, normalize_advantage=cfg.norm_adv, seed=seed, device="cpu",
                policy_kwargs=dict(net_arch=dict(pi=[cfg.width] * cfg.depth, vf=[cfg.width] * cfg.depth),
                                   activation_fn=torch.nn.Tanh))

    def score() -> float:
        def act(obs):
            return model.predict(obs, deterministic=True)[0]
        return float(evaluate(act, cfg.env_id, [seed], cfg.eval_episodes, cfg.max_episode_steps)[0])

    scores: list[float] = []

    class At(BaseCallback):
        def _on_step(self) -> bool:
            if not scores and self.num_timesteps >= cfg.eval_every:
                scores.append(score())
            return True

    model.learn(total_timesteps=cfg.updates * cfg.num_envs * cfg.rollout, callback=At())
    scores.append(score())
    return float(np.mean(scores[-2:]))


def quality(env_id: str, steps: int, seeds: list[int]) -> None:
    cfg = ppo.Config(env_id=env_id, steps=steps, width=64, depth=2, eval_every=steps * 3 // 4, eval_episodes=10,
                     max_episode_steps=1000)
    t0 = time.perf_counter()
    ours = [m.metrics["final_return"] for m in ppo.train(cfg, seeds).members]
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    sb3 = [sb3_final_return(cfg, s) for s in seeds]
    t_sb3 = time.perf_counter() - t0
    env_steps = cfg.updates * cfg.num_envs * cfg.rollout * len(seeds)
    print(f"(a) {env_id}, width 64, {steps} env steps, seeds {seeds}")
    print(f"    ours final returns {np.round(ours, 2).tolist()}, median {np.median(ours):.2f}")
    print(f"    SB3  final returns {np.round(sb3, 2).tolist()}, median {np.median(sb3):.2f}")
    ratio = np.median(ours) / np.median(sb3)
    print(f"    median ours / SB3 = {ratio:.2f} (target 0.8..1.2: {'met' if 0.8 <= ratio <= 1.2 else 'NOT met'})")
    print(f"    throughput: ours {env_steps / t_ours:,.0f} env-steps/s ({t_ours:.0f} s), SB3 "
          f"{env_steps / t_sb3:,.0f} ({t_sb3:.0f} s); ours / SB3 = {t_sb3 / t_ours:.2f}x (evaluations included)")


def vectorization(steps: int, widths: list[int], seeds: list[int]) -> None:
    print(f"(b) {len(seeds)} seeds as one ensemble vs one-seed runs ({ENV}, {steps} env steps each)")
    for width in widths:
        cfg = ppo.Config(env_id=ENV, steps=steps, width=width, eval_every=steps, eval_episodes=1,
                         max_episode_steps=1000)
        ensemble, looped = ensemble_vs_looped(ppo.train, cfg, seeds)
        print(f"    width {width:>4}: ensemble {ensemble:6.1f} s, looped {looped:6.1f} s, speedup {looped / ensemble:.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="tiny sizes: check that every part runs")
    ap.add_argument("--env", default=ENV, help=f"part (a)'s game (default {ENV})")
    ap.add_argument("--steps", type=int, default=500_000, help="part (a)'s env steps per run (default 500000)")
    ap.add_argument("--skip-quality", action="store_true")
    ap.add_argument("--skip-vectorization", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if not args.skip_quality:
        quality(args.env, 8192 if args.quick else args.steps, [0, 1] if args.quick else [0, 1, 2, 3, 4])
    if not args.skip_vectorization:
        vectorization(4096 if args.quick else 50_000, [16, 64, 256], [0, 1, 2, 3, 4])


if __name__ == "__main__":
    main()
