"""MuZero with Reanalyse on gymnasium control tasks and MinAtar: a learned model, batched MCTS over it, and
n-step value targets, some of them recomputed by fresh searches.

For the claim "MuZero Reanalyse gets worse on some tasks as network size grows" (claims/test_muzero_size.py).
The algorithm is MuZero (Schrittwieser et al. 2020, "Mastering Atari, Go, chess and shogi by planning with a
learned model", Nature 588:604, arXiv:1911.08265) with Reanalyse (Schrittwieser et al. 2021, "Online and
offline reinforcement learning by planning with a learned model", NeurIPS, arXiv:2104.06294): three networks,
representation h(observation) -> latent state, dynamics g(latent, action) -> (next latent, reward) and
prediction f(latent) -> (policy, value), trained end to end by unrolling g for K steps from h of a stored
observation along the stored actions, against the stored rewards, the n-step returns bootstrapped with search
values, and the search's visit distributions; acting by PUCT Monte-Carlo tree search over the learned model.

What is here, from the bottom up:
  support       values and rewards are categorical over the integers -S..S (``support_size`` S, 2S + 1 bins)
                after MuZero's invertible transform h(x) = sign(x)(sqrt(|x| + 1) - 1) + 0.001 x: a scalar
                target is the two-hot vector of h(target) (the two nearest integers, in proportion), the
                loss its cross-entropy, and a prediction is h^-1 of the softmax's mean. S = 20 covers
                |x| <= 425 (CartPole's discounted returns stay below 100 at discount 0.99).
  ``MuZeroNet``  three MLPs over the flattened observation (MinAtar's 10x10xC booleans too): each has
                ``depth`` hidden layers of ``width`` ReLU units, and the latent state has ``width`` units,
                min-max normalized to [0, 1] per sample (as the paper) after h and after g. g takes the
                latent and a one-hot action; its reward head and its next-latent layer sit on its last
                hidden layer. The policy, value and reward output layers start at zero (uniform priors,
                value and reward 0). ``width`` scales all three networks together: ``WIDTHS`` 16..256 is the
                ladder (``parameters(cfg)``: CartPole-v1 3.4k, 10k, 35k, 127k, 484k, 141x from end to end;
                MinAtar/Breakout-v1 9.8k..586k, 60x, its 400 inputs weigh on the small ones).
  ``search``    PUCT MCTS batched over many roots: each tree is numpy arrays (children, priors, visit counts,
                value sums, predicted rewards, latent states per node); every simulation descends all trees
                at once and expands each tree's new leaf with one batched g + f call. Edge scores are
                alphazero.py's, Q + c_puct P sqrt(max(1, N)) / (1 + n), with Q = r + discount x (the child's
                mean backed-up value), min-max normalized per tree over the Q values seen so far (MuZero's
                normalization for single-player rewards; unvisited edges score Q = 0), with the span floored
                at ``MIN_SPAN`` = 0.01 as EfficientZero (Ye et al. 2021, arXiv:2111.00210) so that rounding-
                level differences of Q are not blown up to the whole [0, 1] range (MuZero's pseudocode: raw Q
                while max = min). Dirichlet noise at the root while acting and reanalysing.
  ``Replay``    one ring of slots per parallel environment, in order: every step (observation, action,
                reward, visit distribution, search value) and, at an episode's end, a final slot (its last
                observation; search value 0 if the episode terminated, the search value of that observation
                if a time limit truncated it). Any non-final slot whose episode has ended, or that has
                K + n later slots written, can be sampled (uniformly).
  ``targets``   for a sampled state t and k = 0..K: value target z_{t+k} = sum_{i<m} discount^i u_{t+k+i+1}
                + discount^m nu_{t+k+m}, m = min(n, steps left to the episode's end), with nu the stored
                search value (the final slot's value at the end); the reward of the k-th action; the visit
                distribution of state t+k. Past a terminated episode's end the states are absorbing (value
                and reward targets 0, actions uniformly random, no policy loss); past a truncated one the
                targets are unknown and masked out.
  Reanalyse     ``reanalyse`` (a fraction in [0, 1]) of every batch gets its targets recomputed with the
                latest network before the update (Schrittwieser et al. 2021): a fresh batched search (the
                acting search: same simulations, root noise) from the stored observation of every state of
                the sample's unroll (t..t+K) replaces its policy target by the new visit distribution, and a
                fresh search from every bootstrap state t+k+m replaces nu_{t+k+m} by the new search value;
                stored rewards stay. ``reanalyse=0`` is plain MuZero (stored acting-time targets).
  ``train``     N environments step together (one search over the N roots per step; actions sampled from
                visit counts ^ (1 / temperature) by a schedule of env steps), ``updates_per_step`` Adam
                updates after each step once ``learning_starts`` env steps were taken; greedy evaluation
                (the most visited action, ties at random) at step 0 (the untrained network) and every
                ``eval_every`` env steps, ``eval_episodes`` episodes side by side in one batched search.

Loss (MuZero's): per sample, sum over k = 0..K of the cross-entropies of the policy to the visit
distribution and of the reward (k >= 1) and value (times ``value_weight``) to their two-hot targets, the
terms of k >= 1 scaled by 1 / K, and the gradient into g halved at every unroll step; mean over the batch;
L2 regularization as Adam's ``weight_decay``.

Departures, all of ours (scale: small MLPs, runs of minutes on a CPU): MLPs instead of residual conv nets, and
the current observation instead of a stack of the last 32 frames and actions (CartPole's and MinAtar's
observations are Markov); Adam (lr 3e-3, constant) instead of momentum SGD with a decaying rate; uniform
replay instead of prioritized; a high replay ratio for small data (4 updates of 256 samples per step of 16
environments: 64 unrolled samples per env step, as the data-efficient MuZero variants rather than the paper's
far fewer); 16 simulations (the paper: 50) and the PUCT constant c1 = 1.25 without the paper's
log((N + c2 + 1) / c2) term (below 0.003 for N < 64 with c2 = 19652); discount 0.99 (the paper: 0.997);
supports of 2 x 20 + 1 bins (the paper: 601); no target network: a reanalysed bootstrap value is the search
value of the latest network (MuZero Reanalyze's appendix bootstraps from a target network's f(h(o)); the 2021
paper from the search); episodes are stored as they happen, per environment, instead of as finished games;
a time limit is not a terminal state (the final observation's search value is bootstrapped); the temperature
schedule is in env steps (``temperatures`` after ``temperature_steps``), not in training steps.

Determinism. Every random draw comes from streams derived from the run's seed (``derive_seed``): "init"
(weights), "env/<e>" (the e-th training environment), "act" (root noise and action sampling), "replay"
(minibatch indices and the random actions past an episode's end), "reanalyse" (the reanalyse searches' root
noise), and "eval/<k>" (ties of the k-th evaluation, whose episodes start from the harness's "eval" states,
episode j from ``derive_seed(seed, "eval") + j`` as ``harness.envs.evaluate``). Evaluation draws from no
training stream, so a run repeats bit for bit on CPU with or without its evaluations.

Divergence. A non-finite loss stops training before the optimizer step that would use it: the member is
reported with ``diverged=True`` and ``diverged_step`` (its env steps), later evaluations are NaN and so are
its metrics. ``Config._inject_nan_at`` tests this.

Resuming. ``train`` saves its state when the harness's checkpoint is due (harness/checkpoint.py): the members
already finished (their count names the running one) and the running member's objects named in ``RESUMABLE``
(network, optimizer, environments, replay, random generators, counters, curves) after a whole step of all
environments; a resumed unit returns the same record bit for bit. A unit of several seeds resumed during one
seed trains the later seeds from scratch (the loaded members list is copied, and only the member it was saved
in resumes).

Compute. ``flops`` is the 6N rule (``harness.agents.common.training_flops``) with N the multiply-accumulates
of one forward pass: forward+backward of the whole unroll (h, then K x g and K + 1 x f) on every trained
sample, and forward of every search (h and f at the root, then g and f per simulation) while acting,
reanalysing and bootstrapping truncated episodes. Evaluation is not counted. ``env_steps`` are training
environment steps, all N environments together.

Measured (2026-12-02, this machine's 2 cores with nothing else running, one torch thread; seed 0 unless said):
  speed         width 16, default settings: 261 env steps/s over 153,600 CartPole-v1 steps (589 s, 38,152
                updates; 530/s over the first 5,120 steps, when episodes and evaluations are short) and 283/s on
                MinAtar/Breakout-v1; the updates take most of it. Reanalyse over 5,120 CartPole steps: 532 env
                steps/s at 0, 189 at 0.25 and 79 at 1.0 (1,560 roots searched per update of 256 samples).
                By width, reanalyse 0.25, 5,120 CartPole steps, two runs side by side: width 16 55 s, 256 205 s.
  search        benchmarks/muzero_search.py, 16 simulations, width 16: batched over 64 roots 140k simulations/s,
                one root at a time 3.1k/s (45x); 256 roots 355k/s (112x); width 256 over 64 roots 26x.
  canary        tests/test_muzero.py: CartPole-v1 from a greedy return of 18.0 to final_return 134.3 (last
                evaluation 183.8) in 6,144 env steps, 12 s; with lr=0 it stays at 26.2.
  validation    (tests/test_muzero.py, slow) default settings, width 16, 51,200 env steps: final_return 276.5,
                212.3, 389.3 on seeds 0, 1, 2 (mean 292.7); each passes 165 within 10k steps, none holds 400.
  pilot         width 16, default settings, about 10 minutes each, greedy return of 10 episodes at env steps:
                CartPole-v1     0: 21.2, 10k: 500.0, 20k: 231.8, 31k: 291.2, 41k: 260.1, 51k: 283.9, 61k: 270.9,
                                72k: 266.9, 82k: 309.1, 92k: 319.8, 102k: 305.2, 113k: 318.0, 123k: 304.7,
                                133k: 347.8, 143k: 387.1, 154k: 386.1 (final_return 386.6, auc_return 318.8)
                Breakout-v1     (max_episode_steps 2000) 0: 0.8, 10k-31k: 0.8, 41k: 1.8, 51k: 1.7, 61k: 3.2,
                                72k: 1.8, 82k: 2.6, 92k: 3.5, 102k-113k: 2.8, 123k: 2.8, 133k-154k: 2.9
                                (final_return 2.9, auc_return 2.27; 542 s)
  tuning        what the defaults came from (CartPole-v1, width 16, 2 seeds, 10k-30k env steps): with lr 1e-3,
                or with one update of 128 per step, the greedy policy first collapses onto one action (return
                9.4) for 3k-6k steps and recovers slowly or not at all within 10k; with lr 3e-3 and 16
                simulations each of 9 runs (4 seeds at the canary's settings, 5 at the defaults) was above 60
                within 6k-10k steps. Discount 0.997, value_weight 1, Dirichlet alpha 1, and
                unvisited edges at the parent's mean Q (EfficientZero) instead of 0 did not help clearly and
                were not kept.
"""
from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import asdict, dataclass
from typing import Callable, Sequence

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from harness import checkpoint
from harness.agents.common import training_flops
from harness.envs import check_env_id, derive_seed, env_seed, make_env
from harness.result import (AUC_RETURN, FINAL_RETURN, INITIAL_RETURN, MemberResult, RunResult, curve_metrics,
                            report_progress, trainer, untrained_metrics)

