"""DQN on MinAtar, seed-vectorized: all seeds of a unit train as ONE batched ensemble in one process.

DQN (Mnih et al. 2015) as Young & Tian 2019 (MinAtar, arXiv:1903.03176) ran it, checked against their code
(``examples/dqn.py`` of kenjyoung/MinAtar): the network is one 3x3 convolution with 16 channels, stride 1,
no padding (10x10xC -> 8x8x16), ReLU, a dense hidden layer of 128 ReLU units and a linear Q-value output,
PyTorch's default initialization. Replay of the last 100k transitions, minibatches of 32, one update per
env step, a target network copied every 1000 updates, the Huber loss (``smooth_l1_loss``, beta 1),
centered RMSprop (lr 2.5e-4, squared-gradient smoothing 0.95, eps 0.01 added to the root, no momentum),
gamma 0.99; the first 5000 steps act uniformly at random and no update happens before step 5001, then
epsilon anneals linearly from 1.0 to 0.1 over the next 100k steps and stays at 0.1. Episodes end only
when the game does (``max_episode_steps`` adds a time limit; a truncated transition is not terminal, so the
target bootstraps through it). The paper used MinAtar's full action set (the ``-v0`` ids); the ``-v1``
ids have each game's minimal set. Evaluation is greedy (epsilon 0, MinAtar's sticky actions still apply)
on the harness's "eval" episodes (``harness.envs.evaluate``), at step 0 and every ``eval_every`` steps.

Options, all else fixed (``Config``):
  penultimate  "dense": the hidden layer above, of ``width`` units (the scaling axis).
               "softmoe": Soft MoE (Puigcerver et al. 2023, arXiv:2308.00951) in its place, as Obando-Ceron
               et al. 2024 (arXiv:2402.08609; google/dopamine ``labs/moes``) did: the conv output is
               tokenized per position (64 tokens of 16 features, their "PerConv"/PER_PIXEL), mixed into
               ``experts`` x ceil(64 / experts) slots (capacity factor 1) by a learned (16, slots) matrix,
               dispatch weights a softmax over tokens and combine weights a softmax over slots; each
               expert is Linear(16, width) -> ReLU -> Linear(width, 16) on its slots; the 64 output tokens
               are flattened into the Q head. ``width`` is each expert's hidden width: the dense baseline
               of an n-expert Soft MoE has width n x ``width`` (dopamine's ``scale_hidden_layer``).
               "tokenized": the same with one expert, scaled (Sokar et al. 2025, arXiv:2410.01930,
               "SoftMoE-1"): set ``width`` to the total hidden width it stands in for.
  loss         "huber" (the paper's), "mse" (0.5 x squared TD error, dopamine's), or "hlgauss"
               (Farebrother et al. 2024, arXiv:2403.03950): the head outputs, per action, logits over
               ``hl_bins`` equal bins of [v_min, v_max]; Q is the mean of that distribution; the loss is the
               cross-entropy to the scalar TD target (clipped to the support) smoothed by a Gaussian of
               standard deviation ``hl_sigma_ratio`` (0.75) x the bin width, integrated over each bin.
Departures, all of ours: Soft MoE and the HL-Gauss head use PyTorch's default initialization like the rest
of the network (dopamine: Xavier-uniform; the slot matrix here is N(0, 1/16), LeCun-normal), and without
Soft MoE's optional normalization (dopamine's default); the HL-Gauss support [-10, 100] in 110 bins of
width 1 is ours (MinAtar's rewards are 0 or +1 nearly always, so |Q| <= 1 / (1 - gamma) = 100).

Seed vectorization. M = len(seeds) members train side by side through ``harness.nn`` ensemble layers
(the convolution is an ensemble linear map over 3x3 patches, which is exactly ``nn.Conv2d`` with its
default initialization; Soft MoE's experts are M x experts ensemble rows, member i owning rows
[i * experts, (i + 1) * experts)). Each member has its own env ("env" stream: the game's randomness and
sticky actions), exploration stream ("explore": the epsilon test and the random action), replay buffer
and index stream ("replay"), weights ("init") and RMSprop state, so member i behaves as a run with seed i
alone would, to floating-point rounding of the batched matmuls. Evaluation draws from none of these streams,
so the step-0 evaluation leaves training unchanged.

Divergence. A member whose loss is not finite is frozen before the optimizer step that would use it: its
weights, target network and RMSprop state stay exactly as they were (``enn.preserve_members``), its env
stops (its ``env_steps`` stay at the step of divergence), its later evaluations are NaN and it is reported
with ``diverged=True``; nothing in an update mixes members, so the others continue bit-for-bit.
``Config._inject_nan_at`` tests this.

Speed. Denormal floats are flushed to zero while training (``torch.set_flush_denormal``, restored to torch's
default after): the RMSprop averages of weights whose gradient is always 0 (inputs that never fire) decay
into the denormal range, where CPU arithmetic is about 20x slower; this made whole runs 20-25% slower.

Compute. ``flops`` is the 6N rule of ``harness.agents.common.training_flops`` with N the multiply-
accumulates of one forward pass of one sample (``macs``), not the parameter count: the convolution applies
its weights at 64 positions and each expert to its slots, so parameters would undercount them. Per update:
forward+backward of the online network on the batch, forward of the target network on the next
observations; per env step after learning_starts: one acting forward.
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass
from typing import Sequence

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from harness import checkpoint
from harness import nn as enn
from harness.agents.common import training_flops
from harness.envs import derive_seed, evaluate, make_env
from harness.result import (AUC_RETURN, FINAL_RETURN, INITIAL_RETURN, MemberResult, RunResult, curve_metrics,
                            report_progress, trainer, untrained_metrics)

METRICS = (INITIAL_RETURN, FINAL_RETURN, AUC_RETURN)  # what a claim may test (checked at collection)
PENULTIMATE = ("dense", "softmoe", "tokenized")
LOSSES = ("huber", "mse", "hlgauss")
CONV_CHANNELS, POSITIONS = 16, 64  # the 3x3 conv's output: 8x8 positions of 16 channels (the Soft MoE tokens)


@dataclass(frozen=True)
class Config:
    """DQN settings: Young & Tian 2019's MinAtar DQN unless a field says otherwise (module docstring)."""

    env_id: str = "MinAtar/Breakout-v1"
    """A MinAtar game (10x10xC boolean observations); ``-v0`` is the paper's full action set of 6."""
    steps: int = 500_000
    """Environment steps per member (the paper: 5M frames)."""
    width: int = 128
    """Hidden units of the dense penultimate layer, or of each expert (softmoe, tokenized)."""
    penultimate: str = "dense"
    """"dense", "softmoe" or "tokenized" (one expert); see the module docstring."""
    experts: int = 1
    """Soft MoE experts (penultimate="softmoe"; the others have 1)."""
    loss: str = "huber"
    """"huber", "mse" or "hlgauss" (a categorical Q head; see the module docstring)."""
    hl_bins: int = 110
    """HL-Gauss: bins of the support (ours)."""
    v_min: float = -10.0
    """HL-Gauss: lower end of the support (ours)."""
    v_max: float = 100.0
    """HL-Gauss: upper end of the support (ours)."""
    hl_sigma_ratio: float = 0.75
    """HL-Gauss: the Gaussian's standard deviation over the bin width (Farebrother et al. 2024)."""
    buffer_size: int = 100_000
    batch_size: int = 32
    lr: float = 2.5e-4
    """Centered RMSprop step size (smoothing 0.95 and eps 0.01 are fixed: ``RMS_ALPHA``, ``RMS_EPS``)."""
    gamma: float = 0.99
    target_update: int = 1000
    """Copy the online network into the target network every this many updates."""
    learning_starts: int = 5000
    """Env steps of uniformly random actions before the first update (the paper's replay start size)."""
    eps_end: float = 0.1
    """Epsilon after the decay (from 1.0)."""
    eps_decay: int = 100_000
    """Env steps over which epsilon falls linearly from 1.0 to eps_end, counted from learning_starts."""
    eval_every: int = 50_000
    """Evaluate the greedy policy every this many env steps (and at the end); also at step 0, untrained."""
    eval_episodes: int = 10
    max_episode_steps: int | None = None
    """Time limit of training and evaluation episodes (None: none, as the paper; a Breakout player who never
    misses plays forever, so claims on long runs set one)."""
    _inject_nan_at: tuple[int, int] | None = None
    """Testing only: (member index, update) whose loss is replaced by NaN."""

    def __post_init__(self) -> None:
        if not self.env_id.startswith("MinAtar/"):
            raise ValueError(f"DQN Config.env_id must be a MinAtar game (10x10xC observations), e.g. "
                             f"'MinAtar/Breakout-v1'; got {self.env_id!r}")
        if self.penultimate not in PENULTIMATE:
            raise ValueError(f"DQN Config.penultimate must be one of {PENULTIMATE}, got {self.penultimate!r}")
        if self.loss not in LOSSES:
            raise ValueError(f"DQN Config.loss must be one of {LOSSES}, got {self.loss!r}")
        if self.experts != 1 and self.penultimate != "softmoe":
            raise ValueError(f"DQN Config.experts is for penultimate='softmoe'; {self.penultimate!r} has one "
                             f"(got experts={self.experts})")
        for name in ("steps", "width", "experts", "buffer_size", "batch_size", "target_update", "eps_decay",
                     "eval_every", "eval_episodes", "hl_bins"):
            if getattr(self, name) < 1:
                raise ValueError(f"DQN Config.{name} must be >= 1, got {getattr(self, name)}")
        if self.learning_starts < 0 or self.lr < 0 or not 0 <= self.gamma <= 1:
            raise ValueError(f"DQN Config needs learning_starts >= 0, lr >= 0, 0 <= gamma <= 1; got "
                             f"{self.learning_starts}, {self.lr}, {self.gamma}")
        if not 0 <= self.eps_end <= 1:
            raise ValueError(f"DQN Config.eps_end must lie in [0, 1], got {self.eps_end}")
        if self.v_max <= self.v_min or self.hl_sigma_ratio <= 0 or self.hl_bins < 2:
            raise ValueError(f"DQN Config needs v_min < v_max, hl_sigma_ratio > 0 and hl_bins >= 2; got "
                             f"{self.v_min}, {self.v_max}, {self.hl_sigma_ratio}, {self.hl_bins}")

    def epsilon(self, step: int) -> float:
        """Exploration rate of env step ``step`` (1-based): 1 up to learning_starts + 1, then linear."""
        frac = min(1.0, max(0, step - 1 - self.learning_starts) / self.eps_decay)
        return 1.0 + frac * (self.eps_end - 1.0)


