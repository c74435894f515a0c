"""DreamerV3 in miniature (Hafner, Pasukonis, Ba, Lillicrap 2023, arXiv:2301.04104), written from the paper.

World model. An RSSM: a deterministic state h (DreamerV3's GRU: one linear map of [input, h] with
LayerNorm, update gate biased by -1) and a stochastic state z of ``stoch`` categorical variables with
``classes`` classes each, mixed with 1% uniform ("unimix") and sampled with straight-through gradients.
The prior p(z_t | h_t) is what imagination uses; the posterior q(z_t | h_t, x_t) sees the observation's
embedding. Vector observations are symlog-squashed and encoded by an MLP; the decoder predicts symlog(x)
(squared error); the reward head predicts symlog(r) as a two-hot distribution over 255 bins spaced evenly
in symlog space from -20 to 20 (cross-entropy); the continue head predicts 1 - terminal (Bernoulli).
KL balancing with free bits: dyn = max(1, KL[sg(q) || p]), rep = max(1, KL[q || sg(p)]) (summed over the
latent variables, clamped at 1 nat), loss = prediction + 0.5 dyn + 0.1 rep. Every hidden layer is
Linear (no bias) -> LayerNorm -> SiLU. The reward and critic output layers start at zero.

Actor-critic in imagination. From every posterior state of a replayed batch (detached) the actor imagines
``horizon`` (15) steps in the prior. lambda-returns (gamma 0.997 = 1 - 1/333, lambda 0.95) bootstrap on
the critic (as the official code does; the slow critic is only a regularizer); imagined steps are weighted by the cumulative predicted continuation. Returns are
normalized by S = EMA_0.99(P95(R) - P5(R)), advantages (R - v) / max(1, S). The actor (discrete actions,
1% unimix) is trained with REINFORCE on the normalized advantage plus an entropy bonus 3e-4; the critic is a
two-hot distribution over the same bins, regressed to the returns and regularized towards the slow critic
(an EMA of its weights with rate 0.02 per update), both with weight 1.

Sizes. ``Config.size`` names a preset that scales every module together, as the paper's presets do
(deterministic state, hidden units, layers, latent variables and classes); every other setting is the
same at every size. ``PRESETS`` lists them and ``parameters(cfg)`` counts them.

Training loop. ``prefill`` uniformly random env steps, then one update of the world model and the
actor-critic every ``batch * seq_len / train_ratio`` env steps (train ratio = replayed steps per env
step; DreamerV3 used 512 on Crafter, here 64), on ``batch`` sequences of ``seq_len`` steps sampled
uniformly from the replay buffer (one stream per env, episode starts marked ``is_first``: the state and
previous action are zeroed there). Each replayed sequence starts from a zero state (DreamerV3 carries
the replayed state forward; not done here). Optimizers: Adam, world model lr 1e-4 (eps 1e-8, gradient norm
clipped at 1000), actor and critic lr 3e-5 (eps 1e-5, clipped at 100), as in the paper's first release.

Evaluation of the untrained agent at step 0, then every ``eval_every`` env steps and at the end:
``eval_episodes`` episodes with the actor's mode, on evaluation envs seeded by the seed only. Evaluation
samples the posterior latents from the member's "explore" generator, as acting does; the step-0 evaluation
restores that generator's state afterwards, so training is the same with or without it. Seeds train one
after another (harness/resume.py). Deterministic for a seed on CPU; a non-finite loss stops the member, which
is reported ``diverged`` with NaN metrics (its step-0 evaluation stays). Training compute (``MemberResult.flops``) is
counted by the 6N rule over the trained samples (see ``train_one``).

Resuming. After an env step, when the harness's checkpoint is due (harness/checkpoint.py), ``train_one``
saves every object in ``RESUMABLE``: the env (pickled whole, with its random generator and time limit), the
agent (networks, optimizers, the shared "explore" generator), the acting state, the replay buffer, the
replay and prefill generators and the curves so far. A resumed unit returns the record of an uninterrupted
run, bit for bit on CPU (tests/test_checkpoint.py). An env that pickles as its constructor's arguments
(gymnasium's ``EzPickle``: Box2D, MuJoCo) loses its state in a pickle, so such a unit saves no checkpoint
and says so on stderr.

Only Discrete action spaces and vector (Box) observations are supported (a CNN encoder for pixels is not
written); anything else is a clear error.
"""
from __future__ import annotations