METRICS = (INITIAL_RETURN, FINAL_RETURN, AUC_RETURN)  # what a claim may test (checked at collection)
WIDTHS = (16, 32, 64, 128, 256)  # the size ladder: hidden and latent units of all three networks
H_EPS = 0.001  # MuZero's value transform h(x) = sign(x)(sqrt(|x| + 1) - 1) + H_EPS x
GRADIENT_SCALE = 0.5  # the gradient into the dynamics is halved at every unroll step (MuZero)
MIN_SPAN = 0.01  # the search normalizes Q by max(max Q - min Q, MIN_SPAN) (EfficientZero's floor)

Recurrent = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]
"""g then f on a batch: (latents (m, L), actions (m,)) -> (next latents, rewards (m,), priors (m, A), values (m,))."""


@dataclass(frozen=True)
class Config:
    """MuZero (Reanalyse) settings; the module docstring says where each departs from the papers."""

    env_id: str = "CartPole-v1"
    """A gymnasium task with a Box observation (flattened) and discrete actions, e.g. a MinAtar game."""
    steps: int = 51_200
    """Training env steps per member, all parallel environments together (a multiple of ``envs``)."""
    width: int = 32
    """Hidden units of every layer of h, g and f, and latent units (``WIDTHS`` is the ladder)."""
    depth: int = 2
    """Hidden layers of each of the three networks."""
    envs: int = 16
    """Environments acting side by side (one batched search over all of them per step)."""
    simulations: int = 16
    """Simulations per search, in acting, reanalysing and evaluation alike."""
    c_puct: float = 1.25
    dirichlet_alpha: float = 0.25
    noise_fraction: float = 0.25
    temperatures: tuple[float, ...] = (1.0, 0.5, 0.25)
    """Acting temperatures of the visit counts (0: the most visited action), the first from step 1 and each
    next one from the matching entry of ``temperature_steps``."""
    temperature_steps: tuple[int, ...] = (100_000, 200_000)
    """Env steps at which the acting temperature moves to the next entry of ``temperatures``."""
    discount: float = 0.99
    td_steps: int = 10
    """n of the n-step value targets."""
    unroll: int = 5
    """K, the dynamics steps unrolled per sample."""
    support_size: int = 20
    """S: values and rewards are categorical over -S..S after the transform h."""
    buffer_size: int = 100_000
    """Replay slots, all environments together (buffer_size // envs per environment)."""
    batch_size: int = 256
    updates_per_step: int = 4
    """Updates after each step of all environments (so envs / updates_per_step env steps per update)."""
    learning_starts: int = 1000
    """Env steps before the first update."""
    lr: float = 3e-3
    weight_decay: float = 1e-4
    """Adam's L2 coefficient."""
    value_weight: float = 0.25
    """Weight of the value loss (MuZero Reanalyze: 0.25; policy and reward 1)."""
    reanalyse: float = 0.0
    """Fraction of each batch whose policy and value targets a fresh search recomputes (0: plain MuZero)."""
    eval_every: int = 5120
    """Evaluate the greedy search every this many env steps (a multiple of ``envs``) and at the end; also at
    step 0 (untrained)."""
    eval_episodes: int = 10
    max_episode_steps: int | None = None
    """Time limit of training and evaluation episodes (None: the task's own)."""
    _inject_nan_at: int | None = None
    """Testing only: the update whose loss is replaced by NaN."""

    def __post_init__(self) -> None:
        for name in ("steps", "width", "depth", "envs", "simulations", "td_steps", "unroll", "support_size",
                     "buffer_size", "batch_size", "eval_every", "eval_episodes"):
            if getattr(self, name) < 1:
                raise ValueError(f"MuZero Config.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("updates_per_step", "learning_starts", "lr", "weight_decay", "value_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"MuZero Config.{name} must be >= 0, got {getattr(self, name)}")
        for name in ("steps", "eval_every"):
            if getattr(self, name) % self.envs:
                raise ValueError(f"MuZero Config.{name} must be a multiple of envs = {self.envs} (all "
                                 f"environments step together), got {getattr(self, name)}")
        if not 0 <= self.reanalyse <= 1:
            raise ValueError(f"MuZero Config.reanalyse must be a fraction in [0, 1], got {self.reanalyse}")
        if not 0 < self.discount <= 1:
            raise ValueError(f"MuZero Config.discount must lie in (0, 1], got {self.discount}")
        if self.c_puct <= 0 or self.dirichlet_alpha <= 0 or not 0 <= self.noise_fraction <= 1:
            raise ValueError(f"MuZero Config needs c_puct > 0, dirichlet_alpha > 0 and noise_fraction in [0, 1]; "
                             f"got {self.c_puct}, {self.dirichlet_alpha}, {self.noise_fraction}")
        if len(self.temperatures) != len(self.temperature_steps) + 1 or any(t < 0 for t in self.temperatures):
            raise ValueError(f"MuZero Config.temperatures must be >= 0 and one more than temperature_steps; got "
                             f"{self.temperatures} and {self.temperature_steps}")
        if list(self.temperature_steps) != sorted(self.temperature_steps):
            raise ValueError(f"MuZero Config.temperature_steps must be increasing, got {self.temperature_steps}")
        if self.buffer_size // self.envs <= self.unroll + self.td_steps + 1:
            raise ValueError(f"MuZero Config.buffer_size must hold more than unroll + td_steps + 1 = "
                             f"{self.unroll + self.td_steps + 1} slots per environment, got {self.buffer_size} "
                             f"for {self.envs} envs")
        if self.max_episode_steps is not None and self.max_episode_steps < 1:
            raise ValueError(f"MuZero Config.max_episode_steps must be None or >= 1, got {self.max_episode_steps}")

    @property
    def iterations(self) -> int:
        """Steps of all environments together."""
        return self.steps // self.envs

    def temperature(self, env_steps: int) -> float:
        """The acting temperature after ``env_steps`` env steps."""
        return self.temperatures[sum(env_steps >= s for s in self.temperature_steps)]


