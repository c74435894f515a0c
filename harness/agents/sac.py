"""Soft Actor-Critic, seed-vectorized: all seeds of a unit train as ONE batched ensemble in one process.

SAC (Haarnoja et al. 2018, arXiv:1801.01290 and arXiv:1812.05905): twin critics with clipped double-Q
targets, Polyak-averaged target critics, automatic entropy tuning, and a tanh-squashed Gaussian policy.
The update follows Stable-Baselines3 2.x ``SAC.train`` step by step (see ``update``), and the defaults in
``Config`` are SB3's unless a field says otherwise, so that ``benchmarks/sac_vs_sb3.py`` compares like
with like.

Seed vectorization. M = len(seeds) members train side by side: every weight tensor has a leading member
dimension (``harness.nn``), so one batched forward/backward serves all of them. Each member has its own
environment, replay buffer, optimizer state and RNG streams, all derived from its seed alone with
``derive_seed(seed, stream)``: "init/actor", "init/critic" (weights; separate streams so that the actor's
initial weights do not change when only the critic's size does), "env" (training env and warm-up
actions), "explore" (policy noise when acting), "replay" (minibatch indices), "update" (policy noise in
the losses), "eval" (evaluation episodes, in ``harness.envs.evaluate``; evaluation draws from no training
stream, so the step-0 evaluation of the untrained policy leaves training unchanged). Member i therefore
behaves as a run with seed i alone would; batching changes floating-point results at most at rounding
level (tests/test_sac.py states the tolerance).

Divergence. After computing its losses, each update checks them per member; a member with a NaN or
infinite loss is frozen before the optimizer step that would use it: its parameters, optimizer moments,
target critic, temperature and observation statistics stay exactly as they were (``harness.nn``
``preserve_members``), its training environment stops stepping (its ``env_steps`` stay at the step of
divergence), it is no longer evaluated (its remaining curve entries are NaN), and it is reported with
``diverged=True`` and ``diverged_step``. Nothing in a batched update mixes members, so the others continue
bit-for-bit as if the frozen member were healthy. ``Config._inject_nan_at`` exists to test this.

Resuming. Inside a harness unit (harness/checkpoint.py) the whole training state is saved every few minutes:
every object in ``RESUMABLE`` (the ensemble, its optimizers, the replay buffer, the three samplers and their
generators, the bookkeeping and the curve so far) and each training env's ``env_snapshot``; a unit that finds
its checkpoint continues after that env step and returns, bit for bit on CPU, the record of an uninterrupted
run (tests/test_checkpoint.py kills a worker at a random moment).

Speed and precision. The three optimizers are ``harness.compute.FusedEnsembleAdam`` (torch's fused Adam
kernel, per-member freezing as above); ``precision="bf16"`` runs the networks' forward passes under bfloat16
autocast with float32 weights, optimizer state and losses (harness/compute.py; benchmarks/sac_vs_sb3.py and
benchmarks/sac_update_profile.py measure both).

``block="simba"`` swaps both networks' bodies for the SimBa architecture (Lee et al. 2024,
arXiv:2410.09754; SonyResearch/simba): running mean/variance observation normalization, a linear layer,
pre-LayerNorm residual blocks with a 4x inner expansion, and a final LayerNorm, with SimBa's
initializers. Everything else (the algorithm, optimizer, learning rates, temperature, log-std bounds)
stays the same in both arms, so a claim that compares them compares architectures only; set
``weight_decay``/learning rates explicitly to run SimBa's own optimizer (AdamW, 1e-2, 1e-4).
"""
from __future__ import annotations

import copy
import math
import sys
import time
from dataclasses import asdict, dataclass
from typing import Callable, Sequence

import gymnasium as gym
import mujoco
import numpy as np
import torch
from torch import Tensor, nn
from gymnasium.envs.mujoco.mujoco_env import MujocoEnv
from torch.nn import functional as F

