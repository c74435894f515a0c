"""Tiny causal language models on the synthetic language (harness/tasks/language.py), pretrained here and cached.

No pretrained language model can be downloaded on the machines this project targets, so the RLHF claims
start from models pretrained by this module, as the offline claims start from datasets that
harness/offline.py records. A model is a GPT-style decoder (Radford et al. 2019): token and learned
position embeddings, pre-LayerNorm blocks (causal multi-head attention, a 4x GELU MLP), a final LayerNorm and
an output layer tied to the token embedding. Presets (``PRESETS``: width, layers, heads) span 180x in
parameters: XS 17k, S 0.1M, M 0.6M, L 3.2M; quick uses XS, S and M (35x).

Pretraining is the same at every size, as in scaling studies: the same documents in the same order (the
batches depend on the seed alone), the same steps, AdamW (lr 1e-3, betas 0.9/0.95, weight decay 0.1 on
matrices), linear warm-up over 5% of the steps and a cosine decay to a tenth, next-token cross-entropy on
every token after <bos> (padding excluded). The validation loss on held-out documents must fall with size:
each model's card shows it beside the language's own entropy on the same documents (from the sampler's exact
probabilities, ``language.log_prob``), the floor no model can go below.

``pretrained(cfg)`` builds or reuses one model: the cache directory is named by a hash of the config and of
the code that makes it (this file and every harness module it imports: ``harness.identity``) and built once
(``harness.cache.built``: in a temporary directory renamed into place, under a file lock). Weights are saved as a
state dict and loaded with ``torch.load(weights_only=True)`` (no pickle of code). Layout of
``<root>/<key>/``: ``model.pt``, ``card.json`` (config, parameters, losses, samples' gold reward and parse
rate, build time) and ``card.md``.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import pickle
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from harness.cache import built
from harness.envs import derive_seed
from harness.tasks import language

PRESETS = {"XS": (32, 1, 2), "S": (64, 2, 4), "M": (128, 3, 4), "L": (256, 4, 8)}
"""size -> (width, layers, heads)."""
FORMAT = 1
NEVER_NEXT = (language.PAD, language.BOS)
"""Tokens no document continues with: padding (only after <eos>) and <bos> (only first). Their logits are -inf in
every next-token distribution, so that sampling, scoring and training share one support (a policy trained by RL
could otherwise drift onto tokens whose log-probability the losses mask out, and never be pushed back)."""


@dataclass(frozen=True)
class Config:
    """One pretrained model: its size and its pretraining (the same at every size)."""

    size: str = "S"
    steps: int = 2000
    """Gradient steps."""
    batch: int = 64
    """Documents per step."""
    documents: int = 200_000
    """Training documents sampled from the language (validation: ``val_documents`` more, never trained on)."""
    val_documents: int = 2000
    lr: float = 1e-3
    warmup: float = 0.05
    weight_decay: float = 0.1
    seed: int = 0
    """Seed of the corpus, the batches and the initial weights."""

    def __post_init__(self) -> None:
        if self.size not in PRESETS:
            raise ValueError(f"unknown LM size {self.size!r}; choose one of {list(PRESETS)}")
        for name in ("steps", "batch", "documents", "val_documents"):
            if getattr(self, name) < 1:
                raise ValueError(f"LM Config.{name} must be >= 1, got {getattr(self, name)}")

    @property
    def key(self) -> str:
        """Hash of the config and of the code that makes the model: the cache directory's name."""
        from harness.identity import code_identity
        text = json.dumps({"format": FORMAT, "config": asdict(self), "code": code_identity(__name__)["hash"]},
                          sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


# --- the model -------------------------------------------------------------------------------------------------

class Block(nn.Module):
    def __init__(self, d: int, heads: int):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))
        self.heads = heads

    def forward(self, x: Tensor, cache: list[Tensor] | None = None) -> Tensor:
        """Causal self-attention over ``x`` (B, T, d); with ``cache`` (keys and values of the positions before,
        updated in place) ``x`` holds the next position only and attends to all before it."""
        b, n, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        if cache is not None:
            if cache:
                k, v = torch.cat([cache[0], k], 2), torch.cat([cache[1], v], 2)
            cache[:] = [k, v]
        a = F.scaled_dot_product_attention(q, k, v, is_causal=cache is None)
        x = x + self.proj(a.transpose(1, 2).reshape(b, n, d))
        return x + self.mlp(self.ln2(x))