import math
import sys
import time
from dataclasses import asdict, dataclass
from typing import Sequence

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from harness import resume
from harness.agents.common import training_flops
from harness.envs import derive_seed, env_seed, make_env
from harness.result import MemberResult, RunResult, curve_metrics, report_progress, trainer, untrained_metrics

PRESETS: dict[str, dict[str, int]] = {
    # deterministic state, hidden units, hidden layers per MLP, latent variables x classes
    "XS": dict(deter=64, units=64, layers=1, stoch=8, classes=8),
    "S": dict(deter=128, units=128, layers=2, stoch=16, classes=16),
    "M": dict(deter=256, units=256, layers=2, stoch=32, classes=16),
    "L": dict(deter=512, units=512, layers=3, stoch=32, classes=32),
}
BINS = 255


@dataclass(frozen=True)
class Config:
    env_id: str = "CartPole-v1"
    size: str = "S"
    """A key of ``PRESETS``: scales every module together."""
    steps: int = 30_000
    """Env steps per seed (prefill included)."""
    train_ratio: int = 64
    """Replayed steps per env step: one update every batch * seq_len / train_ratio env steps."""
    batch: int = 16
    seq_len: int = 64
    prefill: int = 1_000
    horizon: int = 15
    gamma: float = 1 - 1 / 333
    lam: float = 0.95
    model_lr: float = 1e-4
    ac_lr: float = 3e-5
    entropy: float = 3e-4
    free_nats: float = 1.0
    dyn_scale: float = 0.5
    rep_scale: float = 0.1
    unimix: float = 0.01
    slow_rate: float = 0.02
    retnorm_decay: float = 0.99
    eval_every: int = 5_000
    eval_episodes: int = 10
    max_episode_steps: int | None = None
    _inject_nan_at: int | None = None
    """Testing only: the update whose world-model loss is replaced by NaN."""

    def __post_init__(self) -> None:
        if self.size not in PRESETS:
            raise ValueError(f"unknown dreamer size {self.size!r}; presets: {', '.join(PRESETS)}")
        for name in ("steps", "train_ratio", "batch", "seq_len", "horizon", "eval_every", "eval_episodes"):
            if getattr(self, name) < 1:
                raise ValueError(f"dreamer Config.{name} must be >= 1, got {getattr(self, name)}")
        if self.prefill < self.seq_len:
            raise ValueError(f"prefill ({self.prefill}) must cover at least one sequence (seq_len {self.seq_len})")

    @property
    def every(self) -> float:
        """Env steps per update."""
        return self.batch * self.seq_len / self.train_ratio


# --- pure pieces (tested one by one) -------------------------------------------------------------------------

def symlog(x: Tensor) -> Tensor:
    return torch.sign(x) * torch.log1p(x.abs())


def symexp(x: Tensor) -> Tensor:
    return torch.sign(x) * torch.expm1(x.abs())


def bins(device: str | torch.device = "cpu") -> Tensor:
    return torch.linspace(-20.0, 20.0, BINS, device=device)


def twohot(y: Tensor, b: Tensor) -> Tensor:
    """Two-hot encoding of symlog(y) over the bins ``b``: weights on the two nearest bins, summing to 1."""
    x = symlog(y).clamp(b[0], b[-1])
    hi = torch.searchsorted(b, x.contiguous(), right=True).clamp(1, len(b) - 1)
    lo = hi - 1
    w_hi = ((x - b[lo]) / (b[hi] - b[lo])).clamp(0, 1)
    out = torch.zeros(*x.shape, len(b), device=x.device)
    out.scatter_(-1, lo.unsqueeze(-1), (1 - w_hi).unsqueeze(-1))
    out.scatter_add_(-1, hi.unsqueeze(-1), w_hi.unsqueeze(-1))
    return out


