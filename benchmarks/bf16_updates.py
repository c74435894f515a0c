"""One training update of dreamer, dt and ada in fp32 and under bf16 autocast, side by side, one torch thread.

    python benchmarks/bf16_updates.py                      # every agent, every size (a few minutes)
    python benchmarks/bf16_updates.py --quick              # the smallest size of each, few steps: under a minute
    python benchmarks/bf16_updates.py --agents dt ada      # a subset
    python benchmarks/bf16_updates.py --seconds 6          # longer timing per cell (default 3 s per precision)

A measurement for issue 19 ("measure bf16 on dreamer, dt and ada, whose updates are arithmetic-bound"). Per
agent and size preset (width for ada), printed: milliseconds per update in fp32, under
``harness.compute.autocast("bf16", "cpu")`` (``torch.autocast("cpu", dtype=torch.bfloat16)``), their ratio
fp32 / bf16 (above 1: bf16 is faster), and for the first update of the same batch from the same initial weights
whether the bf16 loss is finite and its relative difference |bf16 - fp32| / |fp32| from the fp32 loss.

What one update is, and how it is built (the agents are not changed; nothing is monkeypatched):

* ``dreamer``: ``harness.agents.dreamer.Agent.update`` (world model, actor and critic losses, three backward
  passes, gradient clipping, three Adam steps and the slow critic's EMA) on a random batch of ``batch`` x
  ``seq_len`` (16 x 64) CartPole-v1 steps (4 observations, 2 actions), presets XS..L. ``update`` forms its
  losses and steps its optimizers in one method, so the bf16 column runs the whole call inside the autocast
  context: the backward passes and Adam steps then run inside it too (autocast changes only the forward's
  operators; backward operators follow the dtypes the forward recorded, and the optimizers see float32
  parameters and gradients). Its losses are float32 by type promotion (a bf16 network output meets a float32
  target), but some of their terms are computed in bf16 (log-softmax of the reward logits, the KL terms), so
  they are coarsely rounded; the three losses are compared one by one.
* ``dt``: ``harness.agents.dt.loss_fn`` on ``Transformer(cfg, 100 * channels)`` initialised as ``_train_one``
  does (N(0, 0.02) matrices, zero biases), AdamW over ``param_groups`` with betas (0.9, 0.95), the
  finiteness check, gradient-norm clipping at 1 and the step, in train mode (dropout on); a batch of ``batch``
  x ``context`` (64 x 8) random windows of the three MinAtar games' shared observation layout (a quarter of
  them left-padded), MGDT (return tokens), presets XS..L.
* ``ada``: one PPO minibatch step of ``harness.agents.ada.train_one``: ``Policy`` and Adam (eps 1e-5) as built
  there, the forward over ``num_envs / minibatches`` sequences of the kept context plus one rollout (8 x 79
  tokens at the claims' settings, ``ada.claim_config``: bandits, context 21, 32 envs), the loss (clipped
  surrogate, entropy bonus, value loss) copied from ``train_one``, where it is written inline, then the
  finiteness check, gradient-norm clipping and the step; random tokens, actions, old log-probabilities,
  advantages and targets; the widths of ``claims/test_ada_size.py`` (16..128).

For dt and ada the forward and the loss run under autocast and the loss is cast to float32 before
``.backward()``. Each cell builds the fp32 and the bf16 model from the same seed, runs the first update of
each on the same batch (the numerics check; the dropout generator reseeded alike), warms up, then times
``--rounds`` alternating blocks of fp32 and bf16 updates (``--seconds`` / rounds each) and reports the median
block, so load that drifts during a run (this machine is shared) falls on both columns alike.

A speed-up here is not permission to use it: an agent may use bf16 in a claim only after its validation
passes in bf16 (and its quality benchmark finds bf16 and fp32 equivalent; harness/compute.py).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Callable, Optional

import torch
from torch import nn
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from harness import compute, offline  # noqa: E402
from harness.agents import ada, dreamer, dt  # noqa: E402

AGENTS = ("dreamer", "dt", "ada")
PRECISIONS = ("fp32", "bf16")
LEVELS = {"dreamer": ("XS", "S", "M", "L"), "dt": ("XS", "S", "M", "L"), "ada": (16, 32, 64, 128)}
QUICK_LEVELS = {"dreamer": ("XS",), "dt": ("XS",), "ada": (16,)}
ADA_SETTINGS = SimpleNamespace(steps=400_000, eval_every=100_000, eval_tasks=1000)  # params.yaml, quick

Step = Callable[[], Optional[dict]]
"""One update; returns its losses (floats) or None where the agent would stop (a non-finite loss)."""


def dreamer_step(size: str, precision: str, quick: bool) -> Step:
    cfg = dreamer.Config(size=size, **(dict(batch=4, seq_len=16) if quick else {}))
    obs_dim, actions = 4, 2  # CartPole-v1
    torch.manual_seed(0)
    agent = dreamer.Agent(cfg, obs_dim, actions, "cpu", torch.Generator().manual_seed(1))
    g = torch.Generator().manual_seed(2)
    b, t = cfg.batch, cfg.seq_len
    batch = {"obs": torch.randn(b, t, obs_dim, generator=g),
             "action": F.one_hot(torch.randint(0, actions, (b, t), generator=g), actions).float(),
             "reward": torch.ones(b, t), "cont": (torch.rand(b, t, generator=g) > 0.02).float(),
             "first": torch.zeros(b, t)}
    batch["first"][:, 0] = 1.0

    def step() -> Optional[dict]:
        with compute.autocast(precision, "cpu"):
            out = agent.update(batch)
        return None if out is None else {k: out[k] for k in ("world_model", "actor", "critic")}
    return step


def dt_step(size: str, precision: str, quick: bool) -> Step:
    cfg = dt.Config(size=size)
    layout = dt.obs_layout(offline.DataConfig().games)
    total_c = dt.channels(layout)
    init = torch.Generator().manual_seed(0)
    model = dt.Transformer(cfg, 100 * total_c)
    with torch.no_grad():  # as _train_one initialises it
        for name, p in model.named_parameters():
            if p.dim() >= 2:
                p.copy_(torch.randn(p.shape, generator=init) * 0.02)
            elif name.endswith("bias"):
                p.zero_()
    opt = torch.optim.AdamW(dt.param_groups(model, cfg.weight_decay), lr=cfg.lr, betas=(0.9, 0.95))
    model.train()
    g = torch.Generator().manual_seed(2)
    b, k = cfg.batch, cfg.context
    obs = torch.zeros(b, k, 10, 10, total_c)
    game = torch.randint(0, len(layout), (b,), generator=g)
    for i, (c0, c) in enumerate(layout.values()):
        rows = game == i
        obs[rows, ..., c0:c0 + c] = (torch.rand(int(rows.sum()), k, 10, 10, c, generator=g) < 0.1).float()
    pad = torch.randint(0, k, (b,), generator=g) * (torch.rand(b, generator=g) < 0.25)
    valid = torch.arange(k)[None] >= pad[:, None]
    batch = ((obs * valid[..., None, None, None]).reshape(b, k, -1),
             torch.randint(0, cfg.return_bins, (b, k), generator=g) * valid,
             torch.randint(0, offline.ACTIONS, (b, k), generator=g) * valid, valid)

    def step() -> Optional[dict]:
        with compute.autocast(precision, "cpu"):
            loss = dt.loss_fn(model, batch).float()
        if not torch.isfinite(loss):
            return None
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return {"loss": float(loss.detach())}
    return step


def ada_step(width: int, precision: str, quick: bool) -> Step:
    cfg = ada.claim_config(ADA_SETTINGS, width=width)
    env = ada.make_env(cfg, 1, seed=0)
    obs, _ = env.reset(seed=0)
    actions = int(env.single_action_space.n)
    token_dim = obs.shape[1] + actions + 1
    torch.manual_seed(0)
    policy = ada.Policy(token_dim, actions, cfg)
    opt = torch.optim.Adam(policy.parameters(), lr=cfg.lr, eps=1e-5)
    c = ada.memory(policy, cfg, cfg.num_envs, token_dim).tokens.shape[1]  # kept context before the rollout
    e, n, per_mb = cfg.num_envs, c + cfg.rollout, cfg.num_envs // cfg.minibatches
    g = torch.Generator().manual_seed(2)
    seq_tok = torch.randn(e, n, token_dim, generator=g)
    episode_len = ada.episode_cap(cfg)
    start = torch.randint(0, episode_len, (e, 1), generator=g)
    seq_ep = (torch.arange(n)[None] + start) // episode_len + 1000 * torch.arange(e)[:, None]
    acts = torch.randint(0, actions, (e, cfg.rollout), generator=g)
    logps = torch.log_softmax(torch.randn(e, cfg.rollout, actions, generator=g), -1).gather(
        -1, acts[..., None]).squeeze(-1)
    adv, target = torch.randn(e, cfg.rollout, generator=g), torch.randn(e, cfg.rollout, generator=g)
    idx = torch.randperm(e, generator=g)[:per_mb]

    def step() -> Optional[dict]:
        with compute.autocast(precision, "cpu"):  # from here to the loss: ada.train_one's minibatch step
            logits, v = policy(seq_tok[idx], seq_ep[idx])
            logits, v = logits[:, c:], v[:, c:]
            logp_all = torch.log_softmax(logits, -1)
            logp = logp_all.gather(-1, acts[idx, :, None]).squeeze(-1)
            entropy = -(logp_all.exp() * logp_all).sum(-1).mean()
            mb_adv = adv[idx]
            mb_adv = (mb_adv - mb_adv.mean()) / (mb_adv.std() + 1e-8)
            ratio = (logp - logps[idx]).exp()
            pg = torch.max(-mb_adv * ratio, -mb_adv * ratio.clamp(1 - cfg.clip, 1 + cfg.clip)).mean()
            v_loss = 0.5 * (v - target[idx]).square().mean()
            loss = (pg - cfg.ent_coef * entropy + cfg.vf_coef * v_loss).float()
        if not torch.isfinite(loss):
            return None
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(policy.parameters(), cfg.max_grad_norm)
        opt.step()
        return {"loss": float(loss.detach())}
    return step


BUILDERS: dict[str, Callable[..., Step]] = {"dreamer": dreamer_step, "dt": dt_step, "ada": ada_step}
SHAPES = {"dreamer": "Agent.update, CartPole shapes, batch 16 x seq_len 64, horizon 15",
          "dt": "MGDT, loss_fn + AdamW step, batch 64 x context 8 (24 tokens), 3 MinAtar games",
          "ada": "one PPO minibatch step, bandits, claim_config: 8 sequences x 79 tokens, 2 layers, 4 heads"}


def measure(agent: str, level, quick: bool, seconds: float, warmup: int, rounds: int):
    """(ms per update per precision, first-update losses per precision) of one cell."""
    steps = {p: BUILDERS[agent](level, p, quick) for p in PRECISIONS}
    first = {}
    for p in PRECISIONS:
        torch.manual_seed(1)  # dropout (dt) draws the same stream in both precisions
        first[p] = steps[p]()
        for _ in range(warmup - 1):
            steps[p]()
    blocks: dict[str, list[float]] = {p: [] for p in PRECISIONS}
    for _ in range(rounds):  # alternating blocks: drifting load falls on both precisions alike
        for p in PRECISIONS:
            done, start = 0, time.perf_counter()
            while done < 1 or time.perf_counter() - start < seconds / rounds:
                steps[p]()
                done += 1
            blocks[p].append((time.perf_counter() - start) / done * 1e3)
    return {p: statistics.median(b) for p, b in blocks.items()}, first


def numerics(first: dict) -> str:
    fp32, bf16 = first["fp32"], first["bf16"]
    if bf16 is None:
        return "bf16 loss NOT finite" + ("" if fp32 is not None else " (nor fp32)")
    if fp32 is None:
        return "bf16 loss finite, fp32 NOT"
    diffs = "  ".join(f"{k} {bf16[k]:.4g} vs {fp32[k]:.4g} ({abs(bf16[k] - fp32[k]) / max(abs(fp32[k]), 1e-12):.1e})"
                      for k in fp32)
    return f"finite  {diffs}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smallest sizes, short timing: check that every part runs")
    ap.add_argument("--agents", nargs="+", choices=AGENTS, default=list(AGENTS))
    ap.add_argument("--seconds", type=float, default=None, help="timing per cell and precision (default 3, quick 0.3)")
    ap.add_argument("--warmup", type=int, default=3, help="updates per precision before timing (the first included)")
    ap.add_argument("--rounds", type=int, default=3, help="alternating fp32/bf16 timing blocks per cell")
    args = ap.parse_args()
    torch.set_num_threads(1)
    seconds = args.seconds if args.seconds is not None else (0.3 if args.quick else 3.0)
    warmup = min(args.warmup, 2) if args.quick else args.warmup
    print(f"one torch thread; median of {args.rounds} alternating blocks, {seconds:g} s per cell and precision, "
          f"after {warmup} warm-up updates; ratio = fp32 / bf16 (> 1: bf16 faster); first update's losses: "
          "bf16 vs fp32 (relative difference)")
    for agent in args.agents:
        print(f"{agent} ({SHAPES[agent]}{'; quick: batch 4 x 16' if args.quick and agent == 'dreamer' else ''})")
        for level in (QUICK_LEVELS if args.quick else LEVELS)[agent]:
            ms, first = measure(agent, level, args.quick, seconds, warmup, args.rounds)
            name = f"width {level}" if agent == "ada" else str(level)
            fp32, bf16 = ms["fp32"], ms["bf16"]
            print(f"    {name:<9} fp32 {fp32:8.1f} ms  bf16 {bf16:8.1f} ms  {fp32 / bf16:5.2f}x  {numerics(first)}",
                  flush=True)


if __name__ == "__main__":
    main()
