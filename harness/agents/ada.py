"""In-context adaptation in miniature (AdA, Adaptive Agent Team 2023, arXiv:2301.07608): a causal
transformer over (observation, previous action, previous reward) tokens with a bounded context, trained
with PPO across a task distribution (RL^2: Duan et al. 2016, arXiv:1611.02779; Wang et al. 2016).

Memory. Each env step is one token: [observation, one-hot previous action, previous reward] (zeros for
the first step of an episode; the task's observation carries the trial-start flag and the trial index).
Every attention layer lets step t attend to steps t - context + 1 .. t of the SAME episode (sliding-window
attention: a banded causal mask that also cuts at episode starts), as Transformer-XL's memory does per
layer; a token therefore reaches ``memory_reach = layers * (context - 1) + 1`` steps back, and nothing
older can change the logits (tests/test_ada.py perturbs tokens to show it). Acting attends, one query per
step, to the keys and values cached at earlier steps (``Memory``); the PPO update recomputes every step of
the rollout in one pass over the kept tokens; both compute the same numbers (tested). Memory is not reset
between trials: trials are the task's business. Blocks are pre-LayerNorm (attention, then a 4x GELU MLP);
no positional embedding (the causal mask orders tokens; the observation carries trial and step features).

PPO. Rollouts of ``rollout`` steps from ``num_envs`` environments; each env's tokens of the current
episode before the rollout are kept, so the update recomputes every step's logits from exactly the tokens
it acted on. Minibatches split the environments (whole sequences). GAE stops at episode ends; clipped
surrogate, entropy bonus, a value loss on normalized targets (``ReturnScale``), advantage normalization
over the minibatch, Adam with a linearly annealed lr and gradient-norm clipping: the defaults of
``harness.agents.ppo`` unless a field says otherwise.

Evaluation (of the untrained policy at step 0, then every ``eval_every`` env steps and at the end): one
episode on each of ``eval_tasks`` held-out tasks (never in the training pool), actions sampled from the
policy, memory starting empty. Recorded per task: the score of every trial (bandits: expected reward, see
``evaluate``). Metrics: ``final_return``/``auc_return`` (mean episode score, from the curve of
evaluations after step 0), ``gain_median`` and ``gain_p20`` (last trial minus first trial: median and 20th
percentile over held-out tasks, as AdA reports), ``gain_mean``, ``first_trial``, ``last_trial``, and for
bandits ``normalized_score`` = (agent - random) / (best reference policy - random) on the same tasks and
``last_share_median``/``last_share_p20`` (the last trial's score over the task's best, pulls x its best arm's
mean: median and 20th percentile over held-out tasks), all of the last evaluation; ``MemberResult.initial``
holds the same metrics of the step-0 evaluation.
Evaluation has its own env and action streams (``evaluate``), so it draws nothing that training uses.

Seeds are trained one after another (a transformer ensemble would need batched attention weights; not
done; harness/resume.py). Resuming: after an update, when the harness's checkpoint is due
(harness/checkpoint.py), ``train_one`` saves every object in ``RESUMABLE`` (the policy and its optimizer, the
training env with its task pool and random generator, the memory, the action generator, the value
normalizer and the curves so far); a resumed unit returns the record of an uninterrupted run, bit for bit on
CPU (tests/test_checkpoint.py). Deterministic for a seed on CPU; a member whose loss goes non-finite stops
training and is reported ``diverged`` with NaN metrics.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from functools import partial
from typing import Sequence

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from harness import resume
from harness.agents.common import gae, training_flops
from harness.envs import derive_seed
from harness.result import (AUC_RETURN, FINAL_RETURN, INITIAL_RETURN, MemberResult, RunResult, curve_metrics,
                            report_progress, trainer, untrained_metrics)
from harness.tasks import TaskPool, bandits, darkroom

TASKS = ("bandits", "darkroom")
METRICS = (INITIAL_RETURN, FINAL_RETURN, AUC_RETURN, "gain_median", "gain_p20", "gain_mean", "first_trial",
           "last_trial", "normalized_score", "last_share_median", "last_share_p20")
"""What a claim may test (checked at collection); ``normalized_score`` and ``last_share_*`` are bandits' only."""