def twohot_mean(logits: Tensor, b: Tensor) -> Tensor:
    """The predicted value: symexp of the expected bin under softmax(logits)."""
    return symexp((logits.softmax(-1) * b).sum(-1))


def twohot_loss(logits: Tensor, y: Tensor, b: Tensor) -> Tensor:
    return -(twohot(y, b) * logits.log_softmax(-1)).sum(-1)


def unimix_probs(logits: Tensor, mix: float) -> Tensor:
    """Softmax over the last axis mixed with ``mix`` uniform: every class has probability >= mix / classes."""
    return (1 - mix) * logits.softmax(-1) + mix / logits.shape[-1]


def sample_index(probs: Tensor, gen: torch.Generator) -> Tensor:
    """One class per row of ``probs`` (..., classes) by inverse-CDF sampling from ``gen``."""
    u = torch.rand(probs.shape[:-1], generator=gen, device=probs.device).unsqueeze(-1)
    return (probs.cumsum(-1)[..., :-1] < u).sum(-1)


def categorical_kl(p: Tensor, q: Tensor) -> Tensor:
    """KL[p || q] of categorical variables (..., vars, classes), summed over the variables."""
    return (p * (p.log() - q.log())).sum((-2, -1))


def kl_losses(post: Tensor, prior: Tensor, free: float) -> tuple[Tensor, Tensor]:
    """(dyn, rep) with free bits: max(free, KL[sg(post) || prior]) and max(free, KL[post || sg(prior)])."""
    dyn = categorical_kl(post.detach(), prior).clamp(min=free)
    rep = categorical_kl(post, prior.detach()).clamp(min=free)
    return dyn, rep


def lambda_returns(reward: Tensor, value: Tensor, discount: Tensor, lam: float) -> Tensor:
    """R_t = r_{t+1} + d_{t+1} ((1 - lam) v_{t+1} + lam R_{t+1}), R_H = v_H; inputs (H+1, N) indexed by
    imagined state (reward[t] and discount[t] are predicted at state t); returns (H, N) for t = 0..H-1."""
    out = [value[-1]]
    for t in reversed(range(len(value) - 1)):
        out.append(reward[t + 1] + discount[t + 1] * ((1 - lam) * value[t + 1] + lam * out[-1]))
    return torch.stack(out[::-1][:-1])


class ReturnNorm:
    """S = EMA of (95th - 5th percentile of the returns); advantages are divided by max(1, S)."""

    def __init__(self, decay: float):
        self.decay, self.scale = decay, None

    def update(self, returns: Tensor) -> float:
        r = returns.detach().flatten().float()
        spread = float(torch.quantile(r, 0.95) - torch.quantile(r, 0.05))
        self.scale = spread if self.scale is None else self.decay * self.scale + (1 - self.decay) * spread
        return max(1.0, self.scale)


def ema_(target: nn.Module, source: nn.Module, rate: float) -> None:
    """target <- (1 - rate) target + rate source."""
    with torch.no_grad():
        for t, s in zip(target.parameters(), source.parameters()):
            t.lerp_(s, rate)


# --- networks ------------------------------------------------------------------------------------------------

def mlp(inp: int, units: int, layers: int, out: int | None = None) -> nn.Sequential:
    mods: list[nn.Module] = []
    for i in range(layers):
        mods += [nn.Linear(inp if i == 0 else units, units, bias=False), nn.LayerNorm(units), nn.SiLU()]
    if out is not None:
        mods.append(nn.Linear(units if layers else inp, out))
    return nn.Sequential(*mods)


def zero_last(m: nn.Sequential) -> nn.Sequential:
    with torch.no_grad():
        m[-1].weight.zero_()
        m[-1].bias.zero_()
    return m