RMS_ALPHA, RMS_EPS = 0.95, 0.01  # Young & Tian's SQUARED_GRAD_MOMENTUM and MIN_SQUARED_GRAD


# --- networks ------------------------------------------------------------------------------------------

class SoftMoE(nn.Module):
    """Soft MoE over tokens (M, B, T, d) -> (M, B, T, d): ``experts`` MLPs d -> width -> d per member."""

    def __init__(self, members: int, tokens: int, dim: int, experts: int, width: int):
        super().__init__()
        self.experts, self.slots = experts, math.ceil(tokens / experts)  # capacity factor 1, as dopamine
        self.phi = nn.Parameter(torch.empty(members, dim, experts * self.slots))
        self.up = enn.EnsembleLinear(members * experts, dim, width)
        self.down = enn.EnsembleLinear(members * experts, width, dim)

    @torch.no_grad()
    def reset_phi(self, generators: Sequence[torch.Generator]) -> None:
        for i, g in enumerate(generators):  # LeCun normal: std 1 / sqrt(token dim)
            self.phi[i].normal_(0.0, 1.0 / math.sqrt(self.phi.shape[1]), generator=g)

    def forward(self, x: Tensor) -> Tensor:
        m, b, t, d = x.shape
        logits = torch.matmul(x, self.phi.unsqueeze(1))  # (M, B, T, S)
        dispatch = logits.softmax(dim=2)  # each slot: a convex combination of the tokens
        combine = logits.softmax(dim=3)  # each output token: a convex combination of the slots
        slots = dispatch.transpose(2, 3) @ x  # (M, B, S, d)
        e, p = self.experts, self.slots
        slots = slots.view(m, b, e, p, d).transpose(1, 2).reshape(m * e, b * p, d)
        y = self.down(F.relu(self.up(slots)))  # expert j of member i on its own p slots
        y = y.view(m, e, b, p, d).transpose(1, 2).reshape(m, b, e * p, d)
        return combine @ y