@dataclass(frozen=True)
class Config:
    task: str = "bandits"
    """"bandits" (harness/tasks/bandits.py: ``arms`` arms, 4 trials of 10 pulls) or "darkroom"
    (harness/tasks/darkroom.py: 5x5, 4 trials of at most 12 steps)."""
    arms: int = bandits.K
    """Bandits only: arms per task (5: a trial of 10 pulls can try every arm twice; more arms than pulls make
    what is learnt keep accumulating over the trials)."""
    pool: int | None = None
    """Training tasks: a finite pool of this many, or None for unlimited (a fresh task per episode)."""
    context: int = 40
    """Attention span per layer in env steps (the current one included); see ``memory_reach``."""
    width: int = 64
    """Transformer width (d_model)."""
    layers: int = 2
    heads: int = 4
    steps: int = 1_000_000
    """Env steps per seed, over all environments."""
    num_envs: int = 64
    rollout: int = 40
    epochs: int = 4
    minibatches: int = 4
    lr: float = 3e-4
    anneal_lr: bool = True
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip: float = 0.2
    ent_coef: float = 0.01
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    eval_every: int = 200_000
    eval_tasks: int = 200
    _inject_nan_at: int | None = None
    """Testing only: the update whose loss is replaced by NaN."""

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {self.task!r}")
        if self.task != "bandits" and self.arms != bandits.K:
            raise ValueError(f"ada Config.arms is for task='bandits' only; leave it at {bandits.K} for {self.task!r}")
        if self.num_envs % self.minibatches:
            raise ValueError(f"num_envs ({self.num_envs}) must be divisible by minibatches ({self.minibatches})")
        if self.width % self.heads:
            raise ValueError(f"width ({self.width}) must be divisible by heads ({self.heads})")
        for name in ("arms", "context", "width", "layers", "steps", "num_envs", "rollout", "eval_every", "eval_tasks"):
            if getattr(self, name) < 1:
                raise ValueError(f"ada Config.{name} must be >= 1, got {getattr(self, name)}")

    @property
    def memory_reach(self) -> int:
        """How many steps back (the current one included) can influence the logits."""
        return self.layers * (self.context - 1) + 1

    @property
    def updates(self) -> int:
        return max(1, self.steps // (self.num_envs * self.rollout))


def trial_length(cfg: Config) -> int:
    """The longest trial of the task, in env steps."""
    return bandits.PULLS if cfg.task == "bandits" else darkroom.STEPS


def context_for(trials: float, cfg: Config) -> int:
    """The per-layer context whose ``memory_reach`` covers ``trials`` whole trials before the current step
    (rounded up to the next step the layers can reach)."""
    return math.ceil(trials * trial_length(cfg) / cfg.layers) + 1


def claim_config(settings, **level) -> Config:
    """The configuration the ada_* claims share, everything but the claim's own axis (``level``) held fixed:
    bandits, width 32, 2 layers, 4 heads, a memory reaching the whole episode (context 21: 41 steps), an
    unlimited task pool, 32 envs x 40-step rollouts, lr 1e-3 (validated: tests/test_ada.py). ``settings``
    (params.yaml) gives steps, eval_every and eval_tasks."""
    base = dict(task="bandits", width=32, layers=2, heads=4, context=21, pool=None, num_envs=32, lr=1e-3,
                steps=settings.steps, eval_every=settings.eval_every, eval_tasks=settings.eval_tasks)
    return Config(**{**base, **level})


def make_env(cfg: Config, num_envs: int, seed: int, tasks: np.ndarray | None = None):
    if cfg.task == "bandits":
        pool = None if tasks is not None else TaskPool(partial(bandits.sample_tasks, k=cfg.arms), cfg.pool, seed)
        return bandits.Bandits(num_envs, pool=pool, k=cfg.arms, tasks=tasks, seed=seed)
    pool = None if tasks is not None else darkroom.training_pool(cfg.pool, seed)
    return darkroom.DarkRoom(num_envs, pool=pool, tasks=tasks, seed=seed)


def episode_cap(cfg: Config) -> int:
    """The longest episode of the task, in env steps."""
    return bandits.PULLS * bandits.TRIALS if cfg.task == "bandits" else darkroom.STEPS * darkroom.TRIALS


def held_out(cfg: Config, n: int) -> np.ndarray:
    """The held-out tasks (the same for every seed and level, so levels are compared on the same tasks)."""
    if cfg.task == "bandits":
        return bandits.held_out_tasks(n, cfg.arms)
    tasks = darkroom.split()[1]
    return tasks[np.arange(n) % len(tasks)]


class Block(nn.Module):
    def __init__(self, d: int, heads: int):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def forward(self, x: Tensor, mask: Tensor, past: tuple[Tensor, Tensor] | None = None):
        """x (B, S, D); mask (B, S, keys) over [past keys, these S]; past: cached (keys, values) of earlier
        steps, (B, heads, P, D/heads). Returns the new x and the keys and values of [past, these S]."""
        b, s, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, s, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        if past is not None:
            k, v = torch.cat([past[0], k], 2), torch.cat([past[1], v], 2)
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask.unsqueeze(1))
        x = x + self.proj(a.transpose(1, 2).reshape(b, s, d))
        return x + self.mlp(self.ln2(x)), k, v