class GRU(nn.Module):
    """DreamerV3's GRU cell: LayerNorm over one linear map of [x, h]; update gate biased by -1."""

    def __init__(self, inp: int, deter: int):
        super().__init__()
        self.lin = nn.Linear(inp + deter, 3 * deter, bias=False)
        self.norm = nn.LayerNorm(3 * deter)

    def forward(self, x: Tensor, h: Tensor) -> Tensor:
        reset, cand, update = self.norm(self.lin(torch.cat([x, h], -1))).chunk(3, -1)
        cand = torch.tanh(torch.sigmoid(reset) * cand)
        update = torch.sigmoid(update - 1)
        return update * cand + (1 - update) * h


class WorldModel(nn.Module):
    def __init__(self, obs_dim: int, actions: int, p: dict[str, int], unimix: float):
        super().__init__()
        self.stoch, self.classes, self.deter, self.actions, self.unimix = (p["stoch"], p["classes"], p["deter"],
                                                                          actions, unimix)
        units, layers, z = p["units"], p["layers"], p["stoch"] * p["classes"]
        self.encoder = mlp(obs_dim, units, layers)
        self.img_in = mlp(z + actions, units, 1)
        self.gru = GRU(units, p["deter"])
        self.prior_net = mlp(p["deter"], units, 1, z)
        self.post_net = mlp(p["deter"] + units, units, 1, z)
        feat = p["deter"] + z
        self.decoder = mlp(feat, units, layers, obs_dim)
        self.reward = zero_last(mlp(feat, units, layers, BINS))
        self.cont = mlp(feat, units, layers, 1)

    @property
    def feat_dim(self) -> int:
        return self.deter + self.stoch * self.classes

    def initial(self, n: int, device) -> tuple[Tensor, Tensor]:
        return torch.zeros(n, self.deter, device=device), torch.zeros(n, self.stoch * self.classes, device=device)

    def probs(self, logits: Tensor) -> Tensor:
        return unimix_probs(logits.view(*logits.shape[:-1], self.stoch, self.classes), self.unimix)

    def sample(self, probs: Tensor, gen: torch.Generator) -> Tensor:
        """One-hot samples with straight-through gradients, flattened to (..., stoch * classes)."""
        onehot = F.one_hot(sample_index(probs.detach(), gen), self.classes).to(probs.dtype)
        return (onehot + probs - probs.detach()).flatten(-2)

    def img_step(self, h: Tensor, z: Tensor, action: Tensor) -> Tensor:
        """Next deterministic state from (h, z) and a one-hot action."""
        return self.gru(self.img_in(torch.cat([z, action], -1)), h)

    def prior(self, h: Tensor) -> Tensor:
        return self.probs(self.prior_net(h))

    def post(self, h: Tensor, embed: Tensor) -> Tensor:
        return self.probs(self.post_net(torch.cat([h, embed], -1)))

    def observe(self, obs: Tensor, action: Tensor, first: Tensor, gen: torch.Generator):
        """Posterior rollout over a batch of sequences (B, T, ...). ``action[:, t]`` is taken at step t; the
        state and previous action are zeroed where ``first``. Returns feats (B, T, F), post and prior
        probabilities (B, T, stoch, classes)."""
        b, t_len = obs.shape[:2]
        embed = self.encoder(symlog(obs))
        h, z = self.initial(b, obs.device)
        prev_a = torch.zeros(b, self.actions, device=obs.device)
        hs, zs, posts = [], [], []
        for t in range(t_len):
            keep = (1 - first[:, t]).unsqueeze(-1)
            h, z, prev_a = h * keep, z * keep, prev_a * keep
            h = self.img_step(h, z, prev_a)
            post = self.post(h, embed[:, t])
            z = self.sample(post, gen)
            hs.append(h)
            zs.append(z)
            posts.append(post)
            prev_a = action[:, t]
        h = torch.stack(hs, 1)
        return torch.cat([h, torch.stack(zs, 1)], -1), torch.stack(posts, 1), self.prior(h)


