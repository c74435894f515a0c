"""RLHF in miniature: preferences labelled by a gold reward, proxy reward models, and best-of-n against them.

The pipeline of Stiennon et al. 2020 (arXiv:2009.01325) and Ouyang et al. 2022 (arXiv:2203.02155) with the
synthetic setup of Gao, Schulman, Hilton 2022 (arXiv:2210.10760), on the synthetic language of
harness/tasks/language.py and the tiny LMs of harness/lm.py (pretrained once and cached):

1. **Preferences.** ``pairs`` pairs of documents sampled from the pretrained policy (from <bos>, temperature
   1), each labelled by the gold reward with Bradley-Terry noise: the first is preferred with probability
   sigmoid((gold_a - gold_b) / label_temperature), as Gao et al. label with their gold model.
2. **A proxy reward model**: a pretrained LM trunk of size ``rm_size`` with a scalar head on the final
   LayerNorm's output at the document's last token, trained on the pairs with the Bradley-Terry loss
   -log sigmoid(r_preferred - r_other) (AdamW, ``rm_epochs`` passes). Its held-out accuracy: how often it
   orders ``val_pairs`` fresh pairs as the gold reward does (pairs with equal gold left out).
3. **Best-of-n** against the proxy, for n = 1, 2, 4, ..., ``max_n``, computed exactly over a pool of
   ``pool`` samples of the policy taken as its empirical distribution: identical documents are one atom,
   atoms sorted by proxy reward, and best-of-n puts mass F(r)^n - F(r-)^n on each group of equal proxy reward
   (F: the pool's CDF of the proxy), shared by mass within the group. The KL divergence from the policy is
   then computed from that distribution (``best_of_n``), not taken from the bound log n - (n - 1) / n, which
   holds only without ties; the gold reward is its exact mean under it.

Metrics (per seed: its own pairs, head initialization, batch order and pool): ``peak_gold_gain`` (the
highest gold reward along the best-of-n curve minus the policy's own, the claim ``rlhf_rm_size``),
``rm_accuracy``, ``gold_gain_at_max_n``, Gao et al.'s best-of-n form fitted to the curve, gold gain
R(d) = d (alpha - beta d) with d = sqrt(KL) (least squares through the origin: ``gao_alpha``, ``gao_beta``),
and ``oracle_peak_gain``, the same curve's peak with the gold reward as its own proxy (the ceiling: no proxy
can select better from the same pool).
The curve's x is n (``curve_steps``), its y the gold gain; ``extra`` holds the KL and proxy curves.

Seeds train one after another (harness/resume.py); determinism for a fixed seed on CPU is tested; a non-finite
reward-model loss stops the member (``diverged``, NaN metrics) as in every agent. Resuming: after a reward-model
step, when the harness's checkpoint is due (harness/checkpoint.py), ``train_proxy`` saves the model, its
optimizer, the pairs, the batch order and torch's random state; a resumed unit returns the record of an
uninterrupted run, bit for bit on CPU (tests/test_checkpoint.py). Best-of-n after training is not
checkpointed (seconds).
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from harness import lm
from harness import resume
from harness.agents.common import training_flops
from harness.envs import derive_seed
from harness.result import MemberResult, RunResult, report_progress, trainer
from harness.tasks import language

METRICS = ("peak_gold_gain", "rm_accuracy", "gold_gain_at_max_n")  # what a claim may test (checked at collection)


@dataclass(frozen=True)
class Config:
    policy: str = "S"
    """LM preset of the policy (harness/lm.py PRESETS)."""
    rm_size: str = "S"
    """LM preset of the proxy reward model's trunk (pretrained like the policy)."""
    pretrain: lm.Config = lm.Config()
    """Pretraining of both LMs (its ``size`` is replaced by ``policy`` and ``rm_size``)."""
    pairs: int = 4000
    val_pairs: int = 1000
    label_temperature: float = 1.0
    rm_epochs: int = 2
    rm_batch: int = 32
    rm_lr: float = 3e-4
    pool: int = 20_000
    max_n: int = 1024
    _inject_nan_at: int | None = None
    """Testing only: the reward-model step whose loss is replaced by NaN."""

    def __post_init__(self) -> None:
        if isinstance(self.pretrain, dict):  # from params.yaml or a record
            object.__setattr__(self, "pretrain", lm.Config(**self.pretrain))
        for size in (self.policy, self.rm_size):
            if size not in lm.PRESETS:
                raise ValueError(f"unknown LM size {size!r}; choose one of {list(lm.PRESETS)}")
        for name in ("pairs", "val_pairs", "rm_epochs", "rm_batch", "pool", "max_n"):
            if getattr(self, name) < 1:
                raise ValueError(f"RLHF Config.{name} must be >= 1, got {getattr(self, name)}")
        if self.max_n > self.pool:
            raise ValueError(f"max_n ({self.max_n}) cannot exceed the pool ({self.pool}) best-of-n is computed over")
        if self.label_temperature <= 0:
            raise ValueError(f"label_temperature must be > 0, got {self.label_temperature}")

    def lm_config(self, size: str) -> lm.Config:
        return lm.Config(**{**asdict(self.pretrain), "size": size})


