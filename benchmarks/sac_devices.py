"""Our SAC on a GPU against the CPU, side by side in one run, in the quick design of sac_width.

    python benchmarks/sac_devices.py                          # widths 64, 256, 1024 (a few minutes)
    python benchmarks/sac_devices.py --widths 64 --updates 50  # a smoke run

The run is a sac_width quick unit cut short: InvertedDoublePendulum-v5, an MLP critic of the given width and
depth 2, actor 256 x 2, batch 128, 5 seeds as one ensemble, 1000 env steps of uniform warm-up, then
``--updates`` env steps with one gradient update each, and one 1-episode evaluation at the end (as the claim
evaluates, but once). The CPU run uses one torch thread (as the harness runs units); the GPU run the same
process's default. Printed per width: the wall seconds and env-steps/s on each device, and the ratio
GPU / CPU. The warm-up and the evaluation are in both runs, the same on each device. Exits 2 without CUDA.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from harness.agents import sac  # noqa: E402

SEEDS = [0, 1, 2, 3, 4]
WARMUP = 1000


def config(width: int, updates: int) -> sac.Config:
    steps = WARMUP + updates
    return sac.Config(env_id="InvertedDoublePendulum-v5", block="mlp", critic_width=width, critic_depth=2,
                      actor_width=256, actor_depth=2, batch_size=128, steps=steps, learning_starts=WARMUP,
                      eval_every=steps, eval_episodes=1)


def seconds(cfg: sac.Config, device: str) -> float:
    start = time.perf_counter()
    res = sac.train(cfg, SEEDS, device=device)
    if device == "cuda":
        torch.cuda.synchronize()
    wall = time.perf_counter() - start
    assert res.device == device and not any(m.diverged for m in res.members), (device, res.device)
    return wall


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--widths", type=int, nargs="+", default=[64, 256, 1024])
    ap.add_argument("--updates", type=int, default=None,
                    help="gradient updates per width (default: 1000 below width 1024, 300 at 1024 and above)")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device: this benchmark compares a GPU with the CPU", file=sys.stderr)
        return 2
    print(f"GPU: {torch.cuda.get_device_name(0)}; torch {torch.__version__}; CPU run on 1 thread; "
          f"seeds {len(SEEDS)} as one ensemble")
    seconds(config(64, 20), "cuda")  # CUDA context and kernels loaded before any timing
    print(f"{'width':>6} {'updates':>8} {'cpu s':>8} {'cpu steps/s':>12} {'gpu s':>8} {'gpu steps/s':>12} "
          f"{'gpu/cpu':>8}")
    threads = torch.get_num_threads()
    for width in args.widths:
        updates = args.updates or (1000 if width < 1024 else 300)
        cfg = config(width, updates)
        env_steps = cfg.steps * len(SEEDS)
        torch.set_num_threads(1)
        cpu = seconds(cfg, "cpu")
        torch.set_num_threads(threads)
        gpu = seconds(cfg, "cuda")
        print(f"{width:>6} {updates:>8} {cpu:>8.1f} {env_steps / cpu:>12.0f} {gpu:>8.1f} {env_steps / gpu:>12.0f} "
              f"{cpu / gpu:>7.2f}x", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
