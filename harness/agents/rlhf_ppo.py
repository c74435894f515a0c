"""RLHF by PPO with a KL penalty to the reference policy, against a proxy reward model (InstructGPT's step 3).

The policy starts from a pretrained LM (harness/lm.py) and is trained with PPO (Schulman et al. 2017) on the
reward of Stiennon et al. 2020 (arXiv:2009.01325) and Ouyang et al. 2022 (arXiv:2203.02155): a document's
proxy reward at its last token, minus ``kl_coef`` times log pi(x_t) / pi_ref(x_t) at every token, pi_ref
the frozen pretrained policy. The proxy is trained first, exactly as ``harness.agents.rlhf`` trains it
(preference pairs from the pretrained policy labelled by the gold reward with Bradley-Terry noise), so a
claim can set the proxy apart from the policy.

Each iteration samples ``batch`` documents from the policy (from <bos>, temperature 1), then runs ``epochs``
x ``minibatches`` PPO updates over them: the clipped surrogate on every generated token, a value head (its own
Linear, trained with the same optimizer, coefficient 0.5) on the policy's final hidden state with the gradient
stopped, GAE with gamma 1 over the token positions, advantages whitened over the batch's tokens, gradient-norm
clipping at 1, AdamW at a constant ``lr``. Two choices differ from PPO on games, both found in validation: the
value loss does not train the LM (through a shared trunk its first, large gradients damaged the policy), and
lambda is 1 (with a fresh critic, lambda < 1 weights a document's reward by its tokens' distance from the end,
and whitening turns that into a push on length regardless of reward). Time flows along the document: the
episode is one document and ends at its <eos> (or at the context's end).

The KL from the reference (``sequence_kl``): per sampled document, the sum over its tokens of
log pi(x_t) - log pi_ref(x_t), averaged over the batch: an unbiased estimate of KL(pi || pi_ref) because the
documents are drawn from pi (tests/test_rlhf_ppo.py checks it against the exact KL of two tiny
autoregressive models enumerated over every sequence). Each iteration records the KL and the mean gold reward
and optimized reward of its samples (before its update): the curve of gold gain against KL.

Metrics: ``gold_gain_at_kl`` (the gold gain where the curve first reaches ``kl_budget`` nats, interpolated
linearly between the two iterations around it; a run that never spends the budget is read at its last
iteration, which stayed within it, and ``extra["kl_budget_reached"]`` says so), ``gold_at_kl`` (the gold
reward there: the reference's own mean plus that gain), ``oracle_gain_at_kl`` (best-of-n with the gold reward
itself at the same KL, over a pool of the reference's samples: what selection by the true reward buys),
``final_kl``, ``final_gold_gain``, ``rm_accuracy``. Seeds train one after another (harness/resume.py);
deterministic for a seed on CPU; a non-finite loss stops the member (``diverged``). Resuming: when the
harness's checkpoint is due (harness/checkpoint.py), a member saves after each of its proxy's steps (as
``harness.agents.rlhf`` does) and after each PPO iteration (``PPO_STATE``: the policy, its optimizer, the
samplers, the curves so far and the trained proxy); a resumed unit returns the record of an uninterrupted run,
bit for bit on CPU (tests/test_checkpoint.py).
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from harness import lm, resume
from harness.agents import rlhf
from harness.agents.common import gae, training_flops
from harness.envs import derive_seed
from harness.result import MemberResult, RunResult, report_progress, trainer
from harness.tasks import language

METRICS = ("gold_at_kl", "gold_gain_at_kl", "oracle_gain_at_kl", "final_gold_gain", "final_kl", "rm_accuracy")


@dataclass(frozen=True)
class Config:
    proxy: rlhf.Config = field(default_factory=rlhf.Config)
    """The policy (``proxy.policy``), its pretraining and the proxy reward model's training."""
    iterations: int = 40
    batch: int = 256
    epochs: int = 2
    minibatches: int = 4
    lr: float = 3e-4
    kl_coef: float = 0.05
    clip: float = 0.2
    vf_coef: float = 0.5
    gae_lambda: float = 1.0
    kl_budget: float = 2.0
    """Nats of KL(pi || pi_ref) at which ``gold_gain_at_kl`` reads the curve."""
    reward: str = "proxy"
    """"proxy": the trained proxy's score (RLHF); "gold": the gold reward itself (a perfect reward model: the
    optimizer apart from any proxy's errors; no proxy is trained)."""
    _inject_nan_at: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.proxy, dict):
            object.__setattr__(self, "proxy", rlhf.Config(**self.proxy))
        for name in ("iterations", "batch", "epochs", "minibatches"):
            if getattr(self, name) < 1:
                raise ValueError(f"RLHF-PPO Config.{name} must be >= 1, got {getattr(self, name)}")
        if self.batch % self.minibatches:
            raise ValueError(f"batch ({self.batch}) must be divisible by minibatches ({self.minibatches})")
        if self.reward not in ("proxy", "gold"):
            raise ValueError(f"reward must be 'proxy' or 'gold', got {self.reward!r}")
        if self.kl_coef < 0 or self.kl_budget <= 0:
            raise ValueError(f"kl_coef must be >= 0 and kl_budget > 0, got {self.kl_coef} and {self.kl_budget}")