class RewardModel(nn.Module):
    """An LM trunk with a scalar head at each document's last token (its <eos>, or the last before padding)."""

    def __init__(self, trunk: lm.LM, generator: torch.Generator):
        super().__init__()
        self.trunk = copy.deepcopy(trunk)
        self.head = nn.Linear(trunk.width, 1)
        with torch.no_grad():
            self.head.weight.copy_(torch.randn(self.head.weight.shape, generator=generator) / math.sqrt(trunk.width))
            self.head.bias.zero_()

    def forward(self, tokens: Tensor) -> Tensor:
        h = self.trunk.hidden(tokens)
        last = (tokens != language.PAD).sum(1) - 1
        return self.head(h[torch.arange(len(tokens)), last])[:, 0]


def scores(model: nn.Module, docs: Tensor, chunk: int = 1000) -> np.ndarray:
    with torch.no_grad():
        return torch.cat([model(docs[i:i + chunk]) for i in range(0, len(docs), chunk)]).double().numpy()


def gold(docs: Tensor) -> np.ndarray:
    return np.array([language.gold_reward(d) for d in docs.tolist()])


def best_of_n(docs: Tensor, proxy: np.ndarray, gold_reward: np.ndarray, ns: Sequence[int]) -> dict[str, list[float]]:
    """Best-of-n against ``proxy`` over the empirical distribution of ``docs`` (identical documents pooled), for
    each n: its KL divergence from that distribution, its mean gold and proxy rewards (exact, module doc)."""
    _, first, counts = np.unique(docs.numpy(), axis=0, return_index=True, return_counts=True)
    mass = counts / counts.sum()
    r, g = proxy[first], gold_reward[first]
    order = np.argsort(r, kind="stable")
    r, g, mass = r[order], g[order], mass[order]
    out: dict[str, list[float]] = {"n": [], "kl": [], "gold": [], "proxy": []}
    groups = np.flatnonzero(np.r_[True, np.diff(r) != 0])  # starts of runs of equal proxy reward
    ends = np.r_[groups[1:], len(r)]
    group_mass = np.add.reduceat(mass, groups)
    upper = np.cumsum(group_mass)
    lower = upper - group_mass
    for n in ns:
        p_group = np.clip(upper, 0, 1) ** n - np.clip(lower, 0, 1) ** n
        p = np.repeat(p_group / group_mass, ends - groups) * mass  # shared by mass within a group
        ok = p > 0
        out["n"].append(int(n))
        out["kl"].append(float(np.sum(p[ok] * np.log(p[ok] / mass[ok]))))
        out["gold"].append(float(np.sum(p * g)))
        out["proxy"].append(float(np.sum(p * r)))
    return out


def gao_fit(kl: Sequence[float], gain: Sequence[float]) -> tuple[float, float]:
    """alpha, beta of Gao et al.'s best-of-n form gain = d (alpha - beta d), d = sqrt(KL), least squares."""
    d = np.sqrt(np.maximum(np.asarray(kl, dtype=float), 0.0))
    x = np.stack([d, -d * d], 1)
    alpha, beta = np.linalg.lstsq(x, np.asarray(gain, dtype=float), rcond=None)[0]
    return float(alpha), float(beta)