class QNetwork(nn.Module):
    """M MinAtar Q-networks: observations (M, B, 10, 10, C) -> Q-values (M, B, A), or with ``bins`` > 1
    logits (M, B, A, bins) of the HL-Gauss head."""

    def __init__(self, cfg: Config, seeds: Sequence[int], channels: int, actions: int):
        super().__init__()
        m = len(seeds)
        self.actions, self.bins = actions, cfg.hl_bins if cfg.loss == "hlgauss" else 1
        self.conv = enn.EnsembleLinear(m, 9 * channels, CONV_CHANNELS)  # = nn.Conv2d(C, 16, 3) and its init
        features = POSITIONS * CONV_CHANNELS
        if cfg.penultimate == "dense":
            self.hidden = enn.EnsembleLinear(m, features, cfg.width)
            self.moe = None
            head_in = cfg.width
        else:
            self.hidden = None
            self.moe = SoftMoE(m, POSITIONS, CONV_CHANNELS, cfg.experts, cfg.width)
            head_in = features
        self.head = enn.EnsembleLinear(m, head_in, actions * self.bins)
        gens = enn.member_generators([derive_seed(s, "init/q") for s in seeds])
        enn.init_members(self, gens)
        if self.moe is not None:
            self.moe.reset_phi(gens)

    def forward(self, obs: Tensor) -> Tensor:
        m, b = obs.shape[:2]
        patches = obs.unfold(2, 3, 1).unfold(3, 3, 1)  # (M, B, 8, 8, C, 3, 3): Conv2d's (C, kh, kw) order
        x = F.relu(self.conv(patches.reshape(m, b * POSITIONS, -1)))
        if self.moe is None:
            h = F.relu(self.hidden(x.view(m, b, -1)))
        else:
            h = self.moe(x.view(m, b, POSITIONS, CONV_CHANNELS)).reshape(m, b, -1)
        out = self.head(h)
        return out if self.bins == 1 else out.view(m, b, self.actions, self.bins)

    def param_counts(self, members: int) -> dict[str, int]:
        """Trainable parameters of one member, by part."""
        counts = {"conv": enn.count_params(self.conv, members), "head": enn.count_params(self.head, members),
                  "penultimate": enn.count_params(self.hidden if self.moe is None else self.moe, members)}
        return {**counts, "total": sum(counts.values())}

    def macs(self) -> int:
        """Multiply-accumulates of one forward pass of one sample (one member)."""
        conv = POSITIONS * self.conv.in_features * CONV_CHANNELS
        head = self.head.in_features * self.head.out_features
        if self.moe is None:
            return conv + self.hidden.in_features * self.hidden.out_features + head
        d, s, w = CONV_CHANNELS, self.moe.phi.shape[-1], self.moe.up.out_features
        routing = 3 * POSITIONS * d * s  # logits, dispatch and combine
        return conv + routing + s * 2 * d * w + head


