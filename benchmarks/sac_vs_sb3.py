"""Our seed-vectorized SAC against Stable-Baselines3 SAC, side by side in one run, same hyperparameters.

    python benchmarks/sac_vs_sb3.py            # the sizes of issue 3 (about an hour on 2 cores)
    python benchmarks/sac_vs_sb3.py --quick    # a one-minute smoke run of both parts
    python benchmarks/sac_vs_sb3.py --part b --no-sb3   # bf16 against fp32 only (a few minutes)

(a) Speed: total env-steps/s of S seeds (default 5) at each width, 3 repeats. SB3 trains the seeds one
    after another (one model each); ours trains them as one ensemble, once per ``--precision`` (fp32 and
    bf16, harness/compute.py). Both use one torch thread, SB3's default hyperparameters (ours are pinned to
    them), and the same env steps; ours also runs one 1-episode evaluation at the end, SB3 none. Targets
    (issue 19): ratio >= 5 at width 64, >= 3 at 256.
(b) Quality: Pendulum-v1, width 64, 20k steps, 10 seeds each. Both are evaluated with the harness's
    protocol (``harness.envs.evaluate``: deterministic policy, the same evaluation seeds) every
    ``--eval-every`` steps; final return = mean of the last two evaluations. Printed, for ours at each
    precision against SB3, and for bf16 against fp32: the Hodges-Lehmann estimate of the shift with its
    exact distribution-free 90% CI (the Mann-Whitney inversion: order statistics of the n*m pairwise
    differences), and whether it lies within +/-100 (the equivalence bound).

stable-baselines3 is a benchmark extra (``pip install -e ".[bench]"``), not a runtime dependency.
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from harness import compute  # noqa: E402
from harness.agents import sac  # noqa: E402
from harness.envs import evaluate  # noqa: E402


def sb3_model(cfg: sac.Config, seed: int):
    """SB3 SAC with exactly the hyperparameters of ``cfg`` (which must use one learning rate)."""
    import gymnasium as gym
    from stable_baselines3 import SAC

    if not cfg.actor_lr == cfg.critic_lr == cfg.alpha_lr:
        raise ValueError("SB3 SAC has one learning rate; give the config equal actor/critic/alpha lrs")
    if cfg.block != "mlp" or cfg.weight_decay or cfg.max_grad_norm is not None:
        raise ValueError("SB3 SAC is a plain MLP with Adam and no clipping; compare block='mlp' only")
    return SAC("MlpPolicy", gym.make(cfg.env_id), learning_rate=cfg.actor_lr, buffer_size=cfg.buffer_size,
               learning_starts=cfg.learning_starts, batch_size=cfg.batch_size, tau=cfg.tau, gamma=cfg.gamma,
               train_freq=1, gradient_steps=cfg.utd, ent_coef=f"auto_{cfg.init_alpha}",
               target_entropy="auto" if cfg.target_entropy is None else cfg.target_entropy,
               policy_kwargs=dict(net_arch=dict(pi=[cfg.actor_width] * cfg.actor_depth,
                                                qf=[cfg.critic_width] * cfg.critic_depth)),
               seed=seed, device="cpu", verbose=0)


def sb3_train(cfg: sac.Config, seed: int) -> list[float]:
    """Train one SB3 model; its evaluation returns at the same steps and with the same protocol as ours."""
    model = sb3_model(cfg, seed)
    act = lambda obs: model.predict(obs, deterministic=True)[0]
    returns, done = [], 0
    while done < cfg.steps:
        chunk = min(cfg.eval_every - done % cfg.eval_every, cfg.steps - done)
        model.learn(chunk, reset_num_timesteps=False)
        done += chunk
        returns.append(float(evaluate(act, cfg.env_id, [seed], cfg.eval_episodes)[0]))
    return returns


def hodges_lehmann(x: np.ndarray, y: np.ndarray, confidence: float = 0.90) -> tuple[float, float, float]:
    """Hodges-Lehmann shift estimate of x - y (median of pairwise differences) and its exact CI.

    The CI is [D_(k), D_(nm+1-k)] over the sorted n*m pairwise differences D, with k the largest integer
    such that P(U <= k - 1) <= (1 - confidence) / 2 under the exact null distribution of the
    Mann-Whitney U statistic (Lehmann 1975, Ch. 2): it holds exactly the shifts that the two-sided
    rank-sum test at level 1 - confidence does not reject. Returns (estimate, low, high), with
    (-inf, inf) when the samples are too small for that confidence.
    """
    d = np.sort(np.subtract.outer(np.asarray(x, float), np.asarray(y, float)).ravel())
    n, m = len(x), len(y)
    cdf = np.cumsum(mann_whitney_counts(n, m))
    cdf /= cdf[-1]
    k = int(np.count_nonzero(cdf <= (1 - confidence) / 2 + 1e-12))
    if k == 0:
        return float(np.median(d)), -np.inf, np.inf
    return float(np.median(d)), float(d[k - 1]), float(d[n * m - k])


def mann_whitney_counts(n: int, m: int) -> np.ndarray:
    """Number of orderings of n x's and m y's with U = #{x > y} = u, for u = 0..nm (no ties).

    Recursion on the largest element: an x there beats all m y's (U - m), a y beats nothing.
    """
    table = {}
    for i in range(n + 1):
        for j in range(m + 1):
            if i == 0 or j == 0:
                table[i, j] = np.ones(1)
                continue
            c = np.zeros(i * j + 1)
            a, b = table[i - 1, j], table[i, j - 1]
            c[j:j + len(a)] += a
            c[:len(b)] += b
            table[i, j] = c
    return table[n, m]


def part_a(args) -> None:
    print(f"\n(a) env-steps/s, {args.seeds} seeds x {args.speed_steps} steps, {args.env}, 1 torch thread",
          flush=True)
    for width in args.widths:
        cfg = sac.Config(env_id=args.env, steps=args.speed_steps, eval_every=args.speed_steps, eval_episodes=1,
                         critic_width=width, actor_width=width)
        ratios: dict[str, list[float]] = {p: [] for p in args.precision}
        for rep in range(args.repeats):
            t = time.perf_counter()
            for s in range(args.seeds):
                sb3_model(cfg, s).learn(args.speed_steps)
            theirs = args.seeds * args.speed_steps / (time.perf_counter() - t)
            line = f"  width {width:4d} repeat {rep}: sb3 {theirs:7.1f}"
            for precision in args.precision:
                t = time.perf_counter()
                sac.train(replace(cfg, precision=precision), list(range(args.seeds)))
                ours = args.seeds * args.speed_steps / (time.perf_counter() - t)
                ratios[precision].append(ours / theirs)
                line += f"  ours {precision} {ours:7.1f} (ratio {ours / theirs:5.2f})"
            print(line, flush=True)
        target = 5.0 if width <= 64 else 3.0
        for precision, r in ratios.items():
            print(f"  width {width:4d} {precision}: median ratio {np.median(r):.2f} (target >= {target}: "
                  f"{'met' if np.median(r) >= target else 'NOT met'})", flush=True)


def part_b(args) -> None:
    cfg = sac.Config(env_id=args.env, steps=args.quality_steps, eval_every=args.eval_every,
                     eval_episodes=args.eval_episodes, critic_width=args.quality_width,
                     actor_width=args.quality_width)
    seeds = list(range(args.quality_seeds))
    print(f"\n(b) final return, {args.env}, width {args.quality_width}, {args.quality_steps} steps, "
          f"{len(seeds)} seeds, eval every {args.eval_every} ({args.eval_episodes} episodes)", flush=True)
    ours_by = {}
    for precision in args.precision:
        t = time.perf_counter()
        res = sac.train(replace(cfg, precision=precision), seeds)
        ours_by[precision] = np.array([m.metrics["final_return"] for m in res.members])
        print(f"  ours {precision} ({time.perf_counter() - t:.0f} s): {np.round(ours_by[precision], 1).tolist()}",
              flush=True)
    pairs = []
    if not args.no_sb3:
        t = time.perf_counter()
        theirs = []
        for s in seeds:
            curve = sb3_train(cfg, s)
            theirs.append(float(np.mean(curve[-2:])))
        theirs = np.array(theirs)
        t_theirs = time.perf_counter() - t
        print(f"  sb3  ({t_theirs:.0f} s): {np.round(theirs, 1).tolist()}", flush=True)
        pairs = [(f"ours {p}", ours, "sb3", theirs) for p, ours in ours_by.items()]
    if {"fp32", "bf16"} <= ours_by.keys():
        pairs.append(("ours bf16", ours_by["bf16"], "ours fp32", ours_by["fp32"]))
    for name_x, x, name_y, y in pairs:
        est, lo, hi = hodges_lehmann(x, y, 0.90)
        inside = -100 <= lo and hi <= 100
        print(f"  median {name_x} {np.median(x):.1f}, {name_y} {np.median(y):.1f}; Hodges-Lehmann shift "
              f"({name_x} - {name_y}) {est:.1f}, 90% CI [{lo:.1f}, {hi:.1f}]: {'within' if inside else 'NOT within'} "
              f"+/-100", flush=True)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run of both parts")
    p.add_argument("--part", choices=["a", "b", "all"], default="all")
    p.add_argument("--env", default="Pendulum-v1")
    p.add_argument("--widths", type=int, nargs="+", default=[64, 256])
    p.add_argument("--precision", nargs="+", choices=list(compute.PRECISIONS), default=["fp32", "bf16"],
                   help="our SAC's precisions, each measured beside SB3 (harness/compute.py)")
    p.add_argument("--seeds", type=int, default=5, help="(a) seeds per measurement")
    p.add_argument("--repeats", type=int, default=3, help="(a) repeats")
    p.add_argument("--speed-steps", type=int, default=2000, help="(a) env steps per seed, warm-up included")
    p.add_argument("--no-sb3", action="store_true", help="(b) bf16 against fp32 only, without training SB3")
    p.add_argument("--quality-seeds", type=int, default=10)
    p.add_argument("--quality-steps", type=int, default=20_000)
    p.add_argument("--quality-width", type=int, default=64)
    p.add_argument("--eval-every", type=int, default=2000)
    p.add_argument("--eval-episodes", type=int, default=10)
    args = p.parse_args(argv)
    if args.quick:
        args.seeds, args.repeats, args.speed_steps = 2, 1, 300
        args.quality_seeds, args.quality_steps, args.eval_every, args.eval_episodes = 3, 600, 300, 2
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, args {vars(args)}", flush=True)
    if args.part in ("a", "all"):
        part_a(args)
    if args.part in ("b", "all"):
        part_b(args)


if __name__ == "__main__":
    main()
