"""Our seed-vectorized DQN against Stable-Baselines3 DQN, side by side in one run, same hyperparameters.

    python benchmarks/dqn_vs_sb3.py                  # small defaults: a minute or two on a free core
    python benchmarks/dqn_vs_sb3.py --paper --steps 500000 --seeds 5   # Young & Tian's schedule

(a) Quality and speed: a MinAtar game (default Breakout-v1), the MinAtar network (conv 3x3x16, dense 128),
    the same env steps and seeds for both: SB3 trains the seeds one after another, ours as one ensemble.
    Both use the Huber loss, centered RMSprop (lr, smoothing 0.95, eps 0.01), batch 32, one update per env
    step, no gradient clipping, uniform random actions for ``learning_starts`` steps and then epsilon from
    1.0 to 0.1 linearly over ``eps_decay`` steps (SB3's schedule is replaced by ours), the target network
    copied every ``target_update`` steps (SB3 counts env steps, we count updates: the same steps when
    learning_starts is a multiple of it; SB3 copies just before that step's update, we just after it).
    The small defaults compress the paper's schedule (``--paper`` restores it: learning from step 5001,
    epsilon over 100k steps, target every 1000, lr 2.5e-4). Both are evaluated with the harness's protocol
    (``harness.envs.evaluate``: greedy, the same evaluation seeds, 10 episodes) at the end. Printed: the
    returns each reached, and total env-steps/s of each with their ratio (evaluation excluded for SB3,
    included for ours, which also evaluates at step 0).
(b) Seed vectorization: the wall time of max(S, 3) seeds as one ensemble against as many one-seed runs of
    ours (``--speed-steps`` env steps each, learning from step 501), for the dense network at widths 128 and
    512 and for Soft MoE with 4 experts of 128: does batching the seeds pay?

Timings on a machine whose cores are busy with other work (or under ``nice``) are not reliable: compare
ratios from one undisturbed run. stable-baselines3 is a benchmark extra (``pip install -e ".[bench]"``).
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from harness.agents import dqn  # noqa: E402
from harness.envs import check_env_id, evaluate  # noqa: E402
from timing import ensemble_vs_looped  # noqa: E402


def sb3_model(cfg: dqn.Config, seed: int):
    """SB3 DQN with the MinAtar network and ``cfg``'s hyperparameters (Huber loss, centered RMSprop)."""
    import gymnasium as gym
    from stable_baselines3 import DQN
    from stable_baselines3.common.torch_layers import BaseFeaturesExtractor

    class MinAtarConv(BaseFeaturesExtractor):  # Young & Tian's conv; SB3 adds Linear(1024, 128) -> ReLU -> head
        def __init__(self, space):
            super().__init__(space, features_dim=64 * 16)
            self.conv = torch.nn.Conv2d(space.shape[-1], 16, kernel_size=3)

        def forward(self, obs):
            return torch.relu(self.conv(obs.permute(0, 3, 1, 2))).flatten(1)

    if cfg.penultimate != "dense" or cfg.loss != "huber":
        raise ValueError("SB3 DQN has the dense network and the Huber loss only")
    check_env_id(cfg.env_id)  # registers MinAtar
    limit = {} if cfg.max_episode_steps is None else {"max_episode_steps": cfg.max_episode_steps}
    env = gym.make(cfg.env_id, **limit)
    model = DQN("MlpPolicy", env, learning_rate=cfg.lr, buffer_size=cfg.buffer_size,
                learning_starts=cfg.learning_starts, batch_size=cfg.batch_size, gamma=cfg.gamma, train_freq=1,
                gradient_steps=1, target_update_interval=cfg.target_update, max_grad_norm=1e10,
                policy_kwargs=dict(features_extractor_class=MinAtarConv, net_arch=[cfg.width],
                                   optimizer_class=torch.optim.RMSprop,
                                   optimizer_kwargs=dict(alpha=dqn.RMS_ALPHA, eps=dqn.RMS_EPS, centered=True)),
                seed=seed, device="cpu", verbose=0)
    # SB3 sets the rate for the next action after each step from the progress 1 - steps_done / total
    model.exploration_schedule = lambda remaining: cfg.epsilon(round((1 - remaining) * cfg.steps) + 1)
    return model