class LM(nn.Module):
    """A causal decoder over the language's tokens; ``hidden`` for reward models, ``forward`` for logits."""

    def __init__(self, size: str):
        super().__init__()
        d, layers, heads = PRESETS[size]
        self.size, self.width = size, d
        self.tok = nn.Embedding(len(language.VOCAB), d)
        self.pos = nn.Parameter(torch.zeros(language.MAX_LENGTH, d))
        self.blocks = nn.ModuleList(Block(d, heads) for _ in range(layers))
        self.ln = nn.LayerNorm(d)

    def init_weights(self, generator: torch.Generator) -> None:
        """GPT-2's: normal(0, 0.02) matrices and embeddings, zero biases; residual projections scaled by
        1/sqrt(2 * layers)."""
        with torch.no_grad():
            for name, p in self.named_parameters():
                if p.dim() >= 2:
                    std = 0.02 / math.sqrt(2 * len(self.blocks)) if name.endswith(("proj.weight", "mlp.2.weight")) \
                        else 0.02
                    p.copy_(torch.randn(p.shape, generator=generator) * std)
                elif name.endswith("bias"):
                    p.zero_()

    def hidden(self, tokens: Tensor, caches: list[list[Tensor]] | None = None, at: int = 0) -> Tensor:
        """(B, T) tokens -> (B, T, width): the final LayerNorm's output. With ``caches`` (one list per block,
        ``new_caches``) ``tokens`` is the single position ``at``, decoded after the cached ones."""
        x = self.tok(tokens) + self.pos[at: at + tokens.shape[1]]
        for i, block in enumerate(self.blocks):
            x = block(x, None if caches is None else caches[i])
        return self.ln(x)

    def new_caches(self) -> list[list[Tensor]]:
        return [[] for _ in self.blocks]

    def logits(self, h: Tensor) -> Tensor:
        """Hidden states (..., width) -> next-token logits (..., vocab), float32: the output layer is the token
        embedding; ``NEVER_NEXT`` get -inf."""
        return (h @ self.tok.weight.T).float().index_fill(-1, torch.tensor(NEVER_NEXT), -math.inf)

    def forward(self, tokens: Tensor) -> Tensor:
        """(B, T) -> (B, T, vocab) next-token logits."""
        return self.logits(self.hidden(tokens))


def parameters(size: str) -> int:
    return sum(p.numel() for p in LM(size).parameters())


def token_log_probs(model: LM, tokens: Tensor, h: Tensor | None = None) -> Tensor:
    """(B, T) -> (B, T - 1): log p(tokens[:, t + 1] | tokens[:, :t + 1]); 0 where the target is padding. ``h``:
    the model's hidden states of ``tokens[:, :-1]``, if already computed."""
    h = model.hidden(tokens[:, :-1]) if h is None else h
    logp = F.log_softmax(model.logits(h), -1).gather(-1, tokens[:, 1:, None])[..., 0]
    return logp.masked_fill(tokens[:, 1:] == language.PAD, 0.0)


def loss(model: LM, tokens: Tensor) -> Tensor:
    """Mean next-token cross-entropy (nats) over the non-padding targets."""
    return -token_log_probs(model, tokens).sum() / (tokens[:, 1:] != language.PAD).sum()


@torch.no_grad()
def sample(model: LM, n: int, generator: torch.Generator, temperature: float = 1.0) -> Tensor:
    """(n, MAX_LENGTH) documents sampled from <bos> until <eos> (padding after it) or the context's end."""
    out = torch.full((n, language.MAX_LENGTH), language.PAD, dtype=torch.long)
    out[:, 0] = language.BOS
    done = torch.zeros(n, dtype=torch.bool)
    caches = model.new_caches()  # keys and values of the positions decoded so far: one position per step
    for t in range(1, language.MAX_LENGTH):
        logits = model.logits(model.hidden(out[:, t - 1:t], caches, at=t - 1)[:, -1]) / temperature
        nxt = torch.multinomial(F.softmax(logits, -1), 1, generator=generator)[:, 0]
        out[:, t] = torch.where(done, language.PAD, nxt)
        done |= nxt == language.EOS
        if done.all():
            break
    return out


# --- pretraining and its cache -----------------------------------------------------------------------------------

def corpora(cfg: Config) -> tuple[np.ndarray, np.ndarray]:
    """The training and validation documents: (documents, MAX_LENGTH) and (val_documents, MAX_LENGTH)."""
    rng = np.random.default_rng(derive_seed(cfg.seed, "lm/corpus"))
    return language.sample_corpus(rng, cfg.documents), language.sample_corpus(rng, cfg.val_documents)


