"""Offline sequence models: the Multi-Game Decision Transformer and a Gato-style behaviour cloner, in miniature.

Multi-Game Decision Transformer (Lee et al. 2022, arXiv:2205.15241): one GPT-style causal transformer
trained on trajectories of every game of an offline dataset (``harness.offline``: expert, medium and
random MinAtar play), over per-step tokens (observation, return-to-go, action). At the observation
token it predicts the return-to-go (a distribution over integer-return bins), at the return token the
action; the loss is the sum of both cross-entropies. At evaluation it uses MGDT's expert-return
inference: at every step it samples a return from the model's own distribution reweighted towards high
returns, ``P(R | expert) ~ exp(kappa * (R - R_low) / (R_high - R_low)) P(R | history)``, kappa = 10,
where [R_low, R_high] = [0, the highest return-to-go of that game in the data] (bins outside it are
excluded: they never occur in the data), then acts greedily on that return.

Gato-style generalist (Reed et al. 2022, arXiv:2205.06175) in the same miniature: the same backbone
without return tokens (observation, action), trained by behaviour cloning on the expert trajectories only
(``return_conditioned=False``, ``qualities=("expert",)``); it acts greedily.

Shared design. Each observation (a MinAtar 10x10xC boolean grid) is one token: the grids of all games are
laid out in one tensor whose channel blocks are disjoint per game (so the game is visible, as Atari frames
make it visible to MGDT) and embedded by one linear map. Actions are MinAtar's full set of 6 in every game
(one shared head). A sequence is ``context`` consecutive steps of one episode, left-padded (padding is
masked out of attention and of the loss) when the episode has fewer steps before the sampled end.
Pre-LayerNorm blocks, GELU MLPs (4x width), learned position embeddings, dropout and AdamW weight decay
identical at every size, a linear warm-up then cosine learning-rate schedule; ``size`` (presets XS..L)
scales width and depth together; every other setting is fixed across sizes, and every size sees the same
tokens (``steps`` x ``batch`` sequences). Training and validation losses (episodes held out per game and
quality) are recorded, so over-fitting of the largest model is visible.

Evaluation (online, on every training game): ``eval_episodes`` episodes per game from
``reset(seed=derive_seed(seed, "eval") + k)``, the same start states at every size. Scores are normalized
per game by the dataset card (random = 0, best behaviour policy = 1) and aggregated over games as an IQM
(``scipy.stats.trim_mean(.., 0.25)``; with 3 games it is their mean). ``normalized_score`` is the score
after the last step (token-matched); ``normalized_score_flop_matched`` the score at the step where this
model's training FLOPs equal those of a model of ``flop_match_params`` parameters after all its steps
(read from the same run, mid-schedule, so it is a lower bound on a run scheduled for that compute).
Seeds train one after another (each seed: its own init, batches, dropout and evaluation streams).
There is no env-step learning curve: the recorded curve is the normalized score against gradient steps (at
step 0, before the first gradient step, then at the FLOP-matched step and at the end), and the metrics are
the scores and losses above, not final_return/auc_return. The step-0 checkpoint (the untrained model,
evaluated and measured as every later one) gives ``MemberResult.initial``: the same metrics for the
untrained model (its score also as the FLOP-matched score). Checkpoints run in eval mode (no dropout) and
evaluation has its own generator, so they draw nothing that training uses.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from scipy.stats import trim_mean
from torch import Tensor, nn

from harness import offline, resume
from harness.agents.common import training_flops
from harness.envs import derive_seed, env_seed
from harness.result import MemberResult, RunResult, report_progress, trainer

# size -> (width, layers); heads = width // 32 (at least 1). Parameter counts: ``parameters(Config(size=s))``.
PRESETS = {"XS": (32, 1), "S": (64, 2), "M": (128, 3), "L": (256, 4)}
NORMALIZED_SCORE = "normalized_score"


@dataclass(frozen=True)
class Config:
    """Decision Transformer / behaviour-cloning settings (module docstring)."""

    size: str = "S"
    """Model preset (``PRESETS``): width and depth scale together."""
    return_conditioned: bool = True
    """True: MGDT (return tokens, expert-return inference); False: Gato-style behaviour cloning."""
    qualities: tuple[str, ...] = offline.QUALITIES
    """Which behaviour qualities of the dataset to train on (Gato-style: ("expert",))."""
    data: offline.DataConfig = field(default_factory=offline.DataConfig)
    """The offline dataset (built or reused by ``harness.offline.dataset``)."""
    steps: int = 2000
    """Gradient steps (the same at every size: the token budget)."""
    batch: int = 64
    """Sequences per gradient step."""
    context: int = 8
    """Steps per sequence (3 tokens per step with returns, 2 without)."""
    lr: float = 3e-4
    """Peak AdamW learning rate (after ``warmup`` of the steps, cosine decay to 10% of it)."""
    warmup: float = 0.05
    weight_decay: float = 0.1
    """AdamW weight decay on matrices (not on biases, norms or embeddings' positions)."""
    dropout: float = 0.1
    return_bins: int = 128
    """Integer returns-to-go 0 .. return_bins - 1 (larger ones are clipped to the last bin)."""
    kappa: float = 10.0
    """Expert-return inference temperature (MGDT's value)."""
    eval_episodes: int = 10
    """Evaluation episodes per game."""
    val_every: int = 20
    """Every val_every-th episode of each game and quality is held out for the validation loss."""
    loss_batches: int = 8
    """Fixed batches (train and validation) on which recorded losses are measured."""
    flop_match_params: int | None = None
    """Also evaluate at the step where this model's FLOPs equal those of a model of this many parameters
    after ``steps`` (None or not fewer parameters than this model: no extra evaluation)."""
    _inject_nan_at: int | None = None
    """Testing only: the gradient step whose loss is replaced by NaN."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "qualities", tuple(self.qualities))
        if self.size not in PRESETS:
            raise ValueError(f"unknown DT size {self.size!r}; choose one of {list(PRESETS)}")
        unknown = set(self.qualities) - set(offline.QUALITIES)
        if not self.qualities or unknown:
            raise ValueError(f"qualities must be a non-empty subset of {offline.QUALITIES}, got {self.qualities}")
        for name in ("steps", "batch", "context", "return_bins", "eval_episodes", "val_every", "loss_batches"):
            if getattr(self, name) < 1:
                raise ValueError(f"DT Config.{name} must be >= 1, got {getattr(self, name)}")

    @property
    def tokens_per_step(self) -> int:
        return 3 if self.return_conditioned else 2


def claim_config(settings, **level) -> Config:
    """The config the offline claims share: ``settings`` (params.yaml) gives steps, batch, eval_episodes and
    the dataset (``data``); ``level`` the claim's own fields (size, return conditioning, qualities)."""
    return Config(data=offline.DataConfig(**settings.data), steps=settings.steps, batch=settings.batch,
                  eval_episodes=settings.eval_episodes, **level)


# --- model -------------------------------------------------------------------------------------------------

class Block(nn.Module):
    def __init__(self, d: int, heads: int, dropout: float):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d), nn.Dropout(dropout))
        self.heads, self.dropout = heads, dropout
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        drop = self.dropout if self.training else 0.0
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=drop)
        x = x + self.drop(self.proj(a.transpose(1, 2).reshape(b, n, d)))
        return x + self.mlp(self.ln2(x))