from harness import checkpoint, compute
from harness import nn as enn
from harness.agents.common import training_flops
from harness.envs import derive_seed, evaluate, make_env
from harness.result import MemberResult, RunResult, curve_metrics, report_progress, trainer, untrained_metrics

LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0  # SB3's clamp on the policy's log standard deviation
BLOCKS = ("mlp", "simba")


@dataclass(frozen=True)
class Config:
    """SAC settings. Defaults are Stable-Baselines3 2.x ``SAC("MlpPolicy")`` unless a field says otherwise."""

    env_id: str = "Pendulum-v1"
    """Gymnasium id of a task with a 1-D Box observation and Box action space."""
    steps: int = 100_000
    """Environment steps per member, warm-up included."""
    eval_every: int = 5_000
    """Evaluate the deterministic policy every this many env steps (and once more at the end); the untrained
    policy is evaluated too, at step 0."""
    eval_episodes: int = 10
    """Episodes per evaluation (seeded from the member's "eval" stream, identical across levels)."""
    learning_starts: int = 100
    """Env steps of uniform random actions before updates begin (SB3 100; CleanRL 5000)."""
    batch_size: int = 256
    """Transitions per member per gradient update (SB3, CleanRL 256)."""
    utd: int = 1
    """Gradient updates per env step, the update-to-data ratio (SB3 gradient_steps=1, train_freq=1)."""
    buffer_size: int = 1_000_000
    """Replay capacity per member (SB3, CleanRL 1e6)."""
    actor_lr: float = 3e-4
    """Actor learning rate (SB3, CleanRL 3e-4)."""
    critic_lr: float = 3e-4
    """Critic learning rate (SB3 3e-4; CleanRL 1e-3)."""
    alpha_lr: float = 3e-4
    """Learning rate of the log entropy temperature (SB3 3e-4)."""
    gamma: float = 0.99
    """Discount factor."""
    tau: float = 0.005
    """Polyak coefficient of the target critics, updated after every gradient step."""
    init_alpha: float = 1.0
    """Initial entropy temperature (SB3 "auto" starts at 1.0; SimBa at 0.01)."""
    target_entropy: float | None = None
    """Target policy entropy; None means -action_dim (SB3 "auto"; SimBa uses -0.5 * action_dim)."""
    critic_width: int = 256
    """Hidden width of each critic (SB3 net_arch [256, 256])."""
    critic_depth: int = 2
    """Critic hidden layers (block="mlp") or residual blocks (block="simba")."""
    actor_width: int = 256
    """Hidden width of the actor."""
    actor_depth: int = 2
    """Actor hidden layers (block="mlp") or residual blocks (block="simba")."""
    block: str = "mlp"
    """Network body: "mlp" (plain ReLU MLP, torch default init, SB3) or "simba" (SimBa, see module doc)."""
    weight_decay: float = 0.0
    """Decoupled (AdamW) weight decay on actor and critic; 0 is plain Adam (SB3). SimBa uses 1e-2."""
    max_grad_norm: float | None = None
    """Per-member gradient-norm clip for actor and critic; None clips nothing (SB3)."""
    precision: str = "fp32"
    """"fp32", or "bf16": the networks' forward passes under bfloat16 autocast, weights, optimizer state and
    losses in float32 (harness/compute.py)."""
    _inject_nan_at: tuple[int, int] | None = None
    """TEST ONLY: (member index, update number) at which to overwrite that member's critic with NaN."""


# --- networks ------------------------------------------------------------------------------------------

def _body(block: str, rows: int, in_dim: int, width: int, depth: int) -> nn.Sequential:
    if block == "mlp":
        return enn.ensemble_mlp(rows, in_dim, [width] * depth)
    return enn.simba_encoder(rows, in_dim, width, depth)