class HLGauss:
    """The categorical head's support and its two maps (Farebrother et al. 2024, their Listing 1)."""

    def __init__(self, v_min: float, v_max: float, bins: int, sigma_ratio: float, device: str | torch.device):
        self.edges = torch.linspace(v_min, v_max, bins + 1, device=device)
        self.centers = (self.edges[:-1] + self.edges[1:]) / 2
        self.sigma = sigma_ratio * (v_max - v_min) / bins

    def probs(self, target: Tensor) -> Tensor:
        """(...,) scalar targets -> (..., bins): the Gaussian's mass in each bin, renormalized to the support."""
        y = target.clamp(float(self.edges[0]), float(self.edges[-1])).unsqueeze(-1)
        cdf = torch.special.erf((self.edges - y) / (math.sqrt(2.0) * self.sigma))
        return (cdf[..., 1:] - cdf[..., :-1]) / (cdf[..., -1:] - cdf[..., :1])

    def mean(self, logits: Tensor) -> Tensor:
        return (logits.softmax(-1) * self.centers).sum(-1)


def q_values(net: QNetwork, hl: HLGauss | None, obs: Tensor) -> Tensor:
    """(M, B, A) Q-values, whatever the head."""
    out = net(obs)
    return out if hl is None else hl.mean(out)