class Transformer(nn.Module):
    """Tokens per step: (obs, rtg, action) when return-conditioned, else (obs, action)."""

    def __init__(self, cfg: Config, obs_dim: int):
        super().__init__()
        d, layers = PRESETS[cfg.size]
        self.cfg, self.per = cfg, cfg.tokens_per_step
        self.obs = nn.Linear(obs_dim, d)
        self.act = nn.Embedding(offline.ACTIONS, d)
        self.rtg = nn.Embedding(cfg.return_bins, d) if cfg.return_conditioned else None
        self.pos = nn.Parameter(torch.zeros(cfg.context * self.per, d))
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(d, max(1, d // 32), cfg.dropout) for _ in range(layers))
        self.ln = nn.LayerNorm(d)
        self.act_head = nn.Linear(d, offline.ACTIONS)
        self.rtg_head = nn.Linear(d, cfg.return_bins) if cfg.return_conditioned else None

    def forward(self, obs: Tensor, rtg: Tensor, act: Tensor, valid: Tensor) -> tuple[Tensor, Tensor | None]:
        """obs (B, K, obs_dim), rtg and act (B, K) long, valid (B, K) bool -> action logits (B, K, 6) and
        return logits (B, K, bins) or None. Position t's action logits see obs_t (and rtg_t), never act_t."""
        b, k, _ = obs.shape
        parts = [self.obs(obs)] + ([self.rtg(rtg)] if self.rtg is not None else []) + [self.act(act)]
        x = torch.stack(parts, dim=2).reshape(b, k * self.per, -1) + self.pos[: k * self.per]
        keys = valid.repeat_interleave(self.per, dim=1)  # (B, L)
        n = k * self.per
        causal = torch.ones(n, n, dtype=torch.bool, device=obs.device).tril()
        mask = (causal & keys[:, None, :]) | torch.eye(n, dtype=torch.bool, device=obs.device)
        x = self.drop(x)
        for blk in self.blocks:
            x = blk(x, mask[:, None])
        x = self.ln(x).view(b, k, self.per, -1)
        if self.rtg_head is None:
            return self.act_head(x[:, :, 0]), None
        return self.act_head(x[:, :, 1]), self.rtg_head(x[:, :, 0])


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """AdamW groups: weight decay on matrices, none on biases, norms and embeddings (GPT-2's practice)."""
    embeddings = {"pos", "act.weight", "rtg.weight"}
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and n not in embeddings]
    ids = {id(p) for p in decay}
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": [p for p in model.parameters() if id(p) not in ids], "weight_decay": 0.0}]


def obs_layout(games: Sequence[str]) -> dict[str, tuple[int, int]]:
    """Each game's (first channel, channels) in the shared observation tensor (disjoint blocks)."""
    out, c0 = {}, 0
    for g in games:
        env = offline.make(g)
        c = int(env.observation_space.shape[-1])
        env.close()
        out[g] = (c0, c)
        c0 += c
    return out


def channels(layout: dict[str, tuple[int, int]]) -> int:
    """Channels of the shared observation tensor (all games' blocks)."""
    return sum(c for _, c in layout.values())


def parameters(cfg: Config) -> int:
    """Trainable parameters of the model of ``cfg`` (its games fix the observation size)."""
    return sum(p.numel() for p in Transformer(cfg, 100 * channels(obs_layout(cfg.data.games))).parameters())


# --- data --------------------------------------------------------------------------------------------------

class Sequences:
    """Training or validation windows of one split: every step of its episodes can end a window."""

    def __init__(self, data: offline.Dataset, cfg: Config, layout: dict[str, tuple[int, int]], validation: bool):
        self.cfg, self.layout = cfg, layout
        self.total_c = channels(layout)
        self.games = []  # per game: obs (T,10,10,C) bool, act, rtg bins, start index, ends (usable indices)
        for g in data.games:
            obs, act, rtg, start, keep = [], [], [], [], []
            offset = 0
            for q in cfg.qualities:
                e = data.data[g][q]
                starts = e.starts
                ep_index = np.cumsum(np.concatenate([[0], e.episode_end[:-1]]))
                held = (ep_index % cfg.val_every) == cfg.val_every - 1
                if not held.any():  # fewer than val_every episodes: hold out the last one
                    held = ep_index == ep_index[-1]
                obs.append(e.obs)
                act.append(e.action)
                rtg.append(np.minimum(np.rint(e.returns_to_go()), cfg.return_bins - 1).astype(np.int64))
                start.append(starts + offset)
                keep.append(np.flatnonzero(held == validation) + offset)
                offset += len(e.action)
            self.games.append((g, np.concatenate(obs), np.concatenate(act), np.concatenate(rtg),
                               np.concatenate(start), np.concatenate(keep)))
        self.sizes = np.array([len(x[5]) for x in self.games])
        if (self.sizes == 0).any():
            raise ValueError("a game has no training episodes (each game and quality needs at least 2 episodes); "
                             "record more transitions (DataConfig.transitions)")

    def sample(self, rng: np.random.Generator, n: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """n windows, ends drawn uniformly over the split's steps (so games in proportion to their data)."""
        g_of = rng.choice(len(self.games), size=n, p=self.sizes / self.sizes.sum())
        k = self.cfg.context
        obs = np.zeros((n, k, 10, 10, self.total_c), dtype=np.float32)
        act = np.zeros((n, k), dtype=np.int64)
        rtg = np.zeros((n, k), dtype=np.int64)
        valid = np.zeros((n, k), dtype=bool)
        for gi, (game, o, a, r, start, keep) in enumerate(self.games):
            rows = np.flatnonzero(g_of == gi)
            if not len(rows):
                continue
            ends = keep[rng.integers(0, len(keep), size=len(rows))]
            idx = ends[:, None] - np.arange(k - 1, -1, -1)[None, :]
            ok = idx >= start[ends][:, None]
            idx = np.where(ok, idx, ends[:, None])
            c0, c = self.layout[game]
            obs[rows, :, :, :, c0:c0 + c] = np.where(ok[..., None, None, None], o[idx], False)
            act[rows] = np.where(ok, a[idx], 0)
            rtg[rows] = np.where(ok, r[idx], 0)
            valid[rows] = ok
        return (torch.from_numpy(obs.reshape(n, k, -1)), torch.from_numpy(rtg), torch.from_numpy(act),
                torch.from_numpy(valid))


def loss_fn(model: Transformer, batch: tuple[Tensor, ...]) -> Tensor:
    obs, rtg, act, valid = batch
    act_logits, rtg_logits = model(obs, rtg, act, valid)
    loss = F.cross_entropy(act_logits[valid], act[valid])
    if rtg_logits is not None:
        loss = loss + F.cross_entropy(rtg_logits[valid], rtg[valid])
    return loss


# --- evaluation --------------------------------------------------------------------------------------------

def expert_return_probs(rtg_logits: Tensor, high: int, kappa: float) -> Tensor:
    """MGDT's expert-return distribution over return bins, (..., bins): the model's P(R | history) times
    exp(kappa * R / high), renormalized over the returns 0 .. high seen in the data (R_low = 0)."""
    bins = rtg_logits.shape[-1]
    r = torch.arange(bins, dtype=rtg_logits.dtype)
    bonus = torch.where(r <= high, kappa * r / max(high, 1), -math.inf)
    return torch.softmax(torch.log_softmax(rtg_logits, -1) + bonus, -1)


@torch.no_grad()
def evaluate_game(model: Transformer, data: offline.Dataset, game: str, layout: dict[str, tuple[int, int]],
                  seed: int, episodes: int) -> float:
    """Mean return of ``episodes`` greedy episodes (MGDT: on expert-return samples) of one game."""
    cfg = model.cfg
    model.eval()
    limit = data.card["config"]["max_episode_steps"]
    envs = [offline.make(game, max_episode_steps=limit) for _ in range(episodes)]
    total_c = channels(layout)
    c0, c = layout[game]
    gen = torch.Generator().manual_seed(derive_seed(seed, f"eval/{game}"))
    hi = int(min(data.card["games"][game]["max_return_to_go"], cfg.return_bins - 1))
    k = cfg.context
    obs_hist = torch.zeros(episodes, k, 10, 10, total_c)
    act_hist = torch.zeros(episodes, k, dtype=torch.long)
    rtg_hist = torch.zeros(episodes, k, dtype=torch.long)
    valid = torch.zeros(episodes, k, dtype=torch.bool)
    totals = np.zeros(episodes)
    alive = np.ones(episodes, dtype=bool)
    first = [e.reset(seed=env_seed(offline.env_id(game), derive_seed(seed, "eval") + i))[0]
             for i, e in enumerate(envs)]
    current = torch.as_tensor(np.stack(first), dtype=torch.float32)
    while alive.any():
        obs_hist, act_hist, rtg_hist, valid = (t.roll(-1, dims=1) for t in (obs_hist, act_hist, rtg_hist, valid))
        obs_hist[:, -1] = 0.0
        obs_hist[:, -1, :, :, c0:c0 + c] = current
        act_hist[:, -1] = 0
        rtg_hist[:, -1] = 0
        valid[:, -1] = True
        flat = obs_hist.reshape(episodes, k, -1)
        logits, rtg_logits = model(flat, rtg_hist, act_hist, valid)
        if rtg_logits is not None:
            p = expert_return_probs(rtg_logits[:, -1], hi, cfg.kappa)
            rtg_hist[:, -1] = torch.multinomial(p, 1, generator=gen).squeeze(-1)
            logits, _ = model(flat, rtg_hist, act_hist, valid)
        actions = logits[:, -1].argmax(-1)
        act_hist[:, -1] = actions
        nxt = current.clone()
        for i, env in enumerate(envs):
            if not alive[i]:
                continue
            o, r, term, trunc, _ = env.step(int(actions[i]))
            totals[i] += float(r)
            nxt[i] = torch.as_tensor(o, dtype=torch.float32)
            alive[i] = not (term or trunc)
        current = nxt
    for e in envs:
        e.close()
    return float(totals.mean())


def scores(model: Transformer, data: offline.Dataset, layout, seed: int, episodes: int) -> dict[str, float]:
    """Per game: raw mean return and normalized score; plus their IQM over games."""
    out: dict[str, float] = {}
    norm = []
    for g in data.games:
        ret = evaluate_game(model, data, g, layout, seed, episodes)
        out[f"return/{g}"] = ret
        out[f"score/{g}"] = data.normalize(g, ret)
        norm.append(out[f"score/{g}"])
    out[NORMALIZED_SCORE] = float(trim_mean(norm, 0.25))
    return out


# --- training ----------------------------------------------------------------------------------------------

@trainer
def train(cfg: Config, seeds: Sequence[int], device: str = "cpu") -> RunResult:
    """Train one model per seed (one after another) on the offline data; one MemberResult per seed."""
    data = offline.dataset(cfg.data)
    layout = obs_layout(data.games)
    splits = Sequences(data, cfg, layout, validation=False), Sequences(data, cfg, layout, validation=True)
    members = resume.in_turn(seeds, cfg.steps, lambda seed, state, save: _train_one(
        cfg, data, layout, splits, seed, torch.device(device), state, save))
    return RunResult(members=members, config=asdict(cfg), device=str(device))


RESUMABLE = ("model", "opt", "rng", "running", "curve_steps", "curve", "checkpoints", "initial", "final")
"""What a checkpoint of a member holds besides its step, the dropout generator's state and the elapsed time."""


def _train_one(cfg: Config, data: offline.Dataset, layout, splits: tuple[Sequences, Sequences], seed: int,
               dev: torch.device, state: dict | None = None, save: resume.Save | None = None) -> MemberResult:
    """One seed; ``splits`` (training and validation windows) are the same for every seed. ``state``: what
    ``save`` was given, to continue after its step (harness/resume.py)."""
    start = time.perf_counter()
    train_seqs, val_seqs = splits
    torch.manual_seed(derive_seed(seed, "dropout"))  # dropout draws from the global generator
    init = torch.Generator().manual_seed(derive_seed(seed, "init"))
    model = Transformer(cfg, 100 * train_seqs.total_c)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() >= 2:
                p.copy_(torch.randn(p.shape, generator=init) * 0.02)
            elif name.endswith("bias"):
                p.zero_()
    model.to(dev)
    n_params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(param_groups(model, cfg.weight_decay), lr=cfg.lr, betas=(0.9, 0.95))
    warm = max(1, int(cfg.warmup * cfg.steps))

    def lr_at(step: int) -> float:
        if step < warm:
            return cfg.lr * (step + 1) / warm
        frac = (step - warm) / max(1, cfg.steps - warm)
        return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))

    rng = np.random.default_rng(derive_seed(seed, "batches"))
    fixed = np.random.default_rng(derive_seed(seed, "loss_batches"))
    loss_sets = {"train": [train_seqs.sample(fixed, cfg.batch) for _ in range(cfg.loss_batches)],
                 "val": [val_seqs.sample(fixed, cfg.batch) for _ in range(cfg.loss_batches)]}
    tokens = cfg.batch * cfg.context * cfg.tokens_per_step
    match_step = None
    if cfg.flop_match_params is not None and cfg.flop_match_params < n_params:
        match_step = max(1, round(cfg.steps * cfg.flop_match_params / n_params))
    curve_steps: list[int] = []
    curve: list[float] = []
    checkpoints: list[dict] = []
    running: list[float] = []
    diverged_step = None
    final: dict[str, float] = {}

    def checkpoint(step: int) -> dict[str, float]:
        model.eval()
        with torch.no_grad():
            losses = {f"{k}_loss": float(np.mean([loss_fn(model, tuple(t.to(dev) for t in b)).item() for b in v]))
                      for k, v in loss_sets.items()}
        out = {**scores(model, data, layout, seed, cfg.eval_episodes), **losses}
        model.train()
        curve_steps.append(step)
        curve.append(out[NORMALIZED_SCORE])
        checkpoints.append({"step": step, **out})
        return out

    if state is None:
        # step 0: the untrained model, evaluated and measured as every later checkpoint is; a checkpoint draws
        # from no training stream (eval mode: no dropout; evaluation has its own generator)
        untrained = checkpoint(0)
        initial = {NORMALIZED_SCORE: untrained[NORMALIZED_SCORE],
                   "normalized_score_flop_matched": untrained[NORMALIZED_SCORE],
                   "train_loss": untrained["train_loss"], "val_loss": untrained["val_loss"],
                   **{k: v for k, v in untrained.items() if k.startswith("score/")}}
        first = 1
    else:  # resume: every object that carries state, as it was after step state["member_step"]
        model, opt, rng, running, curve_steps, curve, checkpoints, initial, final = (state[k] for k in RESUMABLE)
        torch.set_rng_state(state["dropout_rng"])
        start, first = time.perf_counter() - state["elapsed"], state["member_step"] + 1

    model.train()
    for step in range(first, cfg.steps + 1):
        for g in opt.param_groups:
            g["lr"] = lr_at(step - 1)
        loss = loss_fn(model, tuple(t.to(dev) for t in train_seqs.sample(rng, cfg.batch)))
        if cfg._inject_nan_at == step:
            loss = loss * math.nan
        if not torch.isfinite(loss):
            diverged_step = step
            break
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        running.append(loss.item())
        if step == match_step:
            checkpoint(step)
        if step == cfg.steps:
            final = checkpoint(step)
        if step % 50 == 0:
            report_progress(step, cfg.steps, curve[-1] if curve else None)
        if save is not None:
            here = locals()
            save(step, lambda: {"elapsed": time.perf_counter() - start, "dropout_rng": torch.get_rng_state(),
                                **{k: here[k] for k in RESUMABLE}})

    if diverged_step is not None:
        metrics = {NORMALIZED_SCORE: math.nan, "normalized_score_flop_matched": math.nan}
        curve_steps.append(diverged_step)
        curve.append(math.nan)
    else:
        at_match = next(c for c in checkpoints if c["step"] == match_step) if match_step is not None else final
        metrics = {NORMALIZED_SCORE: final[NORMALIZED_SCORE],
                   "normalized_score_flop_matched": at_match[NORMALIZED_SCORE],
                   "train_loss": final["train_loss"], "val_loss": final["val_loss"],
                   **{k: v for k, v in final.items() if k.startswith("score/")}}
    return MemberResult(
        seed=seed, metrics=metrics, curve_steps=curve_steps, curve_returns=curve, initial=initial,
        diverged=diverged_step is not None, diverged_step=diverged_step, env_steps=0,
        updates=len(running), params={"transformer": n_params, "total": n_params},
        flops=training_flops(n_params, trained=tokens * len(running)), wall_time=time.perf_counter() - start,
        extra={"curve_x": "gradient steps", "checkpoints": checkpoints, "flop_match_step": match_step,
               "tokens_per_step": tokens, "dataset": data.card["key"],
               "train_loss_every_100": [float(np.mean(running[i:i + 100])) for i in range(0, len(running), 100)]})