def sequence_kl(logp: Tensor, logp_ref: Tensor, mask: Tensor) -> Tensor:
    """Per sequence: the sum over its tokens (``mask``) of log pi - log pi_ref. Its mean over sequences drawn
    from pi is an unbiased estimate of KL(pi || pi_ref) over whole sequences."""
    return ((logp - logp_ref) * mask).sum(-1)


def crossing(kl: Sequence[float], gain: Sequence[float], budget: float) -> float:
    """The gain where the curve first reaches ``budget`` KL, linear between the points around it (NaN: never)."""
    for i in range(1, len(kl)):
        if kl[i] >= budget:
            lo, hi = kl[i - 1], kl[i]
            w = 1.0 if hi == lo else (budget - lo) / (hi - lo)
            return float(gain[i - 1] + min(max(w, 0.0), 1.0) * (gain[i] - gain[i - 1]))
    return math.nan


class Policy(nn.Module):
    """The LM being trained and its value head."""

    def __init__(self, model: lm.LM, generator: torch.Generator):
        super().__init__()
        self.lm = copy.deepcopy(model)
        self.value = nn.Linear(model.width, 1)
        with torch.no_grad():
            self.value.weight.copy_(torch.randn(self.value.weight.shape, generator=generator) * 0.01)
            self.value.bias.zero_()

    def forward(self, tokens: Tensor) -> tuple[Tensor, Tensor]:
        """(B, T) -> log-probs of tokens[:, 1:] (B, T - 1) and values at positions 0..T-2 (B, T - 1)."""
        h = self.lm.hidden(tokens[:, :-1])
        return lm.token_log_probs(self.lm, tokens, h), self.value(h.detach())[..., 0]


@trainer
def train(cfg: Config, seeds: Sequence[int], device: str = "cpu") -> RunResult:
    """One PPO run per seed from the pretrained policy, against its own proxy (trained as ``rlhf`` trains it) or,
    with ``reward="gold"``, the gold reward (no proxy is trained; ``rm_accuracy`` is NaN)."""
    if torch.device(device).type != "cpu":
        raise ValueError(f"the RLHF agents run on CPU only (their models are tiny); got device {device!r}")
    p = cfg.proxy
    policy, _ = lm.pretrained(p.lm_config(p.policy))
    trunk = lm.pretrained(p.lm_config(p.rm_size))[0] if cfg.reward == "proxy" else None
    members = resume.in_turn(seeds, steps_per_member(cfg),
                             lambda seed, state, save: _train_one(cfg, policy, trunk, seed, state, save))
    return RunResult(members=members, config=asdict(cfg), device=str(device))


def steps_per_member(cfg: Config) -> int:
    """The steps a member saves after: the proxy's optimizer steps (none with the gold reward), then PPO's
    iterations."""
    return (rlhf.proxy_steps(cfg.proxy) if cfg.reward == "proxy" else 0) + cfg.iterations


PPO_STATE = ("pi", "opt", "gen", "order", "curve_kl", "curve_gold", "curve_reward", "updates", "proxy")
"""What ``_train_one`` saves after a PPO iteration and resumes from (with torch's global random state)."""