class Policy(nn.Module):
    """Token embedding -> ``layers`` blocks -> LayerNorm -> policy logits and value."""

    def __init__(self, token_dim: int, actions: int, cfg: Config):
        super().__init__()
        self.context, self.heads = cfg.context, cfg.heads
        self.embed = nn.Linear(token_dim, cfg.width)
        self.blocks = nn.ModuleList(Block(cfg.width, cfg.heads) for _ in range(cfg.layers))
        self.ln = nn.LayerNorm(cfg.width)
        self.pi, self.v = nn.Linear(cfg.width, actions), nn.Linear(cfg.width, 1)
        with torch.no_grad():
            self.pi.weight.mul_(0.01)
            self.pi.bias.zero_()

    def mask(self, episode: Tensor) -> Tensor:
        """(B, S, S) True where query i may attend key j: j <= i, i - j < context, same episode."""
        s = episode.shape[1]
        i = torch.arange(s)
        band = (i[None, :] <= i[:, None]) & (i[:, None] - i[None, :] < self.context)
        return band[None] & (episode[:, :, None] == episode[:, None, :])

    def _heads(self, x: Tensor) -> tuple[Tensor, Tensor]:
        x = self.ln(x)
        return self.pi(x), self.v(x).squeeze(-1)

    def forward(self, tokens: Tensor, episode: Tensor) -> tuple[Tensor, Tensor]:
        """tokens (B, S, D), episode ids (B, S) -> logits (B, S, A), values (B, S): every step at once."""
        x = self.embed(tokens)
        m = self.mask(episode)
        for blk in self.blocks:
            x = blk(x, m)[0]
        return self._heads(x)

    def act(self, token: Tensor, episode: Tensor, mem: "Memory", push: bool = True) -> tuple[Tensor, Tensor]:
        """One step for every env: token (B, D), episode ids (B,) -> logits (B, A), values (B,), attending to
        the keys and values ``mem`` cached at earlier steps (the same numbers ``forward`` computes over the
        whole sequence). ``push`` appends this step to ``mem``."""
        keys_episode = torch.cat([mem.kv_episode, episode[:, None]], 1)
        mask = (keys_episode == episode[:, None])[:, None, :]
        x, kv = self.embed(token)[:, None], []
        for blk, past in zip(self.blocks, mem.kv):
            x, k, v = blk(x, mask, past)
            kv.append((k, v))
        if push:
            mem.push(token, episode, kv, keys_episode)
        logits, value = self._heads(x[:, 0])
        return logits, value


class ReturnScale:
    """Value normalization: the critic predicts (return - mean) / std under running statistics of the
    value targets (as MAPPO does). With a trunk shared by policy and value, raw returns of 20-30 make the
    value loss dwarf the policy's gradient after clipping; measured: bandits at 400k steps reached a
    normalized score of 0.15 without this and 0.75 with the value loss scaled down."""

    def __init__(self):
        self.mean, self.var, self.count = 0.0, 1.0, 1e-4

    def update(self, x: Tensor) -> None:
        m, v, n = float(x.mean()), float(x.var(unbiased=False)), x.numel()
        delta, total = m - self.mean, self.count + n
        self.mean += delta * n / total
        self.var = (self.var * self.count + v * n + delta ** 2 * self.count * n / total) / total
        self.count = total

    def normalize(self, x: Tensor) -> Tensor:
        return (x - self.mean) / math.sqrt(self.var + 1e-8)

    def denormalize(self, x: Tensor) -> Tensor:
        return x * math.sqrt(self.var + 1e-8) + self.mean