def pretrain(cfg: Config) -> tuple[LM, dict[str, Any]]:
    """Train one model from scratch; returns it and its card (losses, samples' quality, time)."""
    start = time.perf_counter()
    train_docs, val_docs = corpora(cfg)
    model = LM(cfg.size)
    model.init_weights(torch.Generator().manual_seed(derive_seed(cfg.seed, "lm/init")))
    decay = [p for p in model.parameters() if p.dim() >= 2]
    rest = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay}, {"params": rest, "weight_decay": 0.0}],
                            lr=cfg.lr, betas=(0.9, 0.95))
    warm = max(1, int(cfg.warmup * cfg.steps))
    order = np.random.default_rng(derive_seed(cfg.seed, "lm/batches"))
    val = torch.as_tensor(val_docs)
    curve: list[dict[str, float]] = []

    def val_loss() -> float:
        model.eval()
        with torch.no_grad():
            total = sum(float(token_log_probs(model, val[i:i + 500]).sum()) for i in range(0, len(val), 500))
        model.train()
        return -total / int((val[:, 1:] != language.PAD).sum())

    diverged = None
    for step in range(1, cfg.steps + 1):
        frac = (step - 1 - warm) / max(1, cfg.steps - warm)
        lr = cfg.lr * step / warm if step <= warm else cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))
        for g in opt.param_groups:
            g["lr"] = lr
        batch = torch.as_tensor(train_docs[order.integers(len(train_docs), size=cfg.batch)])
        ell = loss(model, batch)
        if not torch.isfinite(ell):
            diverged = step
            break
        opt.zero_grad(set_to_none=True)
        ell.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % max(1, cfg.steps // 10) == 0 or step == cfg.steps:
            curve.append({"step": step, "train_loss": float(ell.detach()), "val_loss": val_loss()})
    model.eval()
    samples = sample(model, 1000, torch.Generator().manual_seed(derive_seed(cfg.seed, "lm/samples")))
    parses = [language.parse(s.tolist()) for s in samples]
    gold = [language.reward_of(p) for p in parses]
    card = {"format": FORMAT, "key": cfg.key, "config": asdict(cfg), "parameters": parameters(cfg.size),
            "val_loss": curve[-1]["val_loss"] if curve and diverged is None else math.nan,
            "language_entropy": language_entropy(val_docs), "diverged_step": diverged, "curve": curve,
            "samples": {"n": len(parses), "well_formed": float(np.mean([p.violations == 0 and p.finished
                                                                            for p in parses])),
                        "gold_reward_mean": float(np.mean(gold)),
                        "examples": [language.decode(s.tolist()) for s in samples[:3]]},
            "build_seconds": round(time.perf_counter() - start, 1)}
    return model, card


def language_entropy(docs: np.ndarray) -> float:
    """The sampler's own cross-entropy per token on ``docs`` (nats): the loss a perfect model of the language
    would reach (``language.log_prob``)."""
    total = sum(language.log_prob(d) for d in docs)
    return float(-total / int((docs[:, 1:] != language.PAD).sum()))


def root_dir() -> Path:
    """Where pretrained models live: ``$HARNESS_LM`` or ``data/lm`` under the working directory."""
    return Path(os.environ.get("HARNESS_LM", "data/lm"))


def pretrained(cfg: Config, root: str | Path | None = None) -> tuple[LM, dict[str, Any]]:
    """The pretrained model of ``cfg`` and its card: loaded from ``<root>/<cfg.key>``, built there first if absent."""
    root = Path(root) if root is not None else root_dir()

    def build(tmp: Path) -> None:
        torch.set_num_threads(1)
        model, card = pretrain(cfg)
        torch.save(model.state_dict(), tmp / "model.pt")
        (tmp / "card.md").write_text(card_markdown(card))
        (tmp / "card.json").write_text(json.dumps(card, indent=1) + "\n")

    return load(built(root, cfg.key, build))


def load(path: str | Path) -> tuple[LM, dict[str, Any]]:
    """A built model and its card (weights only, no pickle of code); a missing or damaged one is a clear error."""
    path = Path(path)
    try:
        card = json.loads((path / "card.json").read_text())
        model = LM(card["config"]["size"])
        model.load_state_dict(torch.load(path / "model.pt", weights_only=True))
    except (OSError, KeyError, ValueError, RuntimeError, pickle.UnpicklingError) as e:
        raise ValueError(f"the pretrained LM at {path} is missing or damaged ({type(e).__name__}: {e}); delete that "
                         "directory and it is rebuilt on next use") from e
    model.eval()
    return model, card


def card_markdown(card: dict[str, Any]) -> str:
    c, s = card["config"], card["samples"]
    lines = [f"# Pretrained LM `{card['key']}`: size {c['size']}, {card['parameters']:,} parameters", "",
             f"- Pretraining: {c['steps']} steps x {c['batch']} documents of {c['documents']:,} (seed {c['seed']}), "
             f"lr {c['lr']:g}, built in {card['build_seconds']} s.",
             f"- Validation loss {card['val_loss']:.4f} nats per token; the language's own entropy on the same "
             f"documents {card['language_entropy']:.4f} (no model can go below it).",
             f"- Samples (1000 from <bos>, temperature 1): {s['well_formed']:.1%} well formed (no violation, "
             f"finished); mean gold reward {s['gold_reward_mean']:.3f}.", "", "Examples:", ""]
    return "\n".join(lines + [f"- `{e}`" for e in s["examples"]]) + "\n"