def quality(cfg: dqn.Config, seeds: list[int]) -> None:
    t0 = time.perf_counter()
    res = dqn.train(cfg, seeds)
    t_ours = time.perf_counter() - t0
    ours = [m.curve_returns[-1] for m in res.members]
    sb3, t_sb3 = [], 0.0
    for s in seeds:
        model = sb3_model(cfg, s)
        t0 = time.perf_counter()
        model.learn(total_timesteps=cfg.steps)
        t_sb3 += time.perf_counter() - t0
        sb3.append(float(evaluate(lambda o: model.predict(o, deterministic=True)[0], cfg.env_id, [s],
                                  cfg.eval_episodes, cfg.max_episode_steps)[0]))
    env_steps = cfg.steps * len(seeds)
    print(f"(a) {cfg.env_id}, width {cfg.width}, {cfg.steps} env steps, seeds {seeds} (learning_starts "
          f"{cfg.learning_starts}, eps_decay {cfg.eps_decay}, target_update {cfg.target_update}, lr {cfg.lr})")
    print(f"    ours final returns {np.round(ours, 2).tolist()}, mean {np.mean(ours):.2f} (step 0: "
          f"{np.mean([m.curve_returns[0] for m in res.members]):.2f})")
    print(f"    SB3  final returns {np.round(sb3, 2).tolist()}, mean {np.mean(sb3):.2f}")
    print(f"    throughput: ours {env_steps / t_ours:,.0f} env-steps/s ({t_ours:.0f} s), SB3 "
          f"{env_steps / t_sb3:,.0f} ({t_sb3:.0f} s); ours / SB3 = {t_sb3 / t_ours:.2f}x", flush=True)


def vectorization(cfg: dqn.Config, seeds: list[int]) -> None:
    print(f"(b) {len(seeds)} seeds as one ensemble vs one-seed runs ({cfg.env_id}, {cfg.steps} env steps each)")
    for name, kw in [("dense 128", dict(width=128)), ("dense 512", dict(width=512)),
                     ("softmoe 4x128", dict(penultimate="softmoe", experts=4, width=128))]:
        c = dataclasses.replace(cfg, eval_every=cfg.steps, eval_episodes=1, **kw)
        ensemble, looped = ensemble_vs_looped(dqn.train, c, seeds)
        print(f"    {name:>13}: ensemble {ensemble:6.1f} s, one after another {looped:6.1f} s, speed-up "
              f"{looped / ensemble:.2f}x", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--env", default="MinAtar/Breakout-v1")
    ap.add_argument("--steps", type=int, default=8000)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--paper", action="store_true", help="Young & Tian's schedule instead of the compressed one")
    ap.add_argument("--speed-steps", type=int, default=2000, help="(b) env steps per run")
    ap.add_argument("--part", choices=["a", "b", "all"], default="all")
    args = ap.parse_args()
    torch.set_num_threads(1)
    cfg = dqn.Config(env_id=args.env, steps=args.steps, eval_every=args.steps, eval_episodes=10, max_episode_steps=1000)
    if not args.paper:  # the canary's compressed schedule (tests/test_dqn.py)
        cfg = dataclasses.replace(cfg, learning_starts=500, eps_decay=2500, target_update=200, lr=1e-3)
    seeds = list(range(args.seeds))
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, args {vars(args)}", flush=True)
    if args.part in ("a", "all"):
        quality(cfg, seeds)
    if args.part in ("b", "all"):
        vectorization(dataclasses.replace(cfg, steps=args.speed_steps, learning_starts=min(cfg.learning_starts, 500)),
                      list(range(max(args.seeds, 3))))


if __name__ == "__main__":
    main()