# --- values on a categorical support ----------------------------------------------------------------------

def h_transform(x: Tensor) -> Tensor:
    """MuZero's invertible squashing h(x) = sign(x)(sqrt(|x| + 1) - 1) + eps x."""
    return torch.sign(x) * (torch.sqrt(x.abs() + 1) - 1) + H_EPS * x


def h_inverse(y: Tensor) -> Tensor:
    """The inverse of ``h_transform``."""
    root = (torch.sqrt(1 + 4 * H_EPS * (y.abs() + 1 + H_EPS)) - 1) / (2 * H_EPS)
    return torch.sign(y) * (root.square() - 1)


def to_support(x: Tensor, size: int) -> Tensor:
    """(...,) scalars -> (..., 2 size + 1): the two-hot vector of h(x) on the integers -size..size (clipped)."""
    y = h_transform(x).clamp(-size, size) + size
    low = y.floor()
    upper = y - low
    out = torch.zeros(*x.shape, 2 * size + 1, dtype=x.dtype, device=x.device)
    out.scatter_(-1, low.long().unsqueeze(-1), (1 - upper).unsqueeze(-1))
    out.scatter_add_(-1, (low.long() + 1).clamp(max=2 * size).unsqueeze(-1), upper.unsqueeze(-1))
    return out