class ActorCritic(nn.Module):
    def __init__(self, feat: int, actions: int, p: dict[str, int]):
        super().__init__()
        self.actor = mlp(feat, p["units"], p["layers"], actions)
        self.critic = zero_last(mlp(feat, p["units"], p["layers"], BINS))


def parameters(cfg: Config, obs_dim: int = 4, actions: int = 2) -> int:
    """Parameters of the world model, actor and critic of a preset (the slow critic not counted)."""
    p = PRESETS[cfg.size]
    wm = WorldModel(obs_dim, actions, p, cfg.unimix)
    ac = ActorCritic(wm.feat_dim, actions, p)
    return sum(x.numel() for x in [*wm.parameters(), *ac.parameters()])


# --- replay ------------------------------------------------------------------------------------------------

class Replay:
    """One stream of steps: obs_t, the action taken at t (zeros at an episode's last step), reward_t and
    cont_t (received on arriving at obs_t), is_first_t. Sequences are sampled uniformly."""

    def __init__(self, capacity: int, obs_dim: int, actions: int):
        self.obs = np.zeros((capacity, obs_dim), np.float32)
        self.action = np.zeros((capacity, actions), np.float32)
        self.reward = np.zeros(capacity, np.float32)
        self.cont = np.ones(capacity, np.float32)
        self.first = np.zeros(capacity, np.float32)
        self.size = 0

    def add(self, obs, reward: float, cont: float, first: bool) -> int:
        i = self.size
        self.obs[i], self.reward[i], self.cont[i], self.first[i] = obs, reward, cont, first
        self.size += 1
        return i

    def sample(self, rng: np.random.Generator, batch: int, length: int, device) -> dict[str, Tensor]:
        starts = rng.integers(0, self.size - length + 1, batch)
        idx = starts[:, None] + np.arange(length)
        out = {k: torch.as_tensor(getattr(self, k)[idx], device=device)
               for k in ("obs", "action", "reward", "cont", "first")}
        out["first"][:, 0] = 1.0  # every replayed sequence starts from a zero state
        return out


# --- training ------------------------------------------------------------------------------------------------