def parameters(cfg: Config) -> int:
    """Trainable parameters of one member for ``cfg``'s game and network."""
    env = make_env(cfg.env_id, 0)
    net = QNetwork(cfg, [0], env.observation_space.shape[-1], int(env.action_space.n))
    env.close()
    return net.param_counts(1)["total"]


# --- optimizer and replay ------------------------------------------------------------------------------

class EnsembleRMSprop:
    """``torch.optim.RMSprop(lr, alpha, eps, centered=True)`` (no momentum) over ensemble parameters.

    The same operations in the same order as torch's single-tensor implementation; elementwise, so it is
    exactly M independent optimizers; ``step(frozen)`` leaves the frozen members' rows of the parameters and
    of both running averages as they were.
    """

    def __init__(self, params: Sequence[Tensor], members: int, lr: float, alpha: float = RMS_ALPHA,
                 eps: float = RMS_EPS):
        self.params, self.members, self.lr, self.alpha, self.eps = list(params), members, lr, alpha, eps
        self.square_avg = [torch.zeros_like(p) for p in self.params]
        self.grad_avg = [torch.zeros_like(p) for p in self.params]

    @torch.no_grad()
    def step(self, frozen: Sequence[int] = ()) -> None:
        grads = [p.grad for p in self.params]
        with enn.preserve_members(self.params + self.square_avg + self.grad_avg, frozen, self.members):
            torch._foreach_mul_(self.square_avg, self.alpha)
            torch._foreach_addcmul_(self.square_avg, grads, grads, 1 - self.alpha)
            torch._foreach_lerp_(self.grad_avg, grads, 1 - self.alpha)
            avg = torch._foreach_addcmul(self.square_avg, self.grad_avg, self.grad_avg, -1)
            torch._foreach_sqrt_(avg)
            torch._foreach_add_(avg, self.eps)
            torch._foreach_addcdiv_(self.params, grads, avg, -self.lr)