def from_support(logits: Tensor, size: int) -> Tensor:
    """(..., 2 size + 1) logits -> (...,) scalars: h^-1 of the softmax's mean."""
    grid = torch.arange(-size, size + 1, dtype=logits.dtype, device=logits.device)
    return h_inverse((logits.softmax(-1) * grid).sum(-1))


# --- the networks -------------------------------------------------------------------------------------------

def mlp(inputs: int, width: int, depth: int) -> nn.Sequential:
    """``depth`` Linear -> ReLU layers of ``width`` units."""
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [nn.Linear(inputs if i == 0 else width, width), nn.ReLU()]
    return nn.Sequential(*layers)


def normalize_latent(s: Tensor) -> Tensor:
    """Min-max scaling of each latent state to [0, 1] (MuZero)."""
    lo, hi = s.min(-1, keepdim=True).values, s.max(-1, keepdim=True).values
    return (s - lo) / (hi - lo).clamp_min(1e-5)


class MuZeroNet(nn.Module):
    """h, g and f as MLPs (module docstring); ``bins`` = 2 S + 1 for values and rewards."""

    def __init__(self, obs_dim: int, actions: int, width: int, depth: int, bins: int):
        super().__init__()
        self.actions = actions
        self.represent_trunk = mlp(obs_dim, width, depth)
        self.represent_out = nn.Linear(width, width)
        self.dynamics_trunk = mlp(width + actions, width, depth)
        self.dynamics_out = nn.Linear(width, width)
        self.reward_head = nn.Linear(width, bins)
        self.prediction_trunk = mlp(width, width, depth)
        self.policy_head = nn.Linear(width, actions)
        self.value_head = nn.Linear(width, bins)
        for head in (self.reward_head, self.policy_head, self.value_head):
            nn.init.zeros_(head.weight)
            nn.init.zeros_(head.bias)

    def represent(self, obs: Tensor) -> Tensor:
        return normalize_latent(self.represent_out(self.represent_trunk(obs.flatten(1).float())))

    def dynamics(self, latent: Tensor, action: Tensor) -> tuple[Tensor, Tensor]:
        x = self.dynamics_trunk(torch.cat([latent, F.one_hot(action, self.actions).to(latent.dtype)], -1))
        return normalize_latent(self.dynamics_out(x)), self.reward_head(x)

    def predict(self, latent: Tensor) -> tuple[Tensor, Tensor]:
        x = self.prediction_trunk(latent)
        return self.policy_head(x), self.value_head(x)

    def parts(self) -> dict[str, list[nn.Module]]:
        return {"representation": [self.represent_trunk, self.represent_out],
                "dynamics": [self.dynamics_trunk, self.dynamics_out, self.reward_head],
                "prediction": [self.prediction_trunk, self.policy_head, self.value_head]}

    def params(self) -> dict[str, int]:
        counts = {name: sum(p.numel() for m in mods for p in m.parameters()) for name, mods in self.parts().items()}
        return {**counts, "total": sum(counts.values())}

    def macs(self) -> dict[str, int]:
        """Multiply-accumulates of one forward pass of one sample, per network."""
        return {name: sum(layer.in_features * layer.out_features for m in mods for layer in m.modules()
                          if isinstance(layer, nn.Linear)) for name, mods in self.parts().items()}


def make_net(cfg: Config, obs_dim: int, actions: int, seed: int, device: torch.device) -> MuZeroNet:
    """The network with PyTorch's default initialization drawn from the run's "init" stream."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(seed, "init"))
        net = MuZeroNet(obs_dim, actions, cfg.width, cfg.depth, 2 * cfg.support_size + 1)
    return net.to(device)


def spaces(env_id: str) -> tuple[tuple[int, ...], np.dtype, int]:
    """(observation shape, dtype, number of actions) of a task, which must have a Box observation and
    discrete actions."""
    check_env_id(env_id)
    env = gym.make(env_id)
    obs_space, act_space = env.observation_space, env.action_space
    env.close()
    if not isinstance(obs_space, gym.spaces.Box) or not isinstance(act_space, gym.spaces.Discrete):
        raise ValueError(f"MuZero needs a Box observation and discrete actions; {env_id} has {obs_space} and "
                         f"{act_space}")
    return tuple(obs_space.shape), obs_space.dtype, int(act_space.n)


def parameters(cfg: Config) -> int:
    """Trainable parameters of the network for ``cfg``'s task and size."""
    shape, _, actions = spaces(cfg.env_id)
    return make_net(cfg, int(np.prod(shape)), actions, 0, torch.device("cpu")).params()["total"]