class Agent:
    """The networks, optimizers and one update step of one seed."""

    def __init__(self, cfg: Config, obs_dim: int, actions: int, device, gen: torch.Generator):
        p = PRESETS[cfg.size]
        self.cfg, self.actions, self.device, self.gen = cfg, actions, device, gen
        self.wm = WorldModel(obs_dim, actions, p, cfg.unimix).to(device)
        self.ac = ActorCritic(self.wm.feat_dim, actions, p).to(device)
        self.slow = ActorCritic(self.wm.feat_dim, actions, p).to(device)
        self.slow.load_state_dict(self.ac.state_dict())
        self.bins = bins(device)
        self.wm_opt = torch.optim.Adam(self.wm.parameters(), lr=cfg.model_lr, eps=1e-8)
        self.actor_opt = torch.optim.Adam(self.ac.actor.parameters(), lr=cfg.ac_lr, eps=1e-5)
        self.critic_opt = torch.optim.Adam(self.ac.critic.parameters(), lr=cfg.ac_lr, eps=1e-5)
        self.retnorm = ReturnNorm(cfg.retnorm_decay)

    def policy(self, feat: Tensor, mode: bool = False) -> tuple[Tensor, Tensor]:
        """(one-hot action, probabilities) of the actor at ``feat``."""
        probs = unimix_probs(self.ac.actor(feat), self.cfg.unimix)
        idx = probs.argmax(-1) if mode else sample_index(probs.detach(), self.gen)
        return F.one_hot(idx, self.actions).float(), probs

    def update(self, batch: dict[str, Tensor], inject_nan: bool = False) -> dict[str, float] | None:
        """One world-model and one actor-critic update; None if a loss is not finite (nothing is stepped)."""
        cfg = self.cfg
        feats, post, prior = self.wm.observe(batch["obs"], batch["action"], batch["first"], self.gen)
        recon = (self.wm.decoder(feats) - symlog(batch["obs"])).square().sum(-1)
        rew = twohot_loss(self.wm.reward(feats), batch["reward"], self.bins)
        cont = F.binary_cross_entropy_with_logits(self.wm.cont(feats).squeeze(-1), batch["cont"], reduction="none")
        dyn, rep = kl_losses(post, prior, cfg.free_nats)
        wm_loss = (recon + rew + cont + cfg.dyn_scale * dyn + cfg.rep_scale * rep).mean()
        if inject_nan:
            wm_loss = wm_loss * math.nan

        # imagination from every posterior state, in the prior, with the world model frozen
        start = feats.detach().flatten(0, 1)
        h, z = start[:, :self.wm.deter], start[:, self.wm.deter:]
        states, logps, ents = [start], [], []
        for _ in range(cfg.horizon):
            a, probs = self.policy(states[-1].detach())
            logps.append((a * probs.log()).sum(-1))
            ents.append(-(probs * probs.log()).sum(-1))
            with torch.no_grad():
                h = self.wm.img_step(h, z, a)
                z = self.wm.sample(self.wm.prior(h), self.gen)
            states.append(torch.cat([h, z], -1))
        traj = torch.stack(states).detach()  # (H+1, N, F)
        with torch.no_grad():  # reward and continuation at the start state are not predicted: not used / known
            reward = F.pad(twohot_mean(self.wm.reward(traj[1:]), self.bins), (0, 0, 1, 0))
            discount = cfg.gamma * torch.cat([batch["cont"].flatten()[None],
                                              torch.sigmoid(self.wm.cont(traj[1:]).squeeze(-1))])
            slow_v = twohot_mean(self.slow.critic(traj[:-1]), self.bins)
        critic_logits = self.ac.critic(traj)
        with torch.no_grad():
            v = twohot_mean(critic_logits, self.bins)
            ret = lambda_returns(reward, v, discount, cfg.lam)  # (H, N)
            weight = torch.cumprod(discount[:-1], 0) / cfg.gamma  # 0 from a terminal start state on
            scale = self.retnorm.update(ret)
        adv = (ret - v[:-1]) / scale
        actor_loss = -(weight * (torch.stack(logps) * adv + cfg.entropy * torch.stack(ents))).mean()
        # cross-entropy to the returns plus cross-entropy to the slow critic, with one log-softmax
        targets = twohot(ret, self.bins) + twohot(slow_v, self.bins)
        critic_loss = (weight * -(targets * critic_logits[:-1].log_softmax(-1)).sum(-1)).mean()
        losses = {"world_model": wm_loss, "actor": actor_loss, "critic": critic_loss}
        if not all(torch.isfinite(x) for x in losses.values()):
            return None
        for opt, loss, params, clip in ((self.wm_opt, wm_loss, self.wm.parameters(), 1000.0),
                                        (self.actor_opt, actor_loss, self.ac.actor.parameters(), 100.0),
                                        (self.critic_opt, critic_loss, self.ac.critic.parameters(), 100.0)):
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(params, clip)
            opt.step()
        ema_(self.slow, self.ac, cfg.slow_rate)
        return {k: float(x.detach()) for k, x in {**losses, "recon": recon.mean(), "reward": rew.mean(),
                                         "dyn": dyn.mean(), "rep": rep.mean()}.items()}