class Actor(nn.Module):
    """Tanh-squashed Gaussian policy for M members: body -> (mean, log_std) heads, each (M, B, act_dim)."""

    def __init__(self, members: int, obs_dim: int, act_dim: int, width: int, depth: int, block: str):
        super().__init__()
        head_init = "torch" if block == "mlp" else "orthogonal"  # SimBa: orthogonal(1) policy heads
        self.body = _body(block, members, obs_dim, width, depth)
        self.mean = enn.EnsembleLinear(members, width, act_dim, init=head_init)
        self.log_std = enn.EnsembleLinear(members, width, act_dim, init=head_init)

    def forward(self, obs: Tensor) -> tuple[Tensor, Tensor]:
        h = self.body(obs)
        return self.mean(h).float(), self.log_std(h).float().clamp(LOG_STD_MIN, LOG_STD_MAX)

    def sample(self, obs: Tensor, noise: Tensor) -> tuple[Tensor, Tensor]:
        """Reparameterized action a = tanh(mean + std * noise) in [-1, 1] and its log-probability (M, B)."""
        mean, log_std = self(obs)
        u = mean + log_std.exp() * noise
        # log N(u; mean, std) - log|d tanh(u)/du|, with log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2u)),
        # the exact and numerically stable form of SB3's log(1 - tanh(u)^2 + 1e-6).
        log_prob = (-0.5 * noise.square() - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
        log_prob = log_prob - (2 * (math.log(2) - u - F.softplus(-2 * u))).sum(-1)
        return torch.tanh(u), log_prob


class TwinCritic(nn.Module):
    """Two Q-networks per member, held as one ensemble of 2M rows (member i owns rows 2i and 2i+1)."""

    def __init__(self, members: int, obs_dim: int, act_dim: int, width: int, depth: int, block: str):
        super().__init__()
        head_init = "torch" if block == "mlp" else "orthogonal"  # SimBa: orthogonal(1) LinearCritic
        self.body = _body(block, 2 * members, obs_dim + act_dim, width, depth)
        self.head = enn.EnsembleLinear(2 * members, width, 1, init=head_init)

    def forward(self, obs: Tensor, act: Tensor) -> Tensor:
        """Q-values of shape (M, 2, B) for obs (M, B, obs_dim) and actions (M, B, act_dim) in [-1, 1]."""
        x = torch.cat([obs, act], dim=-1)
        m, b, d = x.shape
        x = x.unsqueeze(1).expand(m, 2, b, d).reshape(2 * m, b, d)
        return self.head(self.body(x)).float().view(m, 2, b)


class Agent(nn.Module):
    """All trainable state of the ensemble: actor, twin critics and their targets, log temperature, and
    (block="simba") the observation statistics."""

    def __init__(self, cfg: Config, seeds: Sequence[int], obs_dim: int, act_dim: int):
        super().__init__()
        m = len(seeds)
        self.members, self.precision = m, cfg.precision
        self.actor = Actor(m, obs_dim, act_dim, cfg.actor_width, cfg.actor_depth, cfg.block)
        self.critic = TwinCritic(m, obs_dim, act_dim, cfg.critic_width, cfg.critic_depth, cfg.block)
        enn.init_members(self.actor, enn.member_generators([derive_seed(s, "init/actor") for s in seeds]))
        enn.init_members(self.critic, enn.member_generators([derive_seed(s, "init/critic") for s in seeds]))
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.log_alpha = nn.Parameter(torch.full((m,), math.log(cfg.init_alpha)))
        self.obs_rms = enn.RunningMeanStd(m, obs_dim) if cfg.block == "simba" else None

    def normalize(self, obs: Tensor) -> Tensor:
        return obs if self.obs_rms is None else self.obs_rms.normalize(obs)

    @torch.no_grad()
    def act(self, obs: Tensor, noise: Tensor | None = None) -> Tensor:
        """Actions in [-1, 1] of shape (M, B, act_dim): sampled with ``noise``, or tanh(mean) if None."""
        obs = self.normalize(obs)
        with compute.autocast(self.precision, obs.device):
            if noise is None:
                return torch.tanh(self.actor(obs)[0])
            return self.actor.sample(obs, noise)[0]


# --- replay --------------------------------------------------------------------------------------------

class ReplayBuffer:
    """M circular replay buffers in one tensor (M, capacity, fields); member i samples only its own rows.

    A row is [obs | action in [-1, 1] | reward | terminated | next_obs]. ``next_obs`` is the observation
    the env returned, also when the episode was truncated (the reset observation is never stored as a
    successor), and ``terminated`` excludes truncation, so the target bootstraps through time limits.
    """

    def __init__(self, members: int, capacity: int, obs_dim: int, act_dim: int, device: str):
        self.obs_dim, self.act_dim, self.capacity = obs_dim, act_dim, capacity
        self.data = torch.zeros(members, capacity, 2 * obs_dim + act_dim + 2, device=device)
        self.offsets = torch.arange(members, device=device).unsqueeze(1) * capacity
        self.pos = self.size = 0

    def add(self, obs: np.ndarray, act: np.ndarray, rew: np.ndarray, terminated: np.ndarray,
            next_obs: np.ndarray) -> None:
        row = np.concatenate([obs, act, rew[:, None], terminated[:, None], next_obs], axis=1)
        self.data[:, self.pos] = torch.as_tensor(row, dtype=torch.float32)
        self.pos = (self.pos + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, uniform: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """Minibatches (M, B, ...) at indices floor(uniform * size), uniform (M, B) float64 in [0, 1)."""
        idx = (uniform * self.size).long().clamp_(max=self.size - 1) + self.offsets
        m, b = uniform.shape
        batch = self.data.view(-1, self.data.shape[-1]).index_select(0, idx.view(-1)).view(m, b, -1)
        o, a = self.obs_dim, self.act_dim
        return (batch[..., :o], batch[..., o:o + a], batch[..., o + a], batch[..., o + a + 1],
                batch[..., o + a + 2:])


# --- one gradient update -------------------------------------------------------------------------------

@dataclass
class Optimizers:
    actor: compute.FusedEnsembleAdam
    critic: compute.FusedEnsembleAdam
    alpha: compute.FusedEnsembleAdam

    @classmethod
    def of(cls, agent: Agent, cfg: Config) -> "Optimizers":
        m, adam = agent.members, compute.FusedEnsembleAdam
        return cls(actor=adam(agent.actor.parameters(), m, lr=cfg.actor_lr, weight_decay=cfg.weight_decay),
                   critic=adam(agent.critic.parameters(), m, lr=cfg.critic_lr, weight_decay=cfg.weight_decay),
                   alpha=adam([agent.log_alpha], m, lr=cfg.alpha_lr))

    def restored(self, members: int) -> "Optimizers":
        """After unpickling: torch's Optimizer pickles its state and groups only, not ``members``."""
        for o in (self.actor, self.critic, self.alpha):
            o.members = members
        return self


def update(agent: Agent, opt: Optimizers, batch: tuple[Tensor, ...], noise: Tensor, cfg: Config,
           target_entropy: float, frozen: list[int], on_nonfinite: Callable[[Tensor], None]) -> Tensor:
    """One SAC gradient step for every member (SB3 ``SAC.train`` order); returns the critic loss (M,).

    ``noise`` (M, 2, B, act_dim): standard normal draws for the policy at s and at s'. ``frozen``: members
    left untouched. ``on_nonfinite(losses)`` is called (and may extend ``frozen``) whenever some member's
    loss is NaN or infinite, before any optimizer step uses that loss.
    """
    m = agent.members
    obs, act, rew, term, next_obs = batch
    obs, next_obs = agent.normalize(obs), agent.normalize(next_obs)
    precision = compute.autocast(agent.precision, obs.device)  # networks only; their outputs are float32

    # Policy at s (kept for the actor loss) and the temperature loss. alpha is the value before its step.
    with precision:
        pi, log_prob = agent.actor.sample(obs, noise[:, 0])
    alpha = agent.log_alpha.detach().exp().unsqueeze(1)  # (M, 1)
    alpha_loss = -(agent.log_alpha.unsqueeze(1) * (log_prob + target_entropy).detach()).mean(1)

    # Soft clipped double-Q target; bootstrap unless the episode *terminated* (truncation bootstraps).
    with torch.no_grad():
        with precision:
            next_a, next_log_prob = agent.actor.sample(next_obs, noise[:, 1])
            next_q = agent.critic_target(next_obs, next_a).min(dim=1).values - alpha * next_log_prob
        target_q = rew + cfg.gamma * (1.0 - term) * next_q  # (M, B)
    with precision:
        q = agent.critic(obs, act)  # (M, 2, B)
    critic_loss = 0.5 * (q - target_q.unsqueeze(1)).square().mean(2).sum(1)  # SB3: 0.5 * sum of MSEs

    losses = torch.stack([alpha_loss, critic_loss], dim=1)
    if not bool(torch.isfinite(losses).all()):
        on_nonfinite(losses)

    opt.alpha.zero_grad()
    alpha_loss.sum().backward()
    opt.alpha.step(frozen=frozen)

    opt.critic.zero_grad()
    critic_loss.sum().backward()
    if cfg.max_grad_norm is not None:
        enn.clip_grad_norm_(agent.critic.parameters(), cfg.max_grad_norm, m)
    opt.critic.step(frozen=frozen)

    # Actor loss against the freshly updated critics (no gradient into the critic parameters).
    agent.critic.requires_grad_(False)
    with precision:
        q_pi = agent.critic(obs, pi).min(dim=1).values
    agent.critic.requires_grad_(True)
    actor_loss = (alpha * log_prob - q_pi).mean(1)
    if not bool(torch.isfinite(actor_loss).all()):
        on_nonfinite(actor_loss)
    opt.actor.zero_grad()
    actor_loss.sum().backward()
    if cfg.max_grad_norm is not None:
        enn.clip_grad_norm_(agent.actor.parameters(), cfg.max_grad_norm, m)
    opt.actor.step(frozen=frozen)

    enn.polyak_update_(list(agent.critic_target.parameters()), list(agent.critic.parameters()), cfg.tau,
                       m, frozen=frozen)
    return critic_loss.detach()


# --- training ------------------------------------------------------------------------------------------

def check_config(cfg: Config) -> None:
    """Raise a ValueError that says which field is wrong and what it accepts."""
    if cfg.block not in BLOCKS:
        raise ValueError(f"Config.block must be one of {BLOCKS}, got {cfg.block!r}")
    compute.check_precision(cfg.precision)
    for name in ("steps", "eval_every", "eval_episodes", "batch_size", "utd", "buffer_size", "critic_width",
                 "critic_depth", "actor_width", "actor_depth"):
        if getattr(cfg, name) < 1:
            raise ValueError(f"Config.{name} must be >= 1, got {getattr(cfg, name)}")
    if cfg.learning_starts < 0 or cfg.init_alpha <= 0 or not 0 < cfg.tau <= 1 or not 0 <= cfg.gamma <= 1:
        raise ValueError(f"need learning_starts >= 0, init_alpha > 0, 0 < tau <= 1, 0 <= gamma <= 1; got "
                         f"{cfg.learning_starts}, {cfg.init_alpha}, {cfg.tau}, {cfg.gamma}")


@trainer
def train(cfg: Config, seeds: Sequence[int], device: str = "cpu",
          progress: Callable[[int, int, float | None], None] | None = None) -> RunResult:
    """Train one SAC member per seed, all as one ensemble; one MemberResult per seed, in order.

    progress(env_steps_done, env_steps_total, recent_return) is called every few hundred env steps
    (steps per member; recent_return is the mean of the members' last finished training episodes);
    without it, the harness's sink (``harness.result.report_progress``) is used.
    """
    return train_agent(cfg, seeds, device, progress)[0]


def train_agent(cfg: Config, seeds: Sequence[int], device: str = "cpu",
                progress: Callable[[int, int, float | None], None] | None = None) -> tuple[RunResult, Agent]:
    """``train``, also returning the trained ensemble (tests compare members' parameters)."""
    check_config(cfg)
    seeds = [int(s) for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct and non-empty, got {seeds}")
    progress = progress or report_progress
    start = time.perf_counter()
    m = len(seeds)

    envs = [make_env(cfg.env_id, s) for s in seeds]
    obs_space, act_space = envs[0].observation_space, envs[0].action_space
    if not (isinstance(act_space, gym.spaces.Box) and isinstance(obs_space, gym.spaces.Box)
            and len(obs_space.shape) == 1 and len(act_space.shape) == 1):
        raise ValueError(f"SAC needs 1-D Box observation and action spaces; {cfg.env_id} has "
                         f"{obs_space} and {act_space}")
    obs_dim, act_dim = obs_space.shape[0], act_space.shape[0]
    low, high = act_space.low.astype(np.float64), act_space.high.astype(np.float64)
    target_entropy = float(-act_dim if cfg.target_entropy is None else cfg.target_entropy)

    agent = Agent(cfg, seeds, obs_dim, act_dim).to(device)
    opt = Optimizers.of(agent, cfg)
    buffer = ReplayBuffer(m, min(cfg.buffer_size, cfg.steps), obs_dim, act_dim, device)
    explore_noise = enn.MemberSampler([derive_seed(s, "explore") for s in seeds], (1, act_dim), device=device)
    update_noise = enn.MemberSampler([derive_seed(s, "update") for s in seeds], (2, cfg.batch_size, act_dim),
                                     device=device, chunk=32)
    replay_uniform = enn.MemberSampler([derive_seed(s, "replay") for s in seeds], (cfg.batch_size,),
                                       kind="uniform", dtype=torch.float64, device=device, chunk=64)

    frozen: list[int] = []  # diverged members, in the order they diverged; see the module docstring
    diverged_step: dict[int, int] = {}
    live = list(range(m))
    env_steps = np.zeros(m, dtype=np.int64)
    updates = np.zeros(m, dtype=np.int64)
    curve_steps: list[int] = []
    curve_returns: list[np.ndarray] = []
    episode_return = np.zeros(m)
    last_episode_return = np.full(m, np.nan)

    def on_nonfinite(losses: Tensor) -> None:  # freeze every member whose loss is not finite
        for i in enn.nonfinite_members([losses], m).nonzero().flatten().tolist():
            if i not in diverged_step:
                frozen.append(i)
                live.remove(i)
                diverged_step[i] = step

    def evaluate_live() -> np.ndarray:  # deterministic policy, (M,) returns, NaN for diverged members
        returns = np.full(m, np.nan)
        if live:
            def act(o: np.ndarray) -> np.ndarray:
                full = torch.zeros(m, 1, obs_dim, device=device)
                full[live, 0] = torch.as_tensor(o, dtype=torch.float32, device=device)
                return _to_env(agent.act(full)[live, 0].cpu().numpy(), low, high)
            returns[live] = evaluate(act, cfg.env_id, [seeds[i] for i in live], cfg.eval_episodes)
        return returns

    ckpt = checkpoint.current()
    state = ckpt.load()
    if state is None:
        # step 0: the untrained policy, with the same protocol as every later evaluation (deterministic policy,
        # the "eval" episodes); it draws from no training stream, so training is the same with or without it
        curve_steps.append(0)
        curve_returns.append(evaluate_live())
        n_updates, first = 0, 1
        obs = np.stack([env.reset()[0] for env in envs]).astype(np.float32)
    else:  # resume: every object that carries state, as it was after env step state["step"]
        envs = [restore_env(env, snapshot) for env, snapshot in zip(envs, state["envs"])]
        (agent, opt, buffer, explore_noise, update_noise, replay_uniform, frozen, diverged_step, live, env_steps,
         updates, curve_steps, curve_returns, episode_return, last_episode_return, obs, n_updates) = (
            state[k] for k in RESUMABLE)
        opt.restored(m)
        start, first = time.perf_counter() - state["elapsed"], state["step"] + 1
    resumable = all(env_snapshot(env) is not None for env in envs)
    if ckpt.path is not None and not resumable:
        print(f"SAC cannot checkpoint {cfg.env_id} (its env pickles without its state): this unit saves no "
              "checkpoint and restarts from scratch if interrupted", file=sys.stderr)
    for step in range(first, cfg.steps + 1):  # ``step`` counts env steps of each live member, this one included
        if agent.obs_rms is not None:
            agent.obs_rms.update(torch.as_tensor(obs, device=device), frozen=frozen)
        if step <= cfg.learning_starts:  # warm-up: uniform actions from each env's seeded action space
            action = np.stack([_to_unit(env.action_space.sample(), low, high) for env in envs])
        else:
            obs_t = torch.as_tensor(obs, device=device).unsqueeze(1)
            action = agent.act(obs_t, explore_noise())[:, 0].cpu().numpy().astype(np.float64)
        next_obs, reward, terminated, obs_after, finished = step_envs(
            envs, _to_env(action, low, high), obs, live, episode_return)
        for i, ret in finished.items():
            last_episode_return[i] = ret
        buffer.add(obs, action, reward, terminated, next_obs)
        obs = obs_after
        env_steps[live] += 1

        if step > cfg.learning_starts:  # as SB3: update once num_timesteps > learning_starts
            for _ in range(cfg.utd):
                n_updates += 1
                if cfg._inject_nan_at is not None and cfg._inject_nan_at[1] == n_updates:
                    with torch.no_grad():
                        enn.member_rows(agent.critic.body[0].weight, cfg._inject_nan_at[0], m).fill_(math.nan)
                batch = buffer.sample(replay_uniform())
                update(agent, opt, batch, update_noise(), cfg, target_entropy, frozen, on_nonfinite)
                updates[live] += 1

        if step % cfg.eval_every == 0 or step == cfg.steps:
            curve_steps.append(step)
            curve_returns.append(evaluate_live())
        if step % 250 == 0 or step == cfg.steps:
            recent = last_episode_return[np.isfinite(last_episode_return)]
            progress(step, cfg.steps, float(recent.mean()) if recent.size else None)
        if resumable and step < cfg.steps and ckpt.due():
            here = locals()
            ckpt.save({"step": step, "elapsed": time.perf_counter() - start, "envs": [env_snapshot(e) for e in envs],
                       **{k: here[k] for k in RESUMABLE}})

    for env in envs:
        env.close()
    wall = time.perf_counter() - start

    n_actor = enn.count_params(agent.actor, m)
    n_critic = enn.count_params(agent.critic, m)
    params = {"actor": n_actor, "critic": n_critic, "total": n_actor + n_critic}
    curves = np.stack(curve_returns, axis=1)  # (M, evaluations)
    alphas = agent.log_alpha.detach().exp().cpu().tolist()
    members = []
    for i, seed in enumerate(seeds):
        returns = [float(v) for v in curves[i]]
        members.append(MemberResult(
            seed=seed, metrics=curve_metrics(returns), curve_steps=list(curve_steps), curve_returns=returns,
            initial=untrained_metrics(returns), diverged=i in diverged_step, diverged_step=diverged_step.get(i),
            env_steps=int(env_steps[i]), updates=int(updates[i]), params=params,
            flops=training_flops(params["total"], trained=cfg.batch_size * float(updates[i])),
            wall_time=wall / m, extra={"alpha": alphas[i]}))
    return RunResult(members=members, config=asdict(cfg), device=str(device)), agent


RESUMABLE = ("agent", "opt", "buffer", "explore_noise", "update_noise", "replay_uniform", "frozen", "diverged_step",
             "live", "env_steps", "updates", "curve_steps", "curve_returns", "episode_return", "last_episode_return",
             "obs", "n_updates")
"""What a checkpoint holds besides the env step, the elapsed time and the training envs' snapshots."""


def env_snapshot(env: gym.Env) -> dict | gym.Env | None:
    """What a checkpoint keeps of a training env, so that it continues bit for bit; None if it cannot.

    A MuJoCo env pickles as its constructor's arguments (gymnasium's ``EzPickle``), without its physics, so
    it is kept as its full integration state (``mujoco.mj_getState``, warm start included), its time-limit
    counter and its two random generators (resets and ``action_space.sample``). Any other env that is not
    ``EzPickle`` pickles whole (classic control); one that is (Box2D) cannot be checkpointed.
    """
    base = env.unwrapped
    if isinstance(base, MujocoEnv):
        physics = np.empty(mujoco.mj_stateSize(base.model, mujoco.mjtState.mjSTATE_INTEGRATION))
        mujoco.mj_getState(base.model, base.data, physics, mujoco.mjtState.mjSTATE_INTEGRATION)
        limit = _time_limit(env)
        return {"physics": physics, "episode_steps": None if limit is None else limit._elapsed_steps,
                "np_random": base.np_random, "action_rng": env.action_space.np_random}
    return None if isinstance(base, gym.utils.EzPickle) else env


def restore_env(env: gym.Env, snapshot: dict | gym.Env) -> gym.Env:
    """Set a fresh ``make_env`` env of the same id to ``snapshot`` (``env_snapshot``); returns the env to use."""
    if not isinstance(snapshot, dict):
        env.close()
        return snapshot
    base = env.unwrapped
    mujoco.mj_setState(base.model, base.data, snapshot["physics"], mujoco.mjtState.mjSTATE_INTEGRATION)
    if (limit := _time_limit(env)) is not None:
        limit._elapsed_steps = snapshot["episode_steps"]
    base.np_random = snapshot["np_random"]
    env.action_space._np_random = snapshot["action_rng"]
    return env


def _time_limit(env: gym.Env) -> gym.wrappers.TimeLimit | None:
    while isinstance(env, gym.Wrapper):
        if isinstance(env, gym.wrappers.TimeLimit):
            return env
        env = env.env
    return None


def step_envs(envs: Sequence[gym.Env], env_action: np.ndarray, obs: np.ndarray, live: Sequence[int],
              episode_return: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[int, float]]:
    """Step the ``live`` members' envs once; the others (diverged members) stand still.

    Returns (next_obs, reward, terminated, obs_after, finished). ``next_obs`` is what each env returned,
    also at a time limit; ``terminated`` is 1.0 only for a true terminal state (a truncated episode is
    not terminal, so the target bootstraps through it); ``obs_after`` is the observation to act on next
    (``next_obs``, or the reset observation where the episode ended); ``finished`` maps each member whose
    episode ended to its undiscounted return. ``episode_return`` (M,) accumulates rewards in place.
    """
    m = len(envs)
    next_obs, obs_after = obs.copy(), obs.copy()
    reward = np.zeros(m, dtype=np.float32)
    terminated = np.zeros(m, dtype=np.float32)
    finished: dict[int, float] = {}
    for i in live:
        o, r, term, trunc, _ = envs[i].step(env_action[i])
        next_obs[i] = obs_after[i] = o
        reward[i], terminated[i] = r, float(term)
        episode_return[i] += r
        if term or trunc:
            finished[i], episode_return[i] = float(episode_return[i]), 0.0
            obs_after[i] = envs[i].reset()[0]
    return next_obs, reward, terminated, obs_after, finished


def _to_env(action: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """[-1, 1] -> the env's action bounds (SB3 ``unscale_action``)."""
    return low + 0.5 * (action + 1.0) * (high - low)


def _to_unit(action: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """The env's action bounds -> [-1, 1] (SB3 ``scale_action``)."""
    return 2.0 * (action - low) / (high - low) - 1.0