class Model:
    """The network as the search sees it: numpy in, numpy out, no gradients; counts the searches' samples."""

    def __init__(self, net: MuZeroNet, support: int, device: torch.device):
        self.net, self.support, self.device = net, support, device
        self.samples = {"initial": 0, "recurrent": 0}

    @torch.no_grad()
    def initial(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """h then f: observations (m, ...) -> (latents (m, L), priors (m, A), values (m,))."""
        self.samples["initial"] += len(obs)
        s = self.net.represent(torch.as_tensor(obs, device=self.device))
        logits, v = self.net.predict(s)
        return (s.cpu().numpy(), logits.softmax(-1).double().cpu().numpy(),
                from_support(v, self.support).double().cpu().numpy())

    @torch.no_grad()
    def recurrent(self, latent: np.ndarray, action: np.ndarray) -> tuple[np.ndarray, ...]:
        self.samples["recurrent"] += len(latent)
        s, r = self.net.dynamics(torch.as_tensor(latent, device=self.device),
                                 torch.as_tensor(action, device=self.device))
        logits, v = self.net.predict(s)
        return (s.cpu().numpy(), from_support(r, self.support).double().cpu().numpy(),
                logits.softmax(-1).double().cpu().numpy(), from_support(v, self.support).double().cpu().numpy())


# --- the search ---------------------------------------------------------------------------------------------

def search(latent: np.ndarray, prior: np.ndarray, recurrent: Recurrent, simulations: int, c_puct: float,
           discount: float, rng: np.random.Generator | None = None,
           noise: tuple[float, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """PUCT MCTS over a learned model from n roots at once: ``latent`` (n, L) and ``prior`` (n, A) are the
    roots' states and priors (h then f of their observations); every simulation descends all n trees and
    expands each one's new leaf in one ``recurrent`` call. ``noise`` (alpha, fraction) mixes Dirichlet noise
    drawn from ``rng`` into the root priors. Returns the roots' visit counts (n, A) and search values (n,):
    the mean over simulations of the discounted return backed up through the root."""
    n, a = prior.shape
    nodes = simulations + 1
    child = np.full((n, nodes, a), -1, dtype=np.int64)
    priors = np.zeros((n, nodes, a))
    visits = np.zeros((n, nodes, a))
    value_sum = np.zeros((n, nodes, a))  # sum of the returns backed up through each edge
    reward = np.zeros((n, nodes, a))  # the model's reward of each expanded edge
    states = np.zeros((n, nodes, latent.shape[1]), dtype=latent.dtype)
    q_min, q_max = np.full(n, np.inf), np.full(n, -np.inf)  # per tree, over every edge's Q so far
    rows = np.arange(n)
    if noise is not None:
        alpha, frac = noise
        eta = rng.gamma(alpha, 1.0, size=(n, a))
        prior = (1 - frac) * prior + frac * eta / eta.sum(1, keepdims=True)
    priors[:, 0], states[:, 0] = prior, latent
    for sim in range(simulations):
        path: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        leaf_parent, leaf_action = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
        idx, nd = rows, np.zeros(n, dtype=np.int64)
        while idx.size:  # descend every tree until it leaves its expanded nodes
            nv, w, p = visits[idx, nd], value_sum[idx, nd], priors[idx, nd]
            q = np.divide(w, nv, out=np.zeros_like(w), where=nv > 0)
            qn = (q - q_min[idx, None]) / np.maximum(q_max - q_min, MIN_SPAN)[idx, None]
            u = c_puct * p * np.sqrt(np.maximum(nv.sum(1, keepdims=True), 1.0)) / (1.0 + nv)
            act = (np.where(nv > 0, qn, 0.0) + u).argmax(1)
            path.append((idx, nd, act))
            nxt = child[idx, nd, act]
            new = nxt < 0
            leaf_parent[idx[new]], leaf_action[idx[new]] = nd[new], act[new]
            idx, nd = idx[~new], nxt[~new]
        s, r, p_leaf, v_leaf = recurrent(states[rows, leaf_parent], leaf_action)
        new_node = sim + 1  # every simulation adds one node to every tree
        child[rows, leaf_parent, leaf_action] = new_node
        reward[rows, leaf_parent, leaf_action] = r
        priors[:, new_node], states[:, new_node] = p_leaf, s
        g = np.asarray(v_leaf, dtype=np.float64).copy()
        for idx, nd, act in reversed(path):  # back up the discounted return, leaf to root
            g[idx] = reward[idx, nd, act] + discount * g[idx]
            visits[idx, nd, act] += 1
            value_sum[idx, nd, act] += g[idx]
            q = value_sum[idx, nd, act] / visits[idx, nd, act]
            q_min[idx], q_max[idx] = np.minimum(q_min[idx], q), np.maximum(q_max[idx], q)
    root_visits = visits[:, 0]
    return root_visits, value_sum[:, 0].sum(1) / root_visits.sum(1)


def run_search(model: Model, obs: np.ndarray, cfg: Config, rng: np.random.Generator | None,
               noise: bool) -> tuple[np.ndarray, np.ndarray]:
    """h and f on ``obs``, then ``search``: (visit counts, search values)."""
    latent, prior, _ = model.initial(obs)
    return search(latent, prior, model.recurrent, cfg.simulations, cfg.c_puct, cfg.discount, rng,
                  noise=(cfg.dirichlet_alpha, cfg.noise_fraction) if noise else None)


def argmax_random_ties(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Row-wise argmax, ties broken uniformly at random."""
    return np.where(x == x.max(1, keepdims=True), rng.random(x.shape), -1.0).argmax(1)


def sample_actions(visits: np.ndarray, temperature: float, rng: np.random.Generator) -> np.ndarray:
    """Actions in proportion to visits ^ (1 / temperature); the most visited (ties at random) at 0."""
    if temperature == 0:
        return argmax_random_ties(visits, rng)
    cum = np.cumsum((visits / visits.max(1, keepdims=True)) ** (1.0 / temperature), 1)
    return (cum > rng.random((len(visits), 1)) * cum[:, -1:]).argmax(1)


# --- replay and targets -------------------------------------------------------------------------------------

class Replay:
    """One ring of ``capacity`` slots per environment, written in order (module docstring, ``Replay``)."""

    def __init__(self, envs: int, capacity: int, obs_shape: tuple[int, ...], obs_dtype: np.dtype, actions: int):
        self.capacity = capacity
        self.obs = np.zeros((envs, capacity, *obs_shape), dtype=obs_dtype)
        self.action = np.zeros((envs, capacity), dtype=np.int64)
        self.reward = np.zeros((envs, capacity), dtype=np.float32)
        self.policy = np.zeros((envs, capacity, actions), dtype=np.float32)
        self.value = np.zeros((envs, capacity), dtype=np.float32)
        self.final = np.zeros((envs, capacity), dtype=bool)
        self.terminated = np.zeros((envs, capacity), dtype=bool)  # of a final slot: the episode terminated
        self.index = np.full((envs, capacity), -1, dtype=np.int64)  # each slot's position in its env's stream
        self.written = np.zeros(envs, dtype=np.int64)  # slots written per env
        self.episode_start = np.zeros(envs, dtype=np.int64)  # stream position of each env's current episode

    def _next(self, e: np.ndarray) -> np.ndarray:
        slot = self.written[e] % self.capacity
        self.index[e, slot] = self.written[e]
        self.written[e] += 1
        return slot

    def add_steps(self, obs: np.ndarray, action: np.ndarray, reward: np.ndarray, policy: np.ndarray,
                  value: np.ndarray) -> None:
        """One step of every environment."""
        e = np.arange(len(obs))
        slot = self._next(e)
        self.obs[e, slot], self.action[e, slot], self.reward[e, slot] = obs, action, reward
        self.policy[e, slot], self.value[e, slot] = policy, value
        self.final[e, slot] = self.terminated[e, slot] = False

    def add_final(self, e: np.ndarray, obs: np.ndarray, value: np.ndarray, terminated: np.ndarray) -> None:
        """The final slots of the episodes that just ended in environments ``e``."""
        slot = self._next(e)
        self.obs[e, slot], self.value[e, slot] = obs, value
        self.action[e, slot], self.reward[e, slot], self.policy[e, slot] = 0, 0.0, 0.0
        self.final[e, slot], self.terminated[e, slot] = True, terminated
        self.episode_start[e] = self.written[e]

    def candidates(self, horizon: int) -> np.ndarray:
        """Flat indices (env * capacity + slot) of the slots that can be sampled: not final, and either their
        episode has ended or ``horizon`` later slots are written."""
        ok = (self.index >= 0) & ~self.final & ((self.index < self.episode_start[:, None])
                                                | (self.index + horizon < self.written[:, None]))
        return np.flatnonzero(ok)

    def window(self, flat: np.ndarray, length: int, fields: Sequence[str]) -> dict[str, np.ndarray]:
        """The ``fields`` of ``length`` consecutive slots from each sampled slot: arrays (B, length, ...)."""
        e, slot = np.divmod(flat, self.capacity)
        slots = (slot[:, None] + np.arange(length)) % self.capacity
        return {f: getattr(self, f)[e[:, None], slots] for f in fields}


TARGET_FIELDS = ("action", "reward", "policy", "value", "final", "terminated")


def targets(win: dict[str, np.ndarray], random_actions: np.ndarray, unroll: int, td_steps: int,
            discount: float) -> dict[str, np.ndarray]:
    """Training targets from windows of K + n + 1 slots (``Replay.window``; K = ``unroll``, n = ``td_steps``):
    actions (B, K); for k = 0..K value (B, K + 1), reward (B, K + 1; entry k is the k-th action's, entry 0
    unused), policy (B, K + 1, A), and a 0/1 mask of each (module docstring, ``targets``). ``random_actions``
    (B, K) stand in past an episode's end."""
    final, reward, value = win["final"], win["reward"].astype(np.float64), win["value"].astype(np.float64)
    b, length = final.shape
    if length != unroll + td_steps + 1:
        raise ValueError(f"targets need windows of unroll + td_steps + 1 = {unroll + td_steps + 1} slots")
    rows = np.arange(b)
    end = np.where(final.any(1), final.argmax(1), length)  # offset of the episode's final slot (length: later)
    terminated = win["terminated"][rows, np.minimum(end, length - 1)] & (end < length)
    offsets = np.arange(length)
    inside = offsets[None] < end[:, None]  # the episode's states before its end
    reward = np.where(inside, reward, 0.0)
    powers = discount ** np.arange(td_steps + 1)
    tv, vm = np.zeros((b, unroll + 1)), np.zeros((b, unroll + 1))
    tr, rm = np.zeros((b, unroll + 1)), np.zeros((b, unroll + 1))
    for k in range(unroll + 1):
        m = np.clip(end - k, 0, td_steps)  # rewards summed before the bootstrap
        summed = (reward[:, k:k + td_steps] * powers[:td_steps] * (np.arange(td_steps) < m[:, None])).sum(1)
        z = summed + powers[m] * value[rows, k + m]
        tv[:, k] = np.where(k <= end, z, 0.0)  # past a terminated end: absorbing, value 0
        vm[:, k] = (k <= end) | terminated
        if k >= 1:
            tr[:, k] = np.where(inside[:, k - 1], reward[:, k - 1], 0.0)
            rm[:, k] = inside[:, k - 1] | terminated
    actions = np.where(inside[:, :unroll], win["action"][:, :unroll], random_actions)
    pm = inside[:, :unroll + 1].astype(np.float64)
    return {"actions": actions, "value": tv, "value_mask": vm, "reward": tr, "reward_mask": rm,
            "policy": win["policy"][:, :unroll + 1] * pm[..., None], "policy_mask": pm}


def reanalyse_window(model: Model, win: dict[str, np.ndarray], cfg: Config, rng: np.random.Generator) -> int:
    """Recompute, in place, the policies of the unrolled states and the search values of the bootstrap states
    of the windows ``win`` (with "obs") by one fresh batched search with the latest network; returns the
    number of roots searched."""
    final, length = win["final"], cfg.unroll + cfg.td_steps + 1
    b = len(final)
    if b == 0:
        return 0
    rows = np.arange(b)
    end = np.where(final.any(1), final.argmax(1), length)
    terminated = win["terminated"][rows, np.minimum(end, length - 1)] & (end < length)
    need_policy = np.zeros((b, length), dtype=bool)
    need_value = np.zeros((b, length), dtype=bool)
    for k in range(cfg.unroll + 1):
        need_policy[:, k] = k < end
        boot = k + np.clip(end - k, 0, cfg.td_steps)
        live = (k <= end) & ~((boot == end) & terminated)  # a terminated end's value stays 0
        need_value[rows[live], boot[live]] = True
    which = np.argwhere(need_policy | need_value)
    if len(which) == 0:
        return 0
    visits, values = run_search(model, win["obs"][which[:, 0], which[:, 1]], cfg, rng, noise=True)
    pol = need_policy[which[:, 0], which[:, 1]]
    win["policy"][which[pol, 0], which[pol, 1]] = visits[pol] / visits[pol].sum(1, keepdims=True)
    val = need_value[which[:, 0], which[:, 1]]
    win["value"][which[val, 0], which[val, 1]] = values[val]
    return len(which)


# --- the loss -------------------------------------------------------------------------------------------------

def scale_gradient(x: Tensor, scale: float) -> Tensor:
    return x * scale + x.detach() * (1 - scale)


def muzero_loss(net: MuZeroNet, obs: np.ndarray, tg: dict[str, np.ndarray], cfg: Config,
                device: torch.device) -> Tensor:
    """MuZero's loss (module docstring) of one batch: observations (B, ...) of the sampled states, ``targets``.
    The dynamics unrolls step by step; f and the losses then run once on all K + 1 latent states."""
    t = {k: torch.as_tensor(v, device=device, dtype=torch.long if k == "actions" else torch.float32)
         for k, v in tg.items()}
    size, unroll = cfg.support_size, cfg.unroll
    latent = net.represent(torch.as_tensor(obs, device=device))
    latents, reward_logits = [latent], []
    for k in range(unroll):
        latent, r = net.dynamics(scale_gradient(latent, GRADIENT_SCALE), t["actions"][:, k])
        latents.append(latent)
        reward_logits.append(r)
    policy_logits, value_logits = net.predict(torch.stack(latents, 1))  # (B, K + 1, ...)
    policy_ce = -(t["policy"] * policy_logits.log_softmax(-1)).sum(-1)
    value_ce = -(to_support(t["value"], size) * value_logits.log_softmax(-1)).sum(-1)
    per_step = policy_ce + cfg.value_weight * t["value_mask"] * value_ce  # (B, K + 1)
    if unroll:
        reward_ce = -(to_support(t["reward"][:, 1:], size) * torch.stack(reward_logits, 1).log_softmax(-1)).sum(-1)
        per_step = torch.cat([per_step[:, :1], (per_step[:, 1:] + t["reward_mask"][:, 1:] * reward_ce) / unroll], 1)
    return per_step.sum(1).mean()


# --- evaluation -----------------------------------------------------------------------------------------------

def evaluate(net: MuZeroNet, cfg: Config, seed: int, k: int, device: torch.device) -> float:
    """Mean return of ``eval_episodes`` episodes of the greedy search (the most visited action, ties from the
    "eval/<k>" stream), side by side; episode j starts from the harness's "eval" state j of ``seed``."""
    rng = np.random.default_rng(derive_seed(seed, f"eval/{k}"))
    model = Model(net, cfg.support_size, device)  # its own: evaluation searches are not counted in flops
    limit = {} if cfg.max_episode_steps is None else {"max_episode_steps": cfg.max_episode_steps}
    check_env_id(cfg.env_id)
    envs = [gym.make(cfg.env_id, **limit) for _ in range(cfg.eval_episodes)]
    try:
        obs = np.stack([env.reset(seed=env_seed(cfg.env_id, derive_seed(seed, "eval") + j))[0]
                        for j, env in enumerate(envs)])
        totals, live = np.zeros(len(envs)), np.arange(len(envs))
        while live.size:
            visits, _ = run_search(model, obs[live], cfg, None, noise=False)
            act = argmax_random_ties(visits, rng)
            keep = []
            for i, a in zip(live, act):
                o, r, term, trunc, _ = envs[i].step(int(a))
                totals[i] += float(r)
                obs[i] = o
                if not (term or trunc):
                    keep.append(i)
            live = np.array(keep, dtype=np.int64)
    finally:
        for env in envs:
            env.close()
    return float(totals.mean())


# --- training -------------------------------------------------------------------------------------------------

RESUMABLE = ("net", "opt", "envs", "obs", "buffer", "act_rng", "replay_rng", "reanalyse_rng", "model_samples",
             "episode_return", "recent", "episodes", "curve_steps", "curve_returns", "curve_flops", "env_steps",
             "updates", "trained", "reanalysed", "loss_sum", "diverged_step")
"""What a checkpoint of a member holds besides its iteration and elapsed time: every object with training state."""


def train_member(cfg: Config, seed: int, device: torch.device, resume: dict | None = None,
                 save: Callable[[int, dict], None] | None = None) -> tuple[MemberResult, MuZeroNet]:
    """One seed's run (``train`` loops over seeds). ``resume``: a state that ``save(iteration, state)`` was
    given, to continue after that iteration (harness/checkpoint.py)."""
    start = time.perf_counter()
    obs_shape, obs_dtype, n_actions = spaces(cfg.env_id)
    length = cfg.unroll + cfg.td_steps + 1
    limit = {} if cfg.max_episode_steps is None else {"max_episode_steps": cfg.max_episode_steps}
    if resume is None:
        net = make_net(cfg, int(np.prod(obs_shape)), n_actions, seed, device)
        opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, foreach=True)
        envs = [make_env(cfg.env_id, seed, stream=f"env/{e}", **limit) for e in range(cfg.envs)]
        obs = np.stack([env.reset()[0] for env in envs])
        buffer = Replay(cfg.envs, cfg.buffer_size // cfg.envs, obs_shape, obs_dtype, n_actions)
        act_rng = np.random.default_rng(derive_seed(seed, "act"))
        replay_rng = np.random.default_rng(derive_seed(seed, "replay"))
        reanalyse_rng = np.random.default_rng(derive_seed(seed, "reanalyse"))
        model_samples = {"initial": 0, "recurrent": 0}  # samples the training searches evaluated
        episode_return, recent, episodes = np.zeros(cfg.envs), deque(maxlen=20), 0
        # step 0: the untrained network, with the protocol of every later evaluation (no training stream)
        curve_steps, curve_returns, curve_flops = [0], [evaluate(net, cfg, seed, 0, device)], [0.0]
        env_steps = updates = trained = reanalysed = 0
        loss_sum, diverged_step = 0.0, None
        first = 1
    else:
        (net, opt, envs, obs, buffer, act_rng, replay_rng, reanalyse_rng, model_samples, episode_return, recent,
         episodes, curve_steps, curve_returns, curve_flops, env_steps, updates, trained, reanalysed, loss_sum,
         diverged_step) = (resume[k] for k in RESUMABLE)
        start, first = time.perf_counter() - resume["elapsed"], resume["iteration"] + 1
    model = Model(net, cfg.support_size, device)
    model.samples = model_samples
    macs = net.macs()
    unroll_macs = macs["representation"] + cfg.unroll * macs["dynamics"] + (cfg.unroll + 1) * macs["prediction"]

    def flops() -> float:
        acted = (macs["representation"] + macs["prediction"]) * model.samples["initial"] + (
            macs["dynamics"] + macs["prediction"]) * model.samples["recurrent"]
        return training_flops(unroll_macs, trained=trained) + training_flops(1, trained=0, acted=acted)

    for it in range(first, cfg.iterations + 1):
        visits, root_value = run_search(model, obs, cfg, act_rng, noise=True)
        action = sample_actions(visits, cfg.temperature(env_steps), act_rng)
        next_obs = obs.copy()
        reward = np.zeros(cfg.envs, dtype=np.float32)
        ended, ended_obs, ended_term = [], [], []
        for e, env in enumerate(envs):
            o, r, term, trunc, _ = env.step(int(action[e]))
            reward[e] = r
            episode_return[e] += r
            if term or trunc:
                ended.append(e), ended_obs.append(o), ended_term.append(bool(term))
                recent.append(float(episode_return[e]))
                episode_return[e], episodes = 0.0, episodes + 1
                o = env.reset()[0]
            next_obs[e] = o
        buffer.add_steps(obs, action, reward, visits / visits.sum(1, keepdims=True), root_value)
        if ended:
            e_idx, term_arr, final_obs = np.array(ended), np.array(ended_term), np.stack(ended_obs)
            final_value = np.zeros(len(ended))
            if (~term_arr).any():  # a time limit: bootstrap from the search value of the last observation
                final_value[~term_arr] = run_search(model, final_obs[~term_arr], cfg, act_rng, noise=False)[1]
            buffer.add_final(e_idx, final_obs, final_value, term_arr)
        obs = next_obs
        env_steps += cfg.envs

        cand = buffer.candidates(length - 1) if env_steps >= cfg.learning_starts else np.zeros(0, dtype=np.int64)
        if cand.size:
            for _ in range(cfg.updates_per_step):
                flat = cand[replay_rng.integers(cand.size, size=cfg.batch_size)]
                random_actions = replay_rng.integers(n_actions, size=(cfg.batch_size, cfg.unroll))
                win = buffer.window(flat, length, TARGET_FIELDS + (("obs",) if cfg.reanalyse > 0 else ()))
                n_re = int(round(cfg.reanalyse * cfg.batch_size))
                if n_re:
                    sub = {k: v[:n_re] for k, v in win.items()}  # views: reanalysed in place
                    reanalysed += reanalyse_window(model, sub, cfg, reanalyse_rng)
                tg = targets(win, random_actions, cfg.unroll, cfg.td_steps, cfg.discount)
                first_obs = win["obs"][:, 0] if "obs" in win else buffer.window(flat, 1, ("obs",))["obs"][:, 0]
                loss = muzero_loss(net, first_obs, tg, cfg, device)
                if cfg._inject_nan_at is not None and updates + 1 == cfg._inject_nan_at:
                    loss = loss * math.nan
                if not torch.isfinite(loss):
                    diverged_step = env_steps
                    break
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                updates += 1
                trained += cfg.batch_size
                loss_sum += float(loss.detach())
        if diverged_step is not None:
            break
        if env_steps % cfg.eval_every == 0 or it == cfg.iterations:
            curve_steps.append(env_steps)
            curve_returns.append(evaluate(net, cfg, seed, len(curve_steps) - 1, device))
            curve_flops.append(flops())
        report_progress(env_steps, cfg.steps, float(np.mean(recent)) if recent else None)
        if save is not None and it < cfg.iterations:
            model_samples = model.samples
            here = locals()
            save(it, {"iteration": it, "elapsed": time.perf_counter() - start, **{k: here[k] for k in RESUMABLE}})

    for env in envs:
        env.close()
    if diverged_step is not None:  # the evaluations it never reached
        for s in [s for s in range(cfg.eval_every, cfg.steps, cfg.eval_every)] + [cfg.steps]:
            if s > curve_steps[-1]:
                curve_steps.append(s)
                curve_returns.append(math.nan)
                curve_flops.append(math.nan)
    counts = net.params()
    member = MemberResult(
        seed=seed, metrics=curve_metrics(curve_returns), curve_steps=curve_steps, curve_returns=curve_returns,
        initial=untrained_metrics(curve_returns), diverged=diverged_step is not None, diverged_step=diverged_step,
        env_steps=env_steps, updates=updates, params=counts, flops=flops(), wall_time=time.perf_counter() - start,
        extra={"macs": macs, "unroll_macs": unroll_macs, "curve_flops": curve_flops, "episodes": episodes,
               "search_samples": dict(model.samples), "reanalysed_roots": reanalysed,
               "mean_loss": loss_sum / updates if updates and diverged_step is None else math.nan})
    return member, net


@trainer
def train(cfg: Config, seeds: Sequence[int], device: str = "cpu") -> RunResult:
    """Train one MuZero agent per seed (one after another). Resumable: a checkpoint holds the finished members
    and the running member's state (harness/checkpoint.py)."""
    dev = torch.device(device)
    ckpt = checkpoint.current()
    state = ckpt.load()
    members: list[MemberResult] = [] if state is None else list(state["members"])  # a copy: see "Resuming"
    resumed = len(members)  # the member the checkpoint was saved in

    for i in range(resumed, len(seeds)):
        def save(it: int, member_state: dict, i: int = i) -> None:
            if ckpt.due():
                ckpt.save({"step": i * cfg.iterations + it, "members": members, **member_state})
        resume = state if state is not None and i == resumed else None
        members.append(train_member(cfg, int(seeds[i]), dev, resume=resume, save=save)[0])
    return RunResult(members=members, config=asdict(cfg), device=str(dev))
