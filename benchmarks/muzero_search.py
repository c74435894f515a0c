"""MuZero's search over a learned model batched over many roots (``muzero.search`` on all of them at once: one
g + f network batch per simulation) against the same search run one root at a time, side by side in one run.

    python benchmarks/muzero_search.py                          # 64 CartPole roots, 16 simulations, width 16
    python benchmarks/muzero_search.py --roots 256 --width 256 --env MinAtar/Breakout-v1

The roots are observations of random CartPole (or MinAtar) play; the network is an untrained one whose output
layers are redrawn at random (the zero-initialized ones would make every value equal). Without root noise the
search draws no random numbers, so both ways give the same visit counts (checked). It prints simulations per
second (roots x simulations / seconds) of each and their ratio (the batched time is the best of 5 runs).
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from harness.agents import muzero as mz  # noqa: E402
from harness.envs import make_env  # noqa: E402


def observations(env_id: str, n: int, seed: int = 0) -> np.ndarray:
    """``n`` observations of uniformly random play (resetting at episode ends)."""
    env = make_env(env_id, seed)
    obs, out = env.reset()[0], []
    while len(out) < n:
        out.append(obs)
        obs, _, term, trunc, _ = env.step(env.action_space.sample())
        if term or trunc:
            obs = env.reset()[0]
    env.close()
    return np.stack(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--roots", type=int, default=64)
    ap.add_argument("--simulations", type=int, default=16)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--env", default="CartPole-v1")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = mz.Config(env_id=args.env, width=args.width, simulations=args.simulations)
    shape, _, actions = mz.spaces(args.env)
    net = mz.make_net(cfg, int(np.prod(shape)), actions, 0, torch.device("cpu"))
    with torch.no_grad():
        gen = torch.Generator().manual_seed(1)
        for head in (net.policy_head, net.value_head, net.reward_head):
            head.weight.normal_(0.0, 0.3, generator=gen)
    model = mz.Model(net, cfg.support_size, torch.device("cpu"))
    obs = observations(args.env, args.roots)
    latent, prior, _ = model.initial(obs)

    def run(idx: slice) -> np.ndarray:
        return mz.search(latent[idx], prior[idx], model.recurrent, cfg.simulations, cfg.c_puct, cfg.discount)[0]

    run(slice(0, 4))  # warm-up
    t_batched = math.inf
    for _ in range(5):  # one batched search takes milliseconds: the best of 5
        t0 = time.perf_counter()
        batched = run(slice(None))
        t_batched = min(t_batched, time.perf_counter() - t0)
    t0 = time.perf_counter()
    single = np.concatenate([run(slice(i, i + 1)) for i in range(args.roots)])
    t_single = time.perf_counter() - t0
    assert np.array_equal(batched, single), "batched and one-at-a-time searches disagree"
    sims = args.roots * cfg.simulations
    print(f"{args.roots} roots x {cfg.simulations} simulations, {args.env}, width {args.width} "
          f"({net.params()['total']} parameters), {args.threads} torch thread(s)")
    print(f"  batched:        {sims / t_batched:10.0f} simulations/s  ({t_batched:.3f} s)")
    print(f"  one at a time:  {sims / t_single:10.0f} simulations/s  ({t_single:.3f} s)")
    print(f"  ratio:          {t_single / t_batched:10.1f} x")


if __name__ == "__main__":
    main()