@trainer
def train(cfg: Config, seeds: Sequence[int], device: str = "cpu") -> RunResult:
    """One proxy reward model and its best-of-n curve per seed, against the cached pretrained policy."""
    if torch.device(device).type != "cpu":
        raise ValueError(f"the RLHF agent runs on CPU only (its models are tiny); got device {device!r}")
    policy, _ = lm.pretrained(cfg.lm_config(cfg.policy))
    trunk, _ = lm.pretrained(cfg.lm_config(cfg.rm_size))
    members = resume.in_turn(seeds, proxy_steps(cfg),
                              lambda seed, state, save: _train_one(cfg, policy, trunk, seed, state, save))
    return RunResult(members=members, config=asdict(cfg), device=str(device))


@dataclass
class Proxy:
    """A trained proxy reward model (``model`` None when its training diverged) and how it was trained."""

    model: RewardModel | None
    accuracy: float
    """Held-out pairs it orders as the gold reward does (pairs of equal gold left out)."""
    diverged_step: int | None
    updates: int
    loss_last_100: float
    labels_agreeing_with_gold: float
    """Of the noisy training labels (pairs of equal gold left out)."""


def proxy_steps(cfg: Config) -> int:
    """The reward model's optimizer steps (``train_proxy``)."""
    return cfg.rm_epochs * max(1, cfg.pairs // cfg.rm_batch)


PROXY_STATE = ("rm", "opt", "order", "perm", "losses", "win", "lose", "first_preferred", "ga", "gb")
"""What ``train_proxy`` saves after a step and resumes from (with the step and torch's global random state)."""


def train_proxy(cfg: Config, policy: lm.LM, trunk: lm.LM, seed: int, state: dict | None = None,
                save: resume.Save | None = None) -> Proxy:
    """Steps 1 and 2 of the module docstring for one seed: preference pairs from ``policy``, the proxy trained
    on them from ``trunk``, and its held-out accuracy. ``save(step, state)`` is called after each optimizer
    step; given a ``state`` that such a call saved, training continues after its step."""
    steps_per_epoch = max(1, cfg.pairs // cfg.rm_batch)
    total = proxy_steps(cfg)
    if state is None:
        torch.manual_seed(derive_seed(seed, "rlhf/global"))
        gen = torch.Generator().manual_seed(derive_seed(seed, "rlhf/pairs"))
        a = lm.sample(policy, cfg.pairs + cfg.val_pairs, gen)
        b = lm.sample(policy, cfg.pairs + cfg.val_pairs, gen)
        ga, gb = gold(a), gold(b)
        rng = np.random.default_rng(derive_seed(seed, "rlhf/labels"))
        first_preferred = rng.random(len(ga)) < 1 / (1 + np.exp(-(ga - gb) / cfg.label_temperature))
        win = torch.where(torch.as_tensor(first_preferred)[:, None], a, b)
        lose = torch.where(torch.as_tensor(first_preferred)[:, None], b, a)
        rm = RewardModel(trunk, torch.Generator().manual_seed(derive_seed(seed, "rlhf/head")))
        opt = torch.optim.AdamW(rm.parameters(), lr=cfg.rm_lr, betas=(0.9, 0.95), weight_decay=0.0)
        order = np.random.default_rng(derive_seed(seed, "rlhf/batches"))
        losses, perm, done = [], None, 0
    else:
        rm, opt, order, perm, losses, win, lose, first_preferred, ga, gb = (state[k] for k in PROXY_STATE)
        torch.set_rng_state(state["torch_rng"])
        done = state["member_step"]
    rm.train()
    diverged = None
    for step in range(done + 1, total + 1):
        k = (step - 1) % steps_per_epoch
        if k == 0:
            perm = order.permutation(cfg.pairs)
        idx = torch.as_tensor(perm[k * cfg.rm_batch:(k + 1) * cfg.rm_batch])
        loss = -F.logsigmoid(rm(win[idx]) - rm(lose[idx])).mean()
        if cfg._inject_nan_at == step:
            loss = loss * math.nan
        if not torch.isfinite(loss):
            diverged = step
            break
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(rm.parameters(), 1.0)
        opt.step()
        losses.append(float(loss.detach()))
        report_progress(step, total)
        if save is not None:
            here = locals()
            save(step, lambda: {"phase": "proxy", "torch_rng": torch.get_rng_state(),
                                **{k: here[k] for k in PROXY_STATE}})
    rm.eval()
    labels = float(np.mean(first_preferred[ga != gb] == (ga > gb)[ga != gb]))
    if diverged is not None:
        return Proxy(None, math.nan, diverged, len(losses), math.nan, labels)
    va, vb = win[cfg.pairs:], lose[cfg.pairs:]  # held-out pairs, ordered by the gold reward below
    gva, gvb = gold(va), gold(vb)
    differ = gva != gvb
    agree = np.sign(scores(rm, va) - scores(rm, vb)) == np.sign(gva - gvb)
    return Proxy(rm, float(agree[differ].mean()), None, len(losses), float(np.mean(losses[-100:])), labels)


def _train_one(cfg: Config, policy: lm.LM, trunk: lm.LM, seed: int, state: dict | None = None,
               save: resume.Save | None = None) -> MemberResult:
    start = time.perf_counter() - (0.0 if state is None else state["elapsed"])
    proxy = train_proxy(cfg, policy, trunk, seed, state,
                        None if save is None else lambda step, st: save(step, lambda: {
                            "elapsed": time.perf_counter() - start, **st()}))
    rm = proxy.model
    n_params = sum(p.numel() for p in trunk.parameters()) + trunk.width + 1  # the trunk and the scalar head
    ns = [2 ** k for k in range(int(math.log2(cfg.max_n)) + 1)]
    if rm is None:
        nan = math.nan
        metrics = {m: nan for m in METRICS} | {"gao_alpha": nan, "gao_beta": nan, "oracle_peak_gain": nan}
        curve, extra = [nan] * len(ns), {}
    else:
        pool = lm.sample(policy, cfg.pool, torch.Generator().manual_seed(derive_seed(seed, "rlhf/pool")))
        pool_gold = gold(pool)
        curve_data = best_of_n(pool, scores(rm, pool), pool_gold, ns)
        gain = [g - curve_data["gold"][0] for g in curve_data["gold"]]
        oracle = best_of_n(pool, pool_gold, pool_gold, ns)  # the gold reward as its own proxy: the ceiling
        alpha, beta = gao_fit(curve_data["kl"], gain)
        metrics = {"peak_gold_gain": float(max(gain)), "rm_accuracy": proxy.accuracy,
                   "gold_gain_at_max_n": float(gain[-1]), "gao_alpha": alpha, "gao_beta": beta,
                   "oracle_peak_gain": float(max(oracle["gold"]) - oracle["gold"][0])}
        curve = gain
        extra = {"curve_x": "n (best-of-n)", "kl": curve_data["kl"], "proxy": curve_data["proxy"],
                 "gold": curve_data["gold"], "pool_gold_mean": float(pool_gold.mean()),
                 "pool_distinct": int(len(np.unique(pool.numpy(), axis=0))),
                 "rm_loss_last_100": proxy.loss_last_100,
                 "labels_agreeing_with_gold": proxy.labels_agreeing_with_gold}
    tokens = 2 * cfg.pairs * cfg.rm_epochs * language.MAX_LENGTH
    return MemberResult(
        seed=seed, metrics=metrics, curve_steps=ns, curve_returns=curve,
        initial={"peak_gold_gain": 0.0, "gold_gain_at_max_n": 0.0, "rm_accuracy": 0.5},
        diverged=proxy.diverged_step is not None, diverged_step=proxy.diverged_step, env_steps=0,
        updates=proxy.updates, params={"reward_model": n_params, "total": n_params},
        flops=training_flops(n_params, trained=tokens), wall_time=time.perf_counter() - start, extra=extra)