class ReplayBuffer:
    """M circular buffers of (obs, action, reward, terminated, next_obs); member i samples its own rows.

    Observations are stored as booleans (MinAtar's), ``next_obs`` is what the env returned also at a time
    limit, and ``terminated`` excludes truncation.
    """

    def __init__(self, members: int, capacity: int, obs_shape: Sequence[int], device: str | torch.device):
        self.capacity, self.pos, self.size = capacity, 0, 0
        self.obs = torch.zeros(members, capacity, *obs_shape, dtype=torch.bool, device=device)
        self.next_obs = torch.zeros_like(self.obs)
        self.action = torch.zeros(members, capacity, dtype=torch.long, device=device)
        self.reward = torch.zeros(members, capacity, device=device)
        self.terminated = torch.zeros(members, capacity, device=device)
        self.rows = torch.arange(members, device=device).unsqueeze(1)

    def add(self, obs: np.ndarray, action: np.ndarray, reward: np.ndarray, terminated: np.ndarray,
            next_obs: np.ndarray) -> None:
        p = self.pos
        self.obs[:, p] = torch.as_tensor(obs)
        self.next_obs[:, p] = torch.as_tensor(next_obs)
        self.action[:, p] = torch.as_tensor(action)
        self.reward[:, p] = torch.as_tensor(reward)
        self.terminated[:, p] = torch.as_tensor(terminated)
        self.pos, self.size = (p + 1) % self.capacity, min(self.size + 1, self.capacity)

    def sample(self, uniform: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """Minibatches (M, B, ...) at indices floor(uniform * size), uniform (M, B) float64 in [0, 1)."""
        idx = (uniform * self.size).long().clamp_(max=self.size - 1)
        r = self.rows
        return (self.obs[r, idx].float(), self.action[r, idx], self.reward[r, idx], self.terminated[r, idx],
                self.next_obs[r, idx].float())


# --- one update ----------------------------------------------------------------------------------------

def td_loss(net: QNetwork, target: QNetwork, hl: HLGauss | None, batch: tuple[Tensor, ...], cfg: Config) -> Tensor:
    """Per-member DQN loss (M,) on a minibatch: mean over the batch of the chosen loss against
    r + gamma * (1 - terminated) * max_a' Q_target(s', a')."""
    obs, action, reward, terminated, next_obs = batch
    with torch.no_grad():
        next_q = q_values(target, hl, next_obs).max(-1).values
        y = reward + cfg.gamma * (1.0 - terminated) * next_q  # (M, B)
    m, b = action.shape
    rows, cols = torch.arange(m, device=action.device).unsqueeze(1), torch.arange(b, device=action.device)
    chosen = net(obs)[rows, cols, action]  # (M, B), or (M, B, bins) for HL-Gauss
    if cfg.loss == "huber":
        return F.smooth_l1_loss(chosen, y, reduction="none").mean(1)
    if cfg.loss == "mse":
        return 0.5 * (chosen - y).square().mean(1)
    return -(hl.probs(y) * chosen.log_softmax(-1)).sum(-1).mean(1)


# --- training ------------------------------------------------------------------------------------------

RESUMABLE = ("envs", "obs", "net", "target", "opt", "buffer", "explore", "replay_uniform", "frozen", "live",
             "diverged_step", "env_steps", "updates", "curve_steps", "curve_returns", "episode_return",
             "last_return", "loss_sum", "loss_count", "n_updates")
"""What a checkpoint holds besides the step and the elapsed time: every object that carries training state."""

@trainer
def train(cfg: Config, seeds: Sequence[int], device: str = "cpu") -> RunResult:
    """Train one DQN member per seed, as one ensemble; returns one MemberResult per seed, in order."""
    return train_agent(cfg, seeds, device)[0]


def train_agent(cfg: Config, seeds: Sequence[int], device: str = "cpu") -> tuple[RunResult, QNetwork]:
    """``train``, also returning the trained online ensemble (tests compare members' parameters)."""
    torch.set_flush_denormal(True)  # see the module docstring, "Speed"
    try:
        return _train(cfg, seeds, device)
    finally:
        torch.set_flush_denormal(False)  # torch's default


def _train(cfg: Config, seeds: Sequence[int], device: str) -> tuple[RunResult, QNetwork]:
    seeds = [int(s) for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct and non-empty, got {seeds}")
    start = time.perf_counter()
    m = len(seeds)
    limit = {} if cfg.max_episode_steps is None else {"max_episode_steps": cfg.max_episode_steps}
    envs = [make_env(cfg.env_id, s, **limit) for s in seeds]
    obs_shape, n_actions = envs[0].observation_space.shape, int(envs[0].action_space.n)
    if len(obs_shape) != 3 or obs_shape[:2] != (10, 10) or not isinstance(envs[0].action_space, gym.spaces.Discrete):
        raise ValueError(f"DQN needs 10x10xC observations and discrete actions; {cfg.env_id} has "
                         f"{envs[0].observation_space} and {envs[0].action_space}")
    dev = torch.device(device)
    hl = HLGauss(cfg.v_min, cfg.v_max, cfg.hl_bins, cfg.hl_sigma_ratio, dev) if cfg.loss == "hlgauss" else None
    net = QNetwork(cfg, seeds, obs_shape[-1], n_actions).to(dev)
    target = copy.deepcopy(net).requires_grad_(False)
    params = list(net.parameters())
    opt = EnsembleRMSprop(params, m, cfg.lr)
    buffer = ReplayBuffer(m, min(cfg.buffer_size, cfg.steps), obs_shape, dev)
    explore = enn.MemberSampler([derive_seed(s, "explore") for s in seeds], (2,), kind="uniform",
                                dtype=torch.float64, device=dev)  # [epsilon test, random action]
    replay_uniform = enn.MemberSampler([derive_seed(s, "replay") for s in seeds], (cfg.batch_size,),
                                       kind="uniform", dtype=torch.float64, device=dev, chunk=64)

    frozen: list[int] = []
    live = list(range(m))
    diverged_step: dict[int, int] = {}
    env_steps = np.zeros(m, dtype=np.int64)
    updates = np.zeros(m, dtype=np.int64)
    curve_steps: list[int] = []
    curve_returns: list[np.ndarray] = []
    episode_return, last_return = np.zeros(m), np.full(m, np.nan)
    loss_sum, loss_count = torch.zeros(m, device=dev), 0

    def evaluate_live() -> np.ndarray:  # greedy policy, (M,) returns, NaN for diverged members
        returns = np.full(m, np.nan)
        if live:
            def act(o: np.ndarray) -> np.ndarray:
                full = torch.zeros(m, 1, *obs_shape, device=dev)
                full[live, 0] = torch.as_tensor(o, dtype=torch.float32, device=dev)
                with torch.no_grad():
                    return q_values(net, hl, full)[live, 0].argmax(-1).cpu().numpy()
            returns[live] = evaluate(act, cfg.env_id, [seeds[i] for i in live], cfg.eval_episodes,
                                     max_episode_steps=cfg.max_episode_steps)
        return returns

    ckpt = checkpoint.current()
    state = ckpt.load()
    if state is None:
        # step 0: the untrained greedy policy, with the protocol of every later evaluation; it draws from no
        # training stream, so training is the same with or without it
        curve_steps.append(0)
        curve_returns.append(evaluate_live())
        obs = np.stack([env.reset()[0] for env in envs])  # (M, 10, 10, C) bool
        n_updates, first = 0, 1
    else:  # resume: every object that carries state, as it was after env step state["step"]
        for env in envs:
            env.close()
        (envs, obs, net, target, opt, buffer, explore, replay_uniform, frozen, live, diverged_step, env_steps,
         updates, curve_steps, curve_returns, episode_return, last_return, loss_sum, loss_count, n_updates) = (
            state[k] for k in RESUMABLE)
        params = opt.params  # the online network's parameters (one pickle keeps them shared)
        start, first = time.perf_counter() - state["elapsed"], state["step"] + 1
    for step in range(first, cfg.steps + 1):  # ``step`` counts env steps of each live member, this one included
        u = explore()  # (M, 2), drawn every step so that each member's stream does not depend on epsilon
        random_action = (u[:, 1] * n_actions).long().clamp_(max=n_actions - 1)
        eps = cfg.epsilon(step)
        if eps >= 1.0:
            action = random_action
        else:
            with torch.no_grad():
                greedy = q_values(net, hl, torch.as_tensor(obs, device=dev).float().unsqueeze(1))[:, 0].argmax(-1)
            action = torch.where(u[:, 0] < eps, random_action, greedy)
        action_np = action.cpu().numpy()
        next_obs, obs_after = obs.copy(), obs.copy()
        reward, terminated = np.zeros(m, dtype=np.float32), np.zeros(m, dtype=np.float32)
        for i in live:
            o, r, term, trunc, _ = envs[i].step(int(action_np[i]))
            next_obs[i] = obs_after[i] = o
            reward[i], terminated[i] = r, float(term)
            episode_return[i] += r
            if term or trunc:
                last_return[i], episode_return[i] = episode_return[i], 0.0
                obs_after[i] = envs[i].reset()[0]
        buffer.add(obs, action_np, reward, terminated, next_obs)
        obs = obs_after
        env_steps[live] += 1

        if step > cfg.learning_starts:
            n_updates += 1
            loss = td_loss(net, target, hl, buffer.sample(replay_uniform()), cfg)
            if cfg._inject_nan_at is not None and cfg._inject_nan_at[1] == n_updates:
                loss = loss + torch.where(torch.arange(m, device=dev) == cfg._inject_nan_at[0], math.nan, 0.0)
            for i in enn.nonfinite_members([loss], m).nonzero().flatten().tolist():
                if i not in diverged_step:  # freeze before the step that would use the loss
                    frozen.append(i)
                    live.remove(i)
                    diverged_step[i] = step
            for p in params:
                p.grad = None
            loss.sum().backward()  # a sum: each member gets exactly its own gradient
            opt.step(frozen=frozen)
            updates[live] += 1
            loss_sum += loss.detach()
            loss_count += 1
            if n_updates % cfg.target_update == 0:
                with torch.no_grad(), enn.preserve_members(list(target.parameters()), frozen, m):
                    for t, p in zip(target.parameters(), params):
                        t.copy_(p)

        if step % cfg.eval_every == 0 or step == cfg.steps:
            curve_steps.append(step)
            curve_returns.append(evaluate_live())
        if step % 250 == 0 or step == cfg.steps:
            recent = last_return[live][np.isfinite(last_return[live])]
            report_progress(step, cfg.steps, float(recent.mean()) if recent.size else None)
        if ckpt.due() and step < cfg.steps:
            here = locals()
            ckpt.save({"step": step, "elapsed": time.perf_counter() - start, **{k: here[k] for k in RESUMABLE}})

    for env in envs:
        env.close()
    wall = time.perf_counter() - start
    counts, macs = net.param_counts(m), net.macs()
    curves = np.stack(curve_returns, axis=1)  # (M, evaluations)
    mean_loss = (loss_sum / max(loss_count, 1)).cpu().tolist()  # NaN for a diverged member
    members = []
    for i, seed in enumerate(seeds):
        returns = [float(v) for v in curves[i]]
        samples = cfg.batch_size * float(updates[i])
        acted = max(0, int(env_steps[i]) - cfg.learning_starts) + samples  # acting, and the target on the batch
        members.append(MemberResult(
            seed=seed, metrics=curve_metrics(returns), curve_steps=list(curve_steps), curve_returns=returns,
            initial=untrained_metrics(returns), diverged=i in diverged_step, diverged_step=diverged_step.get(i),
            env_steps=int(env_steps[i]), updates=int(updates[i]), params=counts,
            flops=training_flops(macs, trained=samples, acted=acted),
            wall_time=wall / m, extra={"macs": macs, "mean_loss": mean_loss[i]}))
    return RunResult(members=members, config=asdict(cfg), device=str(dev)), net
