"""The in-context agent's acting: cached keys and values (one query per step, ``Policy.act``) against
recomputing the whole kept window every step (what ada.py did before), side by side in one run.

    python benchmarks/ada_acting.py            # the claims' model (bandits, width 32, 2 layers, 32 envs)
    python benchmarks/ada_acting.py --width 128

Both act for whole 40-step bandit episodes on the same random tokens; the script checks that both give
the same logits (to float rounding), then prints the time per env step of each and their ratio.

Then: would training the seeds of a unit as one batch pay (as it does for PPO and SAC)? One forward and
backward pass of the PPO update's shape for 5 seeds' sequences at once against 5 passes of one seed's;
a ratio well above 1 says an ensemble would be worth writing (shared weights stand in for the 5 weight
sets an ensemble would batch, which costs the same arithmetic).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from harness.agents import ada  # noqa: E402


def recompute(policy: ada.Policy, tokens: torch.Tensor, episode: torch.Tensor, history: int) -> torch.Tensor:
    """Every step: run the kept window (up to ``history`` earlier tokens and this one) through the model."""
    out = []
    for t in range(tokens.shape[1]):
        lo = max(0, t - history)
        out.append(policy(tokens[:, lo:t + 1], episode[:, lo:t + 1])[0][:, -1])
    return torch.stack(out, 1)


def cached(policy: ada.Policy, cfg: ada.Config, tokens: torch.Tensor, episode: torch.Tensor) -> torch.Tensor:
    mem = ada.memory(policy, cfg, tokens.shape[0], tokens.shape[2])
    return torch.stack([policy.act(tokens[:, t], episode[:, t], mem)[0] for t in range(tokens.shape[1])], 1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--envs", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args()
    torch.set_num_threads(1)
    cfg = ada.Config(task="bandits", width=args.width, context=21, num_envs=args.envs)
    steps, token_dim = ada.episode_cap(cfg), 3 + 5 + 1
    torch.manual_seed(0)
    policy = ada.Policy(token_dim, 5, cfg)
    tokens = torch.randn(args.envs, steps, token_dim)
    episode = torch.zeros(args.envs, steps, dtype=torch.long)
    with torch.no_grad():
        a, b = cached(policy, cfg, tokens, episode), recompute(policy, tokens, episode, steps - 1)
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
        times = {"cached": 0.0, "recompute": 0.0}
        for _ in range(args.repeats):  # interleaved, so load on the machine hits both alike
            t = time.perf_counter()
            cached(policy, cfg, tokens, episode)
            times["cached"] += time.perf_counter() - t
            t = time.perf_counter()
            recompute(policy, tokens, episode, steps - 1)
            times["recompute"] += time.perf_counter() - t
    per_step = {k: v / (args.repeats * steps) * 1e3 for k, v in times.items()}
    print(f"width {args.width}, {args.envs} envs, {steps}-step episodes, {args.repeats} repeats")
    for k, v in per_step.items():
        print(f"  {k:9s}: {v:.3f} ms per env step (all envs)")
    print(f"  recompute / cached: {per_step['recompute'] / per_step['cached']:.2f}x")

    seeds, per_mb = 5, args.envs // cfg.minibatches  # the update's minibatch: whole sequences
    seq = torch.randn(seeds * per_mb, 2 * steps - 1, token_dim)
    eps = torch.zeros(seeds * per_mb, 2 * steps - 1, dtype=torch.long)
    times = {"one batch": 0.0, "one seed at a time": 0.0}

    def step(x, e):
        logits, v = policy(x, e)
        (logits.square().mean() + v.square().mean()).backward()

    for _ in range(args.repeats):
        t = time.perf_counter()
        step(seq, eps)
        times["one batch"] += time.perf_counter() - t
        t = time.perf_counter()
        for i in range(seeds):
            step(seq[i * per_mb:(i + 1) * per_mb], eps[i * per_mb:(i + 1) * per_mb])
        times["one seed at a time"] += time.perf_counter() - t
    print(f"update pass, {seeds} seeds x {per_mb} sequences of {2 * steps - 1} tokens:")
    for k, v in times.items():
        print(f"  {k:18s}: {v / args.repeats * 1e3:.1f} ms")
    print(f"  speed-up from batching the seeds: {times['one seed at a time'] / times['one batch']:.2f}x")


if __name__ == "__main__":
    main()