class Memory:
    """What each env remembers of its current episode: the last ``history`` tokens and their episode ids
    (the context the PPO update recomputes from), and per layer the keys and values of the last
    ``context - 1`` steps (what acting attends to: one query per step, no recomputation). Episode id -1
    marks an empty slot, which nothing attends to."""

    def __init__(self, policy: Policy, n: int, history: int, token_dim: int, span: int):
        width = policy.embed.out_features
        self.tokens = torch.zeros(n, history, token_dim)
        self.episode = torch.full((n, history), -1, dtype=torch.long)
        empty = torch.zeros(n, policy.heads, span, width // policy.heads)
        self.kv = [(empty, empty) for _ in policy.blocks]
        self.kv_episode = torch.full((n, span), -1, dtype=torch.long)

    def push(self, token: Tensor, episode: Tensor, kv: list[tuple[Tensor, Tensor]], kv_episode: Tensor) -> None:
        if self.tokens.shape[1]:
            self.tokens = torch.cat([self.tokens[:, 1:], token[:, None]], 1)
            self.episode = torch.cat([self.episode[:, 1:], episode[:, None]], 1)
        self.kv = [(k[:, :, 1:], v[:, :, 1:]) for k, v in kv]
        self.kv_episode = kv_episode[:, 1:]


def memory(policy: Policy, cfg: Config, n: int, token_dim: int) -> Memory:
    """Memory for ``n`` envs: tokens as far back as the logits can reach, keys and values one span back
    (both capped by the longest episode, since memory stops at an episode's start)."""
    cap = episode_cap(cfg)
    return Memory(policy, n, min(cfg.memory_reach, cap) - 1, token_dim, min(cfg.context, cap) - 1)


def _token(obs: np.ndarray, prev_a: np.ndarray, prev_r: np.ndarray, actions: int) -> Tensor:
    onehot = np.zeros((len(obs), actions), np.float32)
    has = prev_a >= 0
    onehot[np.arange(len(obs))[has], prev_a[has]] = 1.0
    return torch.as_tensor(np.concatenate([obs, onehot, prev_r[:, None].astype(np.float32)], 1))


def sample(logits: Tensor, gen: torch.Generator) -> Tensor:
    """One action per row of ``logits`` by inverse-CDF sampling from ``gen`` (deterministic for its seed)."""
    u = torch.rand(len(logits), generator=gen)
    return (u[:, None] > torch.softmax(logits, -1).cumsum(-1)[:, :-1]).sum(-1)


def evaluate(policy: Policy, cfg: Config, tasks: np.ndarray, actions: int) -> np.ndarray:
    """Scores per trial on each held-out task: (n_tasks, trials), one episode each, memory empty, actions
    sampled from the policy (its exploration is part of what it learned; argmax would make every first
    trial's search one fixed path). The same env and action streams at every evaluation and level. A
    trial's score is its return; for bandits, its expected return (the means of the pulled arms; see
    harness/tasks/bandits.py)."""
    n = len(tasks)
    seed = derive_seed(0, "eval") & 0xFFFF_FFFF
    env = make_env(cfg, n, seed=seed, tasks=tasks)
    obs, _ = env.reset(seed=seed)
    gen = torch.Generator().manual_seed(seed)
    mem = memory(policy, cfg, n, obs.shape[1] + actions + 1)
    prev_a, prev_r = np.full(n, -1), np.zeros(n)
    out = np.zeros((n, env.trials))
    ended = np.zeros(n, dtype=bool)
    ep = torch.zeros(n, dtype=torch.long)
    with torch.no_grad():
        while not ended.all():
            tok = _token(obs, prev_a, prev_r, actions)
            a = sample(policy.act(tok, ep, mem)[0], gen).numpy()
            score = env.means[np.arange(n), a] if cfg.task == "bandits" else None
            obs, r, done, _, info = env.step(a)
            score = r if score is None else score
            out[np.arange(n)[~ended], info["trial"][~ended]] += score[~ended]
            ended |= done
            prev_a, prev_r = a, r
    return out


def eval_metrics(scores: np.ndarray, refs: dict[str, float] | None, best: np.ndarray | None = None) -> dict[str, float]:
    """The adaptation metrics of one evaluation (``evaluate``'s scores, (n_tasks, trials)): the gain from the
    first trial to the last (median, 20th percentile, mean over tasks), the first and last trials' mean
    scores and, for bandits (``refs`` and ``best``, each task's best trial score, given), the normalized score
    and the last trial's share of the best score per task (median and 20th percentile over tasks)."""
    gain = scores[:, -1] - scores[:, 0]
    out = dict(gain_median=float(np.median(gain)), gain_p20=float(np.percentile(gain, 20)),
               gain_mean=float(gain.mean()), first_trial=float(scores[:, 0].mean()),
               last_trial=float(scores[:, -1].mean()))
    if refs is not None:
        per_pull = float(scores.sum(1).mean()) / (bandits.PULLS * bandits.TRIALS)
        out["normalized_score"] = bandits.normalized_score(per_pull, refs)
        share = scores[:, -1] / best
        out.update(last_share_median=float(np.median(share)), last_share_p20=float(np.percentile(share, 20)))
    return out


@trainer
def train(cfg: Config, seeds: Sequence[int], device: str = "cpu") -> RunResult:
    """Train one agent per seed (one after another, resuming the unit's checkpoint if it has one); returns one
    MemberResult per seed."""
    members = resume.in_turn(seeds, cfg.updates, lambda seed, state, save: train_one(cfg, seed, state, save)[0])
    return RunResult(members=members, config=asdict(cfg), device="cpu")


RESUMABLE = ("policy", "opt", "gen", "env", "obs", "mem", "prev_a", "prev_r", "episode", "next_id", "curve_steps",
             "curve", "per_trial", "last_eval", "env_steps", "updates", "returns", "ep_return", "finished",
             "train_curve", "next_eval", "initial")
"""What a checkpoint of a member holds besides its update and the elapsed time."""


def train_one(cfg: Config, seed: int, state: dict | None = None,
              save: resume.Save | None = None) -> tuple[MemberResult, Policy]:
    """One seed. ``state``: what ``save`` was given, to continue after its update (harness/resume.py)."""
    start = time.perf_counter()
    torch.manual_seed(derive_seed(seed, "init") & 0xFFFF_FFFF)
    gen = torch.Generator().manual_seed(derive_seed(seed, "explore") & 0xFFFF_FFFF)
    env = make_env(cfg, cfg.num_envs, seed=derive_seed(seed, "tasks") & 0xFFFF_FFFF)
    obs, _ = env.reset(seed=derive_seed(seed, "env") & 0xFFFF_FFFF)
    actions = int(env.single_action_space.n)
    token_dim = obs.shape[1] + actions + 1
    policy = Policy(token_dim, actions, cfg)
    opt = torch.optim.Adam(policy.parameters(), lr=cfg.lr, eps=1e-5)
    eval_tasks = held_out(cfg, cfg.eval_tasks)
    refs = bandits.reference_scores(eval_tasks) if cfg.task == "bandits" else None
    best = bandits.PULLS * eval_tasks.max(1) if cfg.task == "bandits" else None

    n, t_len, e = cfg.num_envs, cfg.rollout, cfg.num_envs
    mem = memory(policy, cfg, n, token_dim)
    prev_a, prev_r = np.full(n, -1), np.zeros(n)
    episode = torch.arange(n, dtype=torch.long)  # unique ids per env episode
    next_id = n
    curve_steps: list[int] = []
    curve: list[float] = []
    per_trial: list[list[float]] = []
    last_eval = None
    diverged_step = None
    env_steps, updates = 0, 0
    returns = ReturnScale()
    ep_return = np.zeros(n)
    finished: list[float] = []  # training episodes' returns (sampled actions, training tasks)
    train_curve: list[float] = []
    next_eval = cfg.eval_every

    def run_eval(step: int) -> None:
        nonlocal last_eval
        last_eval = evaluate(policy, cfg, eval_tasks, actions)
        train_curve.append(float(np.mean(finished[-4 * n:])) if finished else math.nan)
        curve_steps.append(step)
        curve.append(float(last_eval.sum(1).mean()))
        per_trial.append(last_eval.mean(0).tolist())

    if state is None:
        # step 0: the untrained policy, with the protocol of every later evaluation; ``evaluate`` has its own
        # env and action generator, so training draws the same numbers with or without it
        run_eval(0)
        initial = {**untrained_metrics(curve), **eval_metrics(last_eval, refs, best)}
        first = 1
    else:  # resume: every object that carries state, as it was after update state["member_step"] (``run_eval``
        # sees these through its closure)
        (policy, opt, gen, env, obs, mem, prev_a, prev_r, episode, next_id, curve_steps, curve, per_trial,
         last_eval, env_steps, updates, returns, ep_return, finished, train_curve, next_eval,
         initial) = (state[k] for k in RESUMABLE)
        start, first = time.perf_counter() - state["elapsed"], state["member_step"] + 1
    for update in range(first, cfg.updates + 1):
        if cfg.anneal_lr:
            opt.param_groups[0]["lr"] = cfg.lr * (1.0 - (update - 1) / cfg.updates)
        ctx_tokens, ctx_episode = mem.tokens.clone(), mem.episode.clone()
        toks = torch.zeros(e, t_len, token_dim)
        ep_ids = torch.zeros(e, t_len, dtype=torch.long)
        acts = torch.zeros(e, t_len, dtype=torch.long)
        logps, vals, rews, dones = (torch.zeros(e, t_len) for _ in range(4))
        with torch.no_grad():
            for t in range(t_len):
                tok = _token(obs, prev_a, prev_r, actions)
                logits, v = policy.act(tok, episode, mem)
                a = sample(logits, gen)
                toks[:, t], ep_ids[:, t], acts[:, t] = tok, episode, a
                logps[:, t] = torch.log_softmax(logits, -1).gather(1, a[:, None]).squeeze(1)
                vals[:, t] = returns.denormalize(v)
                obs, r, done, _, _ = env.step(a.numpy())
                rews[:, t] = torch.as_tensor(r)
                ep_return += r
                finished.extend(ep_return[done].tolist())
                ep_return[done] = 0.0
                dones[:, t] = torch.as_tensor(done, dtype=torch.float32)
                prev_a, prev_r = np.where(done, -1, a.numpy()), np.where(done, 0.0, r)
                if done.any():
                    k = int(done.sum())
                    episode = episode.clone()
                    episode[torch.as_tensor(done)] = torch.arange(next_id, next_id + k)
                    next_id += k
            tok = _token(obs, prev_a, prev_r, actions)
            next_v = returns.denormalize(policy.act(tok, episode, mem, push=False)[1])
        env_steps += e * t_len

        # GAE stops at an episode's end (gae takes time first; these buffers are env first)
        adv = gae(rews.T, vals.T, dones.T, next_v, cfg.gamma, cfg.gae_lambda).T
        ret = adv + vals
        returns.update(ret)
        target = returns.normalize(ret)

        seq_tok = torch.cat([ctx_tokens, toks], 1)
        seq_ep = torch.cat([ctx_episode, ep_ids], 1)
        c = ctx_tokens.shape[1]
        per_mb = e // cfg.minibatches
        for _ in range(cfg.epochs):
            perm = torch.randperm(e, generator=gen)
            for k in range(cfg.minibatches):
                idx = perm[k * per_mb:(k + 1) * per_mb]
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
                loss = pg - cfg.ent_coef * entropy + cfg.vf_coef * v_loss
                if cfg._inject_nan_at == update:
                    loss = loss * math.nan
                if not torch.isfinite(loss):
                    diverged_step = env_steps
                    break
                opt.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(policy.parameters(), cfg.max_grad_norm)
                opt.step()
                updates += 1
            if diverged_step is not None:
                break
        if diverged_step is not None:
            curve_steps.append(env_steps)
            curve.append(math.nan)
            break
        if env_steps >= next_eval or update == cfg.updates:
            run_eval(env_steps)
            while next_eval <= env_steps:
                next_eval += cfg.eval_every
        report_progress(env_steps, cfg.updates * e * t_len, curve[-1] if curve else None)
        if save is not None:
            here = locals()
            save(update, lambda: {"elapsed": time.perf_counter() - start, **{k: here[k] for k in RESUMABLE}})

    metrics = curve_metrics(curve)
    if diverged_step is None:
        metrics.update(eval_metrics(last_eval, refs, best))
    else:
        metrics.update({k: math.nan for k in eval_metrics(last_eval, refs, best)})
    n_params = sum(p.numel() for p in policy.parameters())
    member = MemberResult(
        seed=int(seed), metrics=metrics, curve_steps=curve_steps, curve_returns=curve, initial=initial,
        diverged=diverged_step is not None, diverged_step=diverged_step, env_steps=env_steps, updates=updates,
        params={"policy": n_params, "total": n_params},
        flops=training_flops(n_params, trained=cfg.epochs * env_steps, acted=env_steps),
        wall_time=time.perf_counter() - start,
        extra={"per_trial": per_trial, "references": refs, "held_out_tasks": len(eval_tasks),
               "train_return": train_curve})
    return member, policy
