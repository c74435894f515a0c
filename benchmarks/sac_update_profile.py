"""One SAC update of a seed ensemble against the CPU's matmul peak, at widths 64, 256 and 1024, in fp32 and bf16.

    python benchmarks/sac_update_profile.py            # 5 members, batch 256, HalfCheetah's shapes (17 -> 6)
    python benchmarks/sac_update_profile.py --quick    # a few seconds: every part runs

Issue 19 asks where an update's time goes: framework overhead, arithmetic, or the machine's peak. Printed,
one torch thread, side by side in one run:

(a) the peak: a 1024 x 1024 x 1024 matmul in fp32 and in bf16 (GFLOP/s, 2 n^3 per product);
(b) per width: milliseconds per update (``harness.agents.sac.update`` on a random batch, after a warm-up), its
    arithmetic by the 6N-style count below, the achieved GFLOP/s and its share of the peak of its precision,
    and its speed-up over the agent's fp32 update, for each of ``VARIANTS``: the agent as configured (fused
    Adam; ``precision`` "fp32" or "bf16", harness/compute.py) and two alternatives tried for issue 19, the
    foreach ensemble Adam it replaced and ``torch.compile`` of the networks' forward passes.

The arithmetic of one update, per member, for batch B and per-member parameter counts P_critic (both twin
critics) and P_actor: critic forward and backward 6 P_critic B, target critics forward 2 P_critic B, actor
at s' forward 2 P_actor B, actor loss (actor forward and backward 6 P_actor B, critics forward and backward
through their inputs about 4 P_critic B): about 12 P_critic B + 8 P_actor B FLOPs (the log-temperature
step and the Polyak update are negligible).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from harness import nn as enn  # noqa: E402
from harness.agents import sac  # noqa: E402

OBS, ACT = 17, 6  # HalfCheetah-v5


def matmul_peak(n: int, dtype: torch.dtype, seconds: float) -> float:
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        done += 1
    return 2 * n ** 3 * done / (time.perf_counter() - start) / 1e9


VARIANTS = ("fp32", "bf16", "fp32 foreach Adam", "fp32 compiled nets")
"""How one update is run: the agent as configured (fused Adam, ``precision`` fp32 or bf16), and two variants
tried for issue 19 and measured here: harness.nn.EnsembleAdam's ten foreach passes instead of the fused kernel,
and ``torch.compile`` of the actor's sampling and both critics' forward passes (the optimizer steps stay eager)."""


def update_ms(width: int, members: int, batch: int, updates: int, variant: str) -> tuple[float, float]:
    """Milliseconds per update and the update's FLOPs (all members), after ``updates // 4`` warm-up steps."""
    cfg = sac.Config(env_id="HalfCheetah-v5", critic_width=width, actor_width=width, batch_size=batch,
                     precision="bf16" if variant == "bf16" else "fp32")
    seeds = list(range(members))
    agent = sac.Agent(cfg, seeds, OBS, ACT)
    opt = sac.Optimizers.of(agent, cfg)
    if variant == "fp32 foreach Adam":
        opt = sac.Optimizers(*(enn.EnsembleAdam(o.param_groups[0]["params"], members, lr=cfg.actor_lr)
                               for o in (opt.actor, opt.critic, opt.alpha)))
    if variant == "fp32 compiled nets":
        agent.actor.sample = torch.compile(agent.actor.sample)
        for critic in (agent.critic, agent.critic_target):
            critic.forward = torch.compile(critic.forward)
    g = torch.Generator().manual_seed(0)
    data = (torch.randn(members, batch, OBS, generator=g), torch.rand(members, batch, ACT, generator=g) * 2 - 1,
            torch.randn(members, batch, generator=g), torch.zeros(members, batch),
            torch.randn(members, batch, OBS, generator=g))
    noise = torch.randn(members, 2, batch, ACT, generator=g)

    def step() -> None:
        sac.update(agent, opt, data, noise, cfg, -float(ACT), [], lambda losses: None)
    for _ in range(max(3, updates // 4)):  # compiled variants compile (and recompile once) here
        step()
    start = time.perf_counter()
    for _ in range(updates):
        step()
    ms = (time.perf_counter() - start) / updates * 1e3
    p_critic, p_actor = enn.count_params(agent.critic, members), enn.count_params(agent.actor, members)
    flops = members * batch * (12 * p_critic + 8 * p_actor)
    return ms, flops


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="tiny sizes: check that every part runs")
    ap.add_argument("--members", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(1)
    seconds, updates = (0.2, 4) if args.quick else (3.0, 40)
    fp32, bf16 = matmul_peak(1024, torch.float32, seconds), matmul_peak(1024, torch.bfloat16, seconds)
    print(f"(a) 1024^3 matmul, one thread: fp32 {fp32:.0f} GFLOP/s, bf16 {bf16:.0f} GFLOP/s ({bf16 / fp32:.2f}x)")
    print(f"(b) one SAC update ({sac.__name__}.update), {args.members} members, batch 256 (HalfCheetah shapes): "
          "ms per update, achieved GFLOP/s and its share of the peak of its precision, speed-up over fp32")
    for width in (64, 256) if args.quick else (64, 256, 1024):
        base = None
        for variant in VARIANTS:
            ms, flops = update_ms(width, args.members, 256, updates, variant)
            base = base or ms
            rate = flops / ms / 1e6
            peak = bf16 if variant == "bf16" else fp32
            print(f"    width {width:>5} {variant:<19} {ms:7.1f} ms  {rate:6.1f} GFLOP/s  {rate / peak:4.0%} of peak  "
                  f"{base / ms:.2f}x", flush=True)


if __name__ == "__main__":
    main()