def _train_one(cfg: Config, reference: lm.LM, trunk: lm.LM | None, seed: int, state: dict | None = None,
               save: resume.Save | None = None) -> MemberResult:
    """One member: its proxy (``rlhf.train_proxy``, resumable after each of its steps) and PPO against it
    (resumable after each iteration), continuing from ``state`` when one of ``save``'s calls saved it."""
    start = time.perf_counter() - (0.0 if state is None else state["elapsed"])

    def saving(step: int, member_state) -> None:
        save(step, lambda: {"elapsed": time.perf_counter() - start, **member_state()})
    ppo_state = state if state is not None and state["phase"] == "ppo" else None
    proxy_steps = rlhf.proxy_steps(cfg.proxy) if trunk is not None else 0
    rm, rm_accuracy, proxy = None, math.nan, None
    if ppo_state is not None:
        proxy = ppo_state["proxy"]
    elif trunk is not None:
        proxy = rlhf.train_proxy(cfg.proxy, reference, trunk, seed, state, None if save is None else saving)
    if proxy is not None:
        rm, rm_accuracy = proxy.model, proxy.accuracy
    if trunk is not None and rm is None:  # the proxy's training diverged: nothing to optimize against
        return MemberResult(seed=seed, metrics={m: math.nan for m in METRICS}, curve_steps=[0],
                            curve_returns=[math.nan], initial={}, diverged=True, diverged_step=proxy.diverged_step,
                            wall_time=time.perf_counter() - start, extra={"diverged_in": "proxy"})
    if ppo_state is None:
        torch.manual_seed(derive_seed(seed, "rlhf_ppo/global"))
        pi = Policy(reference, torch.Generator().manual_seed(derive_seed(seed, "rlhf_ppo/value")))
        opt = torch.optim.AdamW(pi.parameters(), lr=cfg.lr, betas=(0.9, 0.95), weight_decay=0.0)
        gen = torch.Generator().manual_seed(derive_seed(seed, "rlhf_ppo/samples"))
        order = np.random.default_rng(derive_seed(seed, "rlhf_ppo/minibatches"))
        curve_kl, curve_gold, curve_reward, updates, first = [], [], [], 0, 0
    else:
        pi, opt, gen, order, curve_kl, curve_gold, curve_reward, updates, _ = (ppo_state[k] for k in PPO_STATE)
        torch.set_rng_state(ppo_state["torch_rng"])
        first = ppo_state["member_step"] - proxy_steps
    diverged, reached = None, False
    for it in range(first, cfg.iterations + 1):  # the last iteration only measures
        pi.eval()
        docs = lm.sample(pi.lm, cfg.batch, gen)
        with torch.no_grad():
            old_logp, old_v = pi(docs)
            ref_logp = lm.token_log_probs(reference, docs)
            gold = rlhf.gold(docs)
            reward = torch.as_tensor(gold if rm is None else rlhf.scores(rm, docs), dtype=torch.float32)
        mask = (docs[:, 1:] != language.PAD).float()
        kl = sequence_kl(old_logp, ref_logp, mask)
        curve_kl.append(float(kl.mean()))
        curve_gold.append(float(gold.mean()))
        curve_reward.append(float(reward.mean()))
        report_progress(it, cfg.iterations)
        if it == cfg.iterations:
            break
        adv, ret = _advantages(old_logp, ref_logp, old_v, reward, mask, cfg)
        pi.train()
        updates, diverged = _update(pi, opt, docs, old_logp, adv, ret, mask, cfg, order, updates)
        if diverged is not None:
            break
        if save is not None:
            here = locals()
            saving(proxy_steps + it + 1, lambda: {"phase": "ppo", "torch_rng": torch.get_rng_state(),
                                                  **{k: here[k] for k in PPO_STATE}})
    gain = [g - curve_gold[0] for g in curve_gold]
    n_params = sum(p.numel() for p in pi.parameters())
    if diverged is not None:
        metrics = {m: math.nan for m in METRICS}
        gain = gain + [math.nan] * (cfg.iterations + 1 - len(gain))
    else:
        at_kl = crossing(curve_kl, gain, cfg.kl_budget)
        reached = not math.isnan(at_kl)
        at_kl = at_kl if reached else gain[-1]  # never spent the budget: its last point is within it
        metrics = {"gold_at_kl": curve_gold[0] + at_kl, "gold_gain_at_kl": at_kl,
                   "oracle_gain_at_kl": _oracle_gain(cfg, reference, seed), "final_gold_gain": gain[-1],
                   "final_kl": curve_kl[-1], "rm_accuracy": rm_accuracy}
    tokens = updates * (cfg.batch // cfg.minibatches) * language.MAX_LENGTH  # every update's minibatch, padded
    return MemberResult(
        seed=seed, metrics=metrics, curve_steps=list(range(len(gain))), curve_returns=gain,
        initial={"gold_at_kl": curve_gold[0], "gold_gain_at_kl": 0.0, "final_gold_gain": 0.0, "final_kl": 0.0,
                 "rm_accuracy": 0.5},
        diverged=diverged is not None, diverged_step=diverged, env_steps=0, updates=updates,
        params={"policy": n_params, "total": n_params},
        flops=training_flops(n_params, trained=tokens), wall_time=time.perf_counter() - start,
        extra={"curve_x": "PPO iterations", "kl": curve_kl, "gold": curve_gold, "reward": curve_reward,
               "kl_budget_reached": diverged is None and reached})


def _oracle_gain(cfg: Config, reference: lm.LM, seed: int) -> float:
    """The gold gain that best-of-n with the gold reward itself reaches at ``kl_budget`` over a pool of
    ``proxy.pool`` samples of the reference (n up to ``proxy.max_n``, exact KL: ``rlhf.best_of_n``): what
    selecting by the true reward buys within the same KL, beside what PPO against the proxy bought."""
    pool = lm.sample(reference, cfg.proxy.pool, torch.Generator().manual_seed(derive_seed(seed, "rlhf_ppo/oracle")))
    g = rlhf.gold(pool)
    bon = rlhf.best_of_n(pool, g, g, [2 ** k for k in range(int(math.log2(cfg.proxy.max_n)) + 1)])
    return crossing(bon["kl"], [x - bon["gold"][0] for x in bon["gold"]], cfg.kl_budget)


def _advantages(logp: Tensor, ref_logp: Tensor, values: Tensor, reward: Tensor, mask: Tensor,
                cfg: Config) -> tuple[Tensor, Tensor]:
    """Whitened GAE advantages and value targets (B, T - 1) of one batch: the KL penalty at every token, the
    document's reward at its last token; padding carries nothing and bootstraps nothing."""
    rows = torch.arange(len(mask))
    last = mask.sum(1).long() - 1
    r = -cfg.kl_coef * (logp - ref_logp) * mask
    r[rows, last] += reward
    done = 1.0 - mask
    done[rows, last] = 1.0
    with torch.no_grad():
        adv = gae(r.T, (values * mask).T, done.T, torch.zeros(len(mask)), 1.0, cfg.gae_lambda).T * mask
        ret = adv + values * mask
        n = mask.sum()
        mean = adv.sum() / n
        std = (((adv - mean) * mask).square().sum() / n).sqrt()
    return (adv - mean) / (std + 1e-8) * mask, ret


def _update(pi: Policy, opt: torch.optim.Optimizer, docs: Tensor, old_logp: Tensor, adv: Tensor, ret: Tensor,
            mask: Tensor, cfg: Config, order: np.random.Generator, updates: int) -> tuple[int, int | None]:
    """``epochs`` x ``minibatches`` PPO steps on one batch; returns the update count and the update whose loss
    was not finite (None: none was, and every step was taken)."""
    size = cfg.batch // cfg.minibatches
    for _ in range(cfg.epochs):
        perm = torch.as_tensor(order.permutation(cfg.batch))
        for k in range(cfg.minibatches):
            idx = perm[k * size:(k + 1) * size]
            logp, v = pi(docs[idx])
            m = mask[idx]
            ratio = (logp - old_logp[idx]).exp()
            surrogate = torch.max(-adv[idx] * ratio, -adv[idx] * ratio.clamp(1 - cfg.clip, 1 + cfg.clip))
            loss = ((surrogate + cfg.vf_coef * 0.5 * (v - ret[idx]).square()) * m).sum() / m.sum()
            updates += 1
            if cfg._inject_nan_at == updates:
                loss = loss * math.nan
            if not torch.isfinite(loss):
                return updates, updates
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(pi.parameters(), 1.0)
            opt.step()
    return updates, None
