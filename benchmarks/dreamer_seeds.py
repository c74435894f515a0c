"""Would training DreamerV3's seeds as one batch pay? One update on k seeds' batches at once against k
updates on one seed's batch, side by side in one run, per preset.

    python benchmarks/dreamer_seeds.py                 # presets XS and S, 3 seeds
    python benchmarks/dreamer_seeds.py --sizes M --seeds 5

Shared weights stand in for the k weight sets an ensemble would batch (the same arithmetic, and no
per-member bookkeeping, so this is the most an ensemble could gain). A ratio well above 1 says an
ensemble is worth writing; about 1 or below says the update is bound by arithmetic, not by per-call
overhead, and seeds are better spread over worker processes. One torch thread, as the harness runs.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from harness.agents import dreamer  # noqa: E402


def seconds_per_update(size: str, batch: int, repeats: int) -> float:
    cfg = dreamer.Config(size=size, batch=batch)
    gen = torch.Generator().manual_seed(0)
    agent = dreamer.Agent(cfg, 4, 2, "cpu", gen)
    rng = np.random.default_rng(0)
    replay = dreamer.Replay(4000, 4, 2)
    for i in range(4000):
        replay.add(rng.normal(size=4), 1.0, float(i % 200 != 199), i % 200 == 0)
    replay.action[:] = np.eye(2, dtype=np.float32)[rng.integers(2, size=4000)]
    agent.update(replay.sample(rng, batch, cfg.seq_len, "cpu"))  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        agent.update(replay.sample(rng, batch, cfg.seq_len, "cpu"))
    return (time.perf_counter() - start) / repeats


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", nargs="+", default=["XS", "S"], choices=list(dreamer.PRESETS))
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=4)
    args = ap.parse_args()
    torch.set_num_threads(1)
    batch = dreamer.Config().batch
    print(f"one update = world model + imagination actor-critic, batch {batch} x {dreamer.Config().seq_len} steps")
    for size in args.sizes:
        one = seconds_per_update(size, batch, args.repeats)
        together = seconds_per_update(size, batch * args.seeds, args.repeats)
        n = dreamer.parameters(dreamer.Config(size=size))
        print(f"{size:>2} ({n:,} parameters): {args.seeds} seeds one after another {args.seeds * one:.2f} s, "
              f"batched {together:.2f} s; speed-up {args.seeds * one / together:.2f}x")


if __name__ == "__main__":
    main()