class Actor:
    """Acts in one env with the posterior state, carried across steps and zeroed at episode starts."""

    def __init__(self, agent: Agent):
        self.agent = agent
        self.reset()

    def reset(self) -> None:
        wm = self.agent.wm
        self.h, self.z = wm.initial(1, self.agent.device)
        self.prev = torch.zeros(1, wm.actions, device=self.agent.device)

    @torch.no_grad()
    def __call__(self, obs: np.ndarray, mode: bool = False) -> Tensor:
        wm = self.agent.wm
        x = torch.as_tensor(obs, dtype=torch.float32, device=self.agent.device)[None]
        self.h = wm.img_step(self.h, self.z, self.prev)
        self.z = wm.sample(wm.post(self.h, wm.encoder(symlog(x))), self.agent.gen)
        self.prev, _ = self.agent.policy(torch.cat([self.h, self.z], -1), mode)
        return self.prev[0]


def evaluate(agent: Agent, cfg: Config, seed: int) -> float:
    """Mean return of ``eval_episodes`` episodes with the actor's mode; episode k starts from
    reset(seed=derive_seed(seed, "eval") + k), the same at every size."""
    env = gym.make(cfg.env_id, max_episode_steps=cfg.max_episode_steps) if cfg.max_episode_steps \
        else gym.make(cfg.env_id)
    actor, total = Actor(agent), 0.0
    try:
        for k in range(cfg.eval_episodes):
            obs, _ = env.reset(seed=env_seed(cfg.env_id, derive_seed(seed, "eval") + k))
            actor.reset()
            done = False
            while not done:
                a = int(actor(obs.ravel(), mode=True).argmax())
                obs, r, term, trunc, _ = env.step(a)
                total += float(r)
                done = term or trunc
    finally:
        env.close()
    return total / cfg.eval_episodes


@trainer
def train(cfg: Config, seeds: Sequence[int], device: str = "cpu") -> RunResult:
    """Train one agent per seed, one after another, resuming the unit's checkpoint if it has one."""
    members = resume.in_turn(seeds, cfg.steps, lambda seed, state, save: train_one(cfg, seed, device, state, save)[0])
    return RunResult(members=members, config=asdict(cfg), device=device)


RESUMABLE = ("env", "obs", "agent", "actor", "replay", "rng", "act_rng", "i", "curve_steps", "curve", "losses",
             "updates", "owed", "next_eval")
"""What a checkpoint of a member holds besides its step, torch's global generator and the elapsed time."""


