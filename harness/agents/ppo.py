"""Proximal Policy Optimization, seed-vectorized: all seeds of a unit train as ONE batched ensemble.

PPO (Schulman et al. 2017, arXiv:1707.06347) with the clipped surrogate objective, GAE(lambda)
(arXiv:1506.02438), per-minibatch advantage normalization, optional value clipping, an entropy bonus,
global gradient-norm clipping and a linearly annealed learning rate; the update follows CleanRL's
``ppo.py`` / Stable-Baselines3's ``PPO.train`` (orthogonal initialization with gains sqrt(2), 0.01 for the
policy head and 1 for the value head; separate actor and critic MLPs with tanh; Adam with eps 1e-5). Time
limits (truncation) are bootstrapped with the critic's value of the final observation, as SB3 does, so a
run that survives to the limit is not taught that the episode ended. Discrete actions use a categorical
policy, Box actions a diagonal Gaussian with a state-independent log standard deviation (actions are
clipped to the bounds for the environment, the log-probability is of the unclipped sample, as SB3 does).

Defaults (``Config``) are pinned and are CleanRL's Atari settings scaled to vector/MinAtar tasks: 8
environments x 128 steps per rollout, 4 minibatches, 4 epochs, lr 2.5e-4 annealed to 0 over the run's own
budget, gamma 0.99, lambda 0.95, clip 0.2, entropy 0.01, value 0.5, grad-norm 0.5. ``width`` and ``depth``
size both networks alike; ``steps`` is the env-step budget per member and every schedule (the lr
annealing) is scaled to it, as scaling-law studies do.

Seed vectorization. M = len(seeds) members train side by side through ``harness.nn`` ensemble layers;
member i has its own N training environments (seeded from its "env/j" streams), action-sampling stream
("explore"), minibatch shuffling stream ("minibatch"), weights ("init") and optimizer state, so member i
behaves as a run with seed i alone would (to floating-point rounding). Evaluation (the policy's mode, on
separate envs seeded from "eval") draws from none of these streams, so the step-0 evaluation of the
untrained policy leaves training unchanged. Observations are flattened (MinAtar's 10x10xC boolean grids
become 100*C inputs).

Divergence. A member whose loss or gradient norm is not finite is frozen before the optimizer step that
would use it (``EnsembleAdam.step(frozen=...)``): its weights and moments stay as they were, it stops
counting env steps, it is not evaluated again (NaN curve entries) and it is reported with
``diverged=True``; the other members continue bit-for-bit. ``Config._inject_nan_at`` tests this.

Resuming. ``train`` saves its state after an update when the harness's checkpoint is due
(harness/checkpoint.py): every object in ``RESUMABLE`` (the training environments, the ensemble and its
optimizer, the random streams, the curves so far). A resumed unit returns the record of an uninterrupted run,
bit for bit on CPU (tests/test_checkpoint.py).
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import Sequence

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor, nn

from harness import checkpoint
from harness import nn as enn
from harness.agents.common import gae, training_flops
from harness.envs import derive_seed, env_seed, evaluate, make_env
from harness.result import MemberResult, RunResult, curve_metrics, report_progress, trainer, untrained_metrics


@dataclass(frozen=True)
class Config:
    """PPO settings (CleanRL-style defaults; see the module docstring)."""

    env_id: str = "CartPole-v1"
    """Gymnasium id: a Box observation (flattened) and a Discrete or Box action space."""
    steps: int = 100_000
    """Environment steps per member (rounded down to whole rollouts of num_envs * rollout steps, >= 1)."""
    width: int = 64
    """Hidden units per layer of both the actor and the critic."""
    depth: int = 2
    """Hidden layers of both the actor and the critic."""
    num_envs: int = 8
    """Training environments per member."""
    rollout: int = 128
    """Steps per environment per rollout (one rollout = one PPO update phase)."""
    epochs: int = 4
    """Passes over each rollout."""
    minibatches: int = 4
    """Minibatches per epoch (minibatch size = num_envs * rollout / minibatches)."""
    lr: float = 2.5e-4
    """Adam learning rate at the start; annealed linearly to 0 over the run when ``anneal_lr``."""
    anneal_lr: bool = True
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip: float = 0.2
    """Probability-ratio clip of the surrogate objective."""
    clip_value: float | None = None
    """Clip the value update to +-this around the rollout's values (None: no value clipping; SB3 default)."""
    ent_coef: float = 0.01
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    """Per-member global gradient-norm clip."""
    norm_adv: bool = True
    """Normalize advantages per minibatch."""
    adam_eps: float = 1e-5
    eval_every: int = 10_000
    """Evaluate the deterministic policy (argmax / mean) after the rollout that crosses each multiple of
    this many env steps, and once more at the end; the untrained policy is evaluated too, at step 0."""
    eval_episodes: int = 10
    max_episode_steps: int | None = None
    """Time limit for training and evaluation episodes (None: the env's registered limit). MinAtar games
    have none, and a good Breakout player never loses: claims on them set one."""
    _inject_nan_at: tuple[int, int] | None = None
    """Testing only: (member index, update) whose loss is replaced by NaN."""

    def __post_init__(self) -> None:
        batch = self.num_envs * self.rollout
        if batch % self.minibatches:
            raise ValueError(f"num_envs * rollout ({batch}) must be divisible by minibatches ({self.minibatches})")
        for name in ("steps", "width", "depth", "num_envs", "rollout", "epochs", "minibatches", "eval_every",
                     "eval_episodes"):
            if getattr(self, name) < 1:
                raise ValueError(f"PPO Config.{name} must be >= 1, got {getattr(self, name)}")

    @property
    def updates(self) -> int:
        return max(1, self.steps // (self.num_envs * self.rollout))


def _net(m: int, in_dim: int, width: int, depth: int, out_dim: int, head_gain: float) -> nn.Sequential:
    layers: list[nn.Module] = []
    d = in_dim
    for _ in range(depth):
        layers += [enn.EnsembleLinear(m, d, width, init="orthogonal", gain=math.sqrt(2)), nn.Tanh()]
        d = width
    layers.append(enn.EnsembleLinear(m, d, out_dim, init="orthogonal", gain=head_gain))
    return nn.Sequential(*layers)


class ActorCritic(nn.Module):
    """M actors and M critics (separate MLPs). Discrete: logits; continuous: mean and a free log-std."""

    def __init__(self, seeds: Sequence[int], obs_dim: int, action_space: gym.Space, width: int, depth: int):
        super().__init__()
        m = len(seeds)
        self.discrete = isinstance(action_space, gym.spaces.Discrete)
        out = int(action_space.n) if self.discrete else int(np.prod(action_space.shape))
        self.actor = enn.init_members(_net(m, obs_dim, width, depth, out, 0.01),
                                      enn.member_generators([derive_seed(s, "init/actor") for s in seeds]))
        self.critic = enn.init_members(_net(m, obs_dim, width, depth, 1, 1.0),
                                       enn.member_generators([derive_seed(s, "init/critic") for s in seeds]))
        self.log_std = None if self.discrete else nn.Parameter(torch.zeros(m, 1, out))

    def value(self, obs: Tensor) -> Tensor:
        return self.critic(obs).squeeze(-1)

    def dist_params(self, obs: Tensor) -> Tensor:
        return self.actor(obs)

    def log_prob_entropy(self, out: Tensor, actions: Tensor) -> tuple[Tensor, Tensor]:
        if self.discrete:
            logp = torch.log_softmax(out, dim=-1)
            chosen = logp.gather(-1, actions.long().unsqueeze(-1)).squeeze(-1)
            entropy = -(logp.exp() * logp).sum(-1)
            return chosen, entropy
        log_std = self.log_std.expand_as(out)
        var = torch.exp(2 * log_std)
        logp = -((actions - out) ** 2) / (2 * var) - log_std - 0.5 * math.log(2 * math.pi)
        entropy = (0.5 + 0.5 * math.log(2 * math.pi) + log_std)
        return logp.sum(-1), entropy.sum(-1)

    def sample(self, out: Tensor, u: Tensor) -> Tensor:
        """Actions from the members' own noise ``u`` (uniform (M, N) for discrete, normal (M, N, A) else)."""
        if self.discrete:
            cdf = torch.softmax(out, dim=-1).cumsum(-1)
            return (u.unsqueeze(-1) > cdf[..., :-1]).sum(-1)
        return out + self.log_std.exp() * u

    def mode(self, out: Tensor) -> Tensor:
        return out.argmax(-1) if self.discrete else out


def _flat(obs: np.ndarray, lead: int) -> np.ndarray:
    return np.asarray(obs, dtype=np.float32).reshape(lead, -1)


def parameters(cfg: Config) -> int:
    """Trainable parameters of one member (actor + critic) for ``cfg``'s env, width and depth."""
    env = make_env(cfg.env_id, 0)
    ac = ActorCritic([0], int(np.prod(env.observation_space.shape)), env.action_space, cfg.width, cfg.depth)
    env.close()
    return enn.count_params(ac, 1)


def steps_for_compute(cfg: Config, flops: float) -> int:
    """The env-step budget at which one member's training compute (``training_flops``) is ``flops``."""
    return int(flops / training_flops(parameters(cfg), trained=cfg.epochs, acted=1))


RESUMABLE = ("envs", "obs_np", "ac", "opt", "noise", "shuffle", "frozen", "diverged_step", "env_steps", "updates_done",
             "curve_steps", "curves", "ep_ret", "recent", "losses", "next_eval")
"""What a checkpoint holds besides the update, its env step and the elapsed time: every object with training state."""


@trainer
def train(cfg: Config, seeds: Sequence[int], device: str = "cpu") -> RunResult:
    """Train one PPO member per seed, as one ensemble; returns one MemberResult per seed."""
    return train_agent(cfg, seeds, device)[0]


def train_agent(cfg: Config, seeds: Sequence[int], device: str = "cpu") -> tuple[RunResult, ActorCritic]:
    """``train``, also returning the trained ensemble (for tests)."""
    start = time.perf_counter()
    m, n, t_len = len(seeds), cfg.num_envs, cfg.rollout
    limit = {} if cfg.max_episode_steps is None else {"max_episode_steps": cfg.max_episode_steps}
    envs = [[make_env(cfg.env_id, s, stream=f"env/{j}", **limit) for j in range(n)] for s in seeds]
    space = envs[0][0].action_space
    if not isinstance(space, (gym.spaces.Discrete, gym.spaces.Box)):
        raise ValueError(f"PPO supports Discrete and Box action spaces; {cfg.env_id} has {space}")
    obs_np = np.stack([np.stack([_flat(e.reset(seed=env_seed(cfg.env_id, derive_seed(s, f"env/{j}")))[0], 1)[0]
                                 for j, e in enumerate(row)]) for s, row in zip(seeds, envs)])  # (M, N, D)
    obs_dim = obs_np.shape[-1]
    torch_dev = torch.device(device)
    ac = ActorCritic(seeds, obs_dim, space, cfg.width, cfg.depth).to(torch_dev)
    params = list(ac.parameters())
    opt = enn.EnsembleAdam(params, members=m, lr=cfg.lr, eps=cfg.adam_eps)
    act_shape = () if ac.discrete else space.shape
    noise = enn.MemberSampler([derive_seed(s, "explore") for s in seeds], (n, *act_shape),
                              kind="uniform" if ac.discrete else "normal", device=torch_dev)
    shuffle = enn.member_generators([derive_seed(s, "minibatch") for s in seeds])
    low, high = (None, None) if ac.discrete else (space.low, space.high)

    buf_obs = torch.zeros(t_len, m, n, obs_dim, device=torch_dev)
    buf_act = torch.zeros(t_len, m, n, *act_shape, device=torch_dev)
    buf_logp, buf_val, buf_rew, buf_done = (torch.zeros(t_len, m, n, device=torch_dev) for _ in range(4))

    frozen: list[int] = []
    diverged_step: dict[int, int] = {}
    env_steps = np.zeros(m, dtype=np.int64)
    updates_done = np.zeros(m, dtype=np.int64)
    curve_steps: list[int] = []
    curves: list[list[float]] = [[] for _ in range(m)]
    ep_ret = np.zeros((m, n))
    recent: list[float] = []
    losses = {"policy": [], "value": [], "entropy": [], "approx_kl": [], "clipfrac": []}
    next_eval = cfg.eval_every
    steps_per_update = n * t_len
    mb = steps_per_update // cfg.minibatches
    rows = torch.arange(m, device=torch_dev).unsqueeze(1)

    def run_eval(step: int) -> None:
        def act(o: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                x = torch.as_tensor(_flat(o, m), device=torch_dev).unsqueeze(1)
                a = ac.mode(ac.dist_params(x)).squeeze(1).cpu().numpy()
            return a if ac.discrete else np.clip(a, low, high)
        scores = evaluate(act, cfg.env_id, seeds, cfg.eval_episodes, max_episode_steps=cfg.max_episode_steps)
        curve_steps.append(step)
        for i in range(m):
            curves[i].append(math.nan if i in frozen else float(scores[i]))

    ckpt = checkpoint.current()
    state = ckpt.load()
    if state is None:
        # step 0: the untrained policy, same protocol as every later evaluation (the mode, the "eval" episodes);
        # evaluation draws from no training stream (its own envs, no sampling), so training is unchanged by it
        run_eval(0)
        first = 1
    else:  # resume: every object that carries state, as it was after update state["update"]
        for row in envs:
            for e in row:
                e.close()
        (envs, obs_np, ac, opt, noise, shuffle, frozen, diverged_step, env_steps, updates_done, curve_steps, curves,
         ep_ret, recent, losses, next_eval) = (state[k] for k in RESUMABLE)
        params = list(ac.parameters())  # shared with opt (one pickle keeps them shared)
        opt.members = m  # torch's Optimizer pickles its state and groups only
        start, first = time.perf_counter() - state["elapsed"], state["update"] + 1
    for update in range(first, cfg.updates + 1):
        if cfg.anneal_lr:
            opt.param_groups[0]["lr"] = cfg.lr * (1.0 - (update - 1) / cfg.updates)
        # --- rollout -------------------------------------------------------------------------------
        for t in range(t_len):
            x = torch.as_tensor(obs_np, device=torch_dev)
            with torch.no_grad():
                out = ac.dist_params(x)
                a = ac.sample(out, noise())
                logp, _ = ac.log_prob_entropy(out, a)
                v = ac.value(x)
            buf_obs[t], buf_act[t], buf_logp[t], buf_val[t] = x, a, logp, v
            a_np = a.cpu().numpy()
            if not ac.discrete:
                a_np = np.clip(a_np, low, high)
            rew = np.zeros((m, n), dtype=np.float32)
            done = np.zeros((m, n), dtype=np.float32)
            final_obs: list[tuple[int, int, np.ndarray]] = []
            for i in range(m):
                for j in range(n):
                    o, r, term, trunc, _ = envs[i][j].step(a_np[i, j])
                    rew[i, j] = r
                    ep_ret[i, j] += r
                    if term or trunc:
                        done[i, j] = 1.0
                        if trunc and not term:
                            final_obs.append((i, j, _flat(o, 1)[0]))
                        if i not in frozen:
                            recent.append(ep_ret[i, j])
                        ep_ret[i, j] = 0.0
                        o, _ = envs[i][j].reset()
                    obs_np[i, j] = _flat(o, 1)[0]
            if final_obs:  # bootstrap time limits: r += gamma * V(final observation), as SB3 does
                fo = torch.zeros(m, len(final_obs), obs_dim, device=torch_dev)
                for k, (i, _, o) in enumerate(final_obs):
                    fo[i, k] = torch.as_tensor(o)
                with torch.no_grad():
                    fv = ac.value(fo).cpu().numpy()
                for k, (i, j, _) in enumerate(final_obs):
                    rew[i, j] += cfg.gamma * fv[i, k]
            buf_rew[t] = torch.as_tensor(rew, device=torch_dev)
            buf_done[t] = torch.as_tensor(done, device=torch_dev)
        live = np.array([i not in frozen for i in range(m)])
        env_steps[live] += steps_per_update

        # --- GAE -----------------------------------------------------------------------------------
        with torch.no_grad():
            next_v = ac.value(torch.as_tensor(obs_np, device=torch_dev))
            adv = gae(buf_rew, buf_val, buf_done, next_v, cfg.gamma, cfg.gae_lambda)
            ret = adv + buf_val

        # --- update: member-major flat batches (M, T*N, ...) -----------------------------------------
        def flat(b: Tensor) -> Tensor:
            return b.transpose(0, 1).reshape(m, steps_per_update, *b.shape[3:])
        b_obs, b_act, b_logp, b_adv, b_ret, b_val = map(flat, (buf_obs, buf_act, buf_logp, adv, ret, buf_val))
        for _ in range(cfg.epochs):
            perm = torch.stack([torch.randperm(steps_per_update, generator=g) for g in shuffle]).to(torch_dev)
            for k in range(cfg.minibatches):
                idx = perm[:, k * mb:(k + 1) * mb]
                o, a = b_obs[rows, idx], b_act[rows, idx]
                out = ac.dist_params(o)
                logp, entropy = ac.log_prob_entropy(out, a)
                ratio_log = logp - b_logp[rows, idx]
                ratio = ratio_log.exp()
                mb_adv = b_adv[rows, idx]
                if cfg.norm_adv:
                    mb_adv = (mb_adv - mb_adv.mean(1, keepdim=True)) / (mb_adv.std(1, keepdim=True) + 1e-8)
                pg = torch.max(-mb_adv * ratio, -mb_adv * ratio.clamp(1 - cfg.clip, 1 + cfg.clip)).mean(1)
                v = ac.value(o)
                r_mb = b_ret[rows, idx]
                if cfg.clip_value is None:
                    v_loss = 0.5 * (v - r_mb).square().mean(1)
                else:
                    v_old = b_val[rows, idx]
                    v_clip = v_old + (v - v_old).clamp(-cfg.clip_value, cfg.clip_value)
                    v_loss = 0.5 * torch.max((v - r_mb).square(), (v_clip - r_mb).square()).mean(1)
                ent = entropy.mean(1)
                loss = pg - cfg.ent_coef * ent + cfg.vf_coef * v_loss  # (M,)
                if cfg._inject_nan_at is not None and cfg._inject_nan_at[1] == update:
                    loss = loss + torch.where(torch.arange(m) == cfg._inject_nan_at[0], math.nan, 0.0)
                opt.zero_grad(set_to_none=True)
                loss.sum().backward()  # a sum: each member gets exactly its own gradient
                norms = enn.clip_grad_norm_(params, cfg.max_grad_norm, m)
                bad = enn.nonfinite_members([loss.detach(), norms], m)
                for i in torch.nonzero(bad).flatten().tolist():
                    if i not in frozen:
                        frozen.append(i)
                        diverged_step[i] = int(env_steps[i])
                opt.step(frozen=frozen)
                with torch.no_grad():
                    losses["policy"].append(pg.detach())
                    losses["value"].append(v_loss.detach())
                    losses["entropy"].append(ent.detach())
                    losses["approx_kl"].append(((ratio - 1) - ratio_log).mean(1).detach())
                    losses["clipfrac"].append(((ratio - 1).abs() > cfg.clip).float().mean(1).detach())
        updates_done[[i for i in range(m) if i not in frozen]] += cfg.epochs * cfg.minibatches

        step = update * steps_per_update
        if step >= next_eval or update == cfg.updates:
            run_eval(step)
            while next_eval <= step:
                next_eval += cfg.eval_every
        report_progress(step, cfg.updates * steps_per_update, float(np.mean(recent[-20:])) if recent else None)
        for v in losses.values():  # only the last update's losses are reported
            del v[:-cfg.epochs * cfg.minibatches]
        del recent[:-20]
        if ckpt.due() and update < cfg.updates:
            here = locals()
            ckpt.save({"step": step, "update": update, "elapsed": time.perf_counter() - start,
                       **{k: here[k] for k in RESUMABLE}})

    for row in envs:
        for e in row:
            e.close()
    n_actor, n_critic = enn.count_params(ac.actor, m), enn.count_params(ac.critic, m)
    n_extra = 0 if ac.log_std is None else ac.log_std.shape[-1]
    wall = time.perf_counter() - start
    members = []
    last_losses = {k: torch.stack(v[-cfg.epochs * cfg.minibatches:]).mean(0) for k, v in losses.items() if v}
    for i, s in enumerate(seeds):
        n_params = n_actor + n_critic + n_extra
        members.append(MemberResult(
            seed=int(s), metrics=curve_metrics(curves[i]), curve_steps=list(curve_steps),
            curve_returns=curves[i], initial=untrained_metrics(curves[i]), diverged=i in frozen,
            diverged_step=diverged_step.get(i),
            env_steps=int(env_steps[i]), updates=int(updates_done[i]),
            params={"actor": n_actor + n_extra, "critic": n_critic, "total": n_params},
            flops=training_flops(n_params, trained=cfg.epochs * int(env_steps[i]), acted=int(env_steps[i])), wall_time=wall / m,
            extra={"last_losses": {k: float(v[i]) for k, v in last_losses.items()}}))
    return RunResult(members=members, config=asdict(cfg), device=str(torch_dev)), ac