def train_one(cfg: Config, seed: int, device: str = "cpu", state: dict | None = None,
              save: resume.Save | None = None) -> tuple[MemberResult, Agent]:
    """One seed. ``state``: what ``save`` was given, to continue after its step (harness/resume.py)."""
    start = time.perf_counter()
    kwargs = {"max_episode_steps": cfg.max_episode_steps} if cfg.max_episode_steps else {}
    env = make_env(cfg.env_id, seed, **kwargs)
    if not isinstance(env.action_space, gym.spaces.Discrete):
        raise ValueError(f"dreamer supports Discrete action spaces only; {cfg.env_id} has {env.action_space}")
    if not isinstance(env.observation_space, gym.spaces.Box):
        raise ValueError(f"dreamer needs vector (Box) observations; {cfg.env_id} has {env.observation_space}")
    if save is not None and isinstance(env.unwrapped, gym.utils.EzPickle):
        print(f"dreamer: {cfg.env_id} pickles without its state (gymnasium's EzPickle), so this unit saves no "
              "checkpoint: an interrupted run starts again", file=sys.stderr)
        save = None
    obs_dim, actions = int(np.prod(env.observation_space.shape)), int(env.action_space.n)
    if state is None:
        torch.manual_seed(derive_seed(seed, "init") & 0xFFFF_FFFF)
        gen = torch.Generator(device=device).manual_seed(derive_seed(seed, "explore") & 0xFFFF_FFFF)
        rng = np.random.default_rng(derive_seed(seed, "replay"))
        act_rng = np.random.default_rng(derive_seed(seed, "prefill"))
        agent = Agent(cfg, obs_dim, actions, device, gen)
        actor = Actor(agent)
        replay = Replay(2 * cfg.steps + 1, obs_dim, actions)  # an episode's end adds its next first step

        # step 0: the untrained agent, evaluated as every later evaluation is; it draws the posterior latents
        # from ``gen``, which training uses too, so its state is put back and training stays as it is without it
        gen_state = gen.get_state()
        curve_steps, curve, losses = [0], [evaluate(agent, cfg, seed)], []
        gen.set_state(gen_state)

        obs, _ = env.reset(seed=env_seed(cfg.env_id, derive_seed(seed, "env")))
        i = replay.add(obs.ravel(), 0.0, 1.0, True)
        updates, owed = 0, 0.0
        next_eval = min(cfg.eval_every, cfg.steps)
        first = 1
    else:  # resume: every object that carries state, as it was after step state["member_step"]
        env.close()
        (env, obs, agent, actor, replay, rng, act_rng, i, curve_steps, curve, losses, updates, owed,
         next_eval) = (state[k] for k in RESUMABLE)
        torch.set_rng_state(state["torch_rng"])
        start, first = time.perf_counter() - state["elapsed"], state["member_step"] + 1
    diverged_step = None
    for step in range(first, cfg.steps + 1):
        if step <= cfg.prefill:
            a = np.eye(actions, dtype=np.float32)[act_rng.integers(actions)]
            actor(obs.ravel())  # keeps the acting state in step with the stream
            actor.prev = torch.as_tensor(a, device=device)[None]
        else:
            a = actor(obs.ravel()).cpu().numpy()
        replay.action[i] = a
        obs, r, term, trunc, _ = env.step(int(a.argmax()))
        i = replay.add(obs.ravel(), float(r), 0.0 if term else 1.0, False)
        if term or trunc:
            replay.action[i] = 0.0
            obs, _ = env.reset()
            actor.reset()
            i = replay.add(obs.ravel(), 0.0, 1.0, True) if step < cfg.steps else i
        if step >= cfg.prefill:
            owed += 1.0 / cfg.every
            while owed >= 1.0:
                owed -= 1.0
                out = agent.update(replay.sample(rng, cfg.batch, cfg.seq_len, device),
                                   inject_nan=cfg._inject_nan_at == updates + 1)
                if out is None:
                    diverged_step = step
                    break
                updates += 1
                losses.append(out)
        if diverged_step is not None:
            curve_steps.append(step)
            curve.append(math.nan)
            break
        if step >= next_eval:
            curve_steps.append(step)
            curve.append(evaluate(agent, cfg, seed))
            next_eval = min(next_eval + cfg.eval_every, cfg.steps)
            report_progress(step, cfg.steps, curve[-1])
        if save is not None:
            here = locals()
            save(step, lambda: {"elapsed": time.perf_counter() - start, "torch_rng": torch.get_rng_state(),
                                **{k: here[k] for k in RESUMABLE}})
    env.close()
    n_wm = sum(x.numel() for x in agent.wm.parameters())
    n_ac = sum(x.numel() for x in agent.ac.parameters())
    # Training compute (6N rule), approximately: per update the world model trains on batch x seq_len replayed
    # steps and the actor-critic on batch x seq_len (starts) x horizon imagined states; forward-only passes
    # (the world model imagining, the slow critic's targets, acting in the env) are not counted.
    flops = (training_flops(n_wm, trained=updates * cfg.batch * cfg.seq_len)
             + training_flops(n_ac, trained=updates * cfg.batch * cfg.seq_len * cfg.horizon))
    member = MemberResult(
        seed=int(seed), metrics=curve_metrics(curve), curve_steps=curve_steps, curve_returns=curve,
        initial=untrained_metrics(curve), diverged=diverged_step is not None, diverged_step=diverged_step,
        env_steps=curve_steps[-1], updates=updates,
        params={"world_model": n_wm, "actor_critic": n_ac, "total": n_wm + n_ac}, flops=flops,
        wall_time=time.perf_counter() - start,
        extra={"size": cfg.size, **PRESETS[cfg.size],
               "final_losses": {k: float(np.mean([d[k] for d in losses[-50:]])) for k in losses[0]} if losses else {}})
    return member, agent
