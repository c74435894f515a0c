"""Seed-vectorized building blocks: M independent networks (one per seed) trained as one batched ensemble.

Every agent in ``harness/agents`` trains all seeds of a unit in one process. This module holds the pieces
that make that exact rather than approximate, so that member i behaves as a run with seed i alone would:

Layout. Every ensemble tensor has a leading *row* dimension of size E = M * K: M members, each owning K
consecutive rows (K = 1 for most networks; K = 2 for SAC's twin critics, which are two networks per
member). Rows of member i are ``[i * K, (i + 1) * K)``. Ensemble layers take inputs of shape
(E, ..., in) and apply row e's weights to ``x[e]``; nothing in a forward or backward pass mixes rows, so a
member's outputs and gradients never depend on another member's values (NaN included).

    EnsembleLinear(E, in, out)        weight (E, in, out), bias (E, 1, out); y = baddbmm(bias, x, weight)
    EnsembleLayerNorm(E, dim)         LayerNorm with a per-row affine (E, 1, dim)
    ensemble_mlp(E, in, hidden, out)  Linear/activation stack (plain MLP, torch-default init as nn.Linear)
    simba_encoder(E, in, width, n)    SimBa: Linear -> n pre-LN residual blocks (4x inner) -> LayerNorm
    RunningMeanStd(M, dim)            per-member running mean/variance for observation normalization

Initialization. ``init_members(module, generators)`` draws every ensemble layer's rows from the owning
member's own ``torch.Generator`` (``member_generators([derive_seed(s, "init/...") for s in seeds])``),
layer by layer in registration order. Member i's initial weights therefore depend on its seed alone and
are identical whatever M is; with the ``"torch"`` init a row equals a fresh ``nn.Linear`` built after
``torch.manual_seed(seed)``.

Optimization. ``EnsembleAdam`` is Adam/AdamW over ensemble parameters. Adam is elementwise, so one
optimizer over batched parameters is exactly M independent optimizers; the two things that could mix
members are handled here: gradient clipping is per member (``clip_grad_norm_``), and a *frozen* member (a
diverged one) is excluded by ``step(frozen=...)``, which restores the frozen members' rows of the
parameters and of the moment estimates after the (row-independent) update, so its state stays exactly
as it was and the other rows get bit-for-bit the update they would get without it. ``polyak_update_``
does the same for target networks. Divergence is detected with ``nonfinite_members``.

Randomness. ``MemberSampler`` draws per-member random tensors (action noise, replay indices) from one
generator per member, in chunks to keep the per-call overhead low; member i's stream depends on its seed.
This module takes integer seeds; deriving them from a run seed (``harness.envs.derive_seed``) is the
caller's job, so the module has no dependency on the rest of the harness.

Typical use (see harness/agents/sac.py)::

    gens = member_generators([derive_seed(s, "init/policy") for s in seeds])
    net = init_members(ensemble_mlp(M, obs_dim, [64, 64], act_dim), gens)
    opt = EnsembleAdam(net.parameters(), members=M, lr=3e-4)
    loss = per_member_loss(net(x))          # x: (M, B, obs_dim); loss: (M,)
    if nonfinite_members([loss], M).any(): frozen += ...   # decide before stepping
    opt.zero_grad()
    loss.sum().backward()                   # SUM over members: each member gets its own gradient
    clip_grad_norm_(net.parameters(), 0.5, M)              # optional, per member
    opt.step(frozen=frozen)

Sum the members' losses, never average them: a mean would scale every member's gradient by 1/M, which
changes Adam (through eps) and clipping, so member i would no longer match a run of seed i alone.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Iterable, Iterator, Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

__all__ = [
    "member_generators", "EnsembleLinear", "EnsembleLayerNorm", "ResidualBlock", "ensemble_mlp",
    "simba_encoder", "init_members", "RunningMeanStd", "EnsembleAdam", "clip_grad_norm_",
    "polyak_update_", "preserve_members", "nonfinite_members", "count_params", "member_rows",
    "member_state", "MemberSampler",
]


# --- randomness ----------------------------------------------------------------------------------------

def member_generators(seeds: Sequence[int], device: str | torch.device = "cpu") -> list[torch.Generator]:
    """One ``torch.Generator`` per member, seeded with ``seeds[i]`` (already derived for one stream)."""
    gens = []
    for s in seeds:
        g = torch.Generator(device=device)
        g.manual_seed(int(s) & 0xFFFF_FFFF_FFFF_FFFF)
        gens.append(g)
    return gens


class MemberSampler:
    """Random tensors of a fixed ``shape`` for M members, member i drawn from its own generator.

    ``sampler()`` returns shape (M, *shape): standard normal (``kind="normal"``) or uniform on [0, 1)
    (``kind="uniform"``). Draws are made ``chunk`` calls at a time per member (one torch call per member
    per chunk instead of per call); the values member i receives depend only on its seed, ``shape`` and
    ``chunk``, never on M or on the other members.
    """

    def __init__(self, seeds: Sequence[int], shape: Sequence[int], kind: str = "normal",
                 dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu", chunk: int = 256):
        if kind not in ("normal", "uniform"):
            raise ValueError(f"MemberSampler kind must be 'normal' or 'uniform', got {kind!r}")
        self.generators = member_generators(seeds, device)
        self.shape, self.kind, self.dtype, self.device, self.chunk = tuple(shape), kind, dtype, device, chunk
        self._buf: Tensor | None = None
        self._next = chunk

    def __call__(self) -> Tensor:
        if self._next == self.chunk:
            draw = torch.randn if self.kind == "normal" else torch.rand
            size = (self.chunk, *self.shape)
            self._buf = torch.stack([draw(size, generator=g, dtype=self.dtype, device=self.device)
                                     for g in self.generators], dim=1)  # (chunk, M, *shape)
            self._next = 0
        out = self._buf[self._next]
        self._next += 1
        return out


# --- layers --------------------------------------------------------------------------------------------

class EnsembleLinear(nn.Module):
    """E independent linear layers: ``y[e] = x[e] @ weight[e] + bias[e]`` for x of shape (E, ..., in).

    ``init`` selects the per-row initialization drawn by ``reset_parameters``:
      "torch"      nn.Linear's default (kaiming_uniform a=sqrt(5), bias U(+-1/sqrt(in))) (SB3, CleanRL)
      "orthogonal" orthogonal weight with ``gain``, zero bias (flax ``orthogonal(gain)``)
      "he_normal"  truncated normal, std sqrt(2/in) / .8796, cut at 2 std, zero bias (flax ``he_normal``)
    """

    INITS = ("torch", "orthogonal", "he_normal")

    def __init__(self, ensemble: int, in_features: int, out_features: int, init: str = "torch",
                 gain: float = 1.0):
        super().__init__()
        if init not in self.INITS:
            raise ValueError(f"init must be one of {self.INITS}, got {init!r}")
        self.ensemble, self.in_features, self.out_features = ensemble, in_features, out_features
        self.init, self.gain = init, gain
        self.weight = nn.Parameter(torch.empty(ensemble, in_features, out_features))
        self.bias = nn.Parameter(torch.empty(ensemble, 1, out_features))
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self, generators: Sequence[torch.Generator] | None = None) -> None:
        """Draw row e from ``generators[e // K]``, K = E / len(generators), so a member's rows come from its
        own generator in order; ``None`` draws every row from torch's global RNG (as nn.Linear does)."""
        gens = [None] * self.ensemble if generators is None else generators
        k = _rows_per_member(self.ensemble, len(gens))
        fan_in = self.in_features
        for e in range(self.ensemble):
            g = gens[e // k]
            w = torch.empty(self.out_features, self.in_features)  # nn.Linear layout, then transposed
            b = torch.zeros(self.out_features)
            if self.init == "torch":
                nn.init.kaiming_uniform_(w, a=math.sqrt(5), generator=g)
                bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
                nn.init.uniform_(b, -bound, bound, generator=g)
            elif self.init == "orthogonal":
                nn.init.orthogonal_(w, gain=self.gain, generator=g)
            else:
                std = math.sqrt(2.0 / fan_in) / 0.87962566103423978
                nn.init.trunc_normal_(w, std=std, a=-2 * std, b=2 * std, generator=g)
            self.weight[e].copy_(w.T)
            self.bias[e, 0].copy_(b)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() == 3:
            return torch.baddbmm(self.bias, x, self.weight)
        shape = x.shape
        y = torch.baddbmm(self.bias, x.reshape(shape[0], -1, shape[-1]), self.weight)
        return y.reshape(*shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        return f"ensemble={self.ensemble}, in={self.in_features}, out={self.out_features}, init={self.init}"


class EnsembleLayerNorm(nn.Module):
    """LayerNorm over the last dim with a per-row scale and shift (E, 1, dim), initialized to 1 and 0."""

    def __init__(self, ensemble: int, dim: int, eps: float = 1e-5):
        super().__init__()
        self.dim, self.eps = dim, eps
        self.weight = nn.Parameter(torch.ones(ensemble, 1, dim))
        self.bias = nn.Parameter(torch.zeros(ensemble, 1, dim))

    @torch.no_grad()
    def reset_parameters(self, generators: Sequence[torch.Generator] | None = None) -> None:
        self.weight.fill_(1.0)
        self.bias.zero_()

    def forward(self, x: Tensor) -> Tensor:
        y = F.layer_norm(x, (self.dim,), eps=self.eps)
        if x.dim() == 3:
            return torch.addcmul(self.bias, y, self.weight)
        view = (x.shape[0],) + (1,) * (x.dim() - 2) + (self.dim,)
        return torch.addcmul(self.bias.view(view), y, self.weight.view(view))


class ResidualBlock(nn.Module):
    """SimBa's pre-LN residual block: ``x + W2 relu(W1 LN(x))``, inner width 4x, He-normal init."""

    def __init__(self, ensemble: int, width: int, eps: float = 1e-6):
        super().__init__()
        self.norm = EnsembleLayerNorm(ensemble, width, eps=eps)
        self.fc1 = EnsembleLinear(ensemble, width, 4 * width, init="he_normal")
        self.fc2 = EnsembleLinear(ensemble, 4 * width, width, init="he_normal")

    def forward(self, x: Tensor) -> Tensor:
        return x + self.fc2(F.relu(self.fc1(self.norm(x))))


def ensemble_mlp(ensemble: int, in_dim: int, hidden: Sequence[int], out_dim: int | None = None,
                 activation: type[nn.Module] = nn.ReLU, init: str = "torch") -> nn.Sequential:
    """Plain MLP: Linear+activation per ``hidden`` width, then a final Linear to ``out_dim`` if given."""
    layers: list[nn.Module] = []
    d = in_dim
    for h in hidden:
        layers += [EnsembleLinear(ensemble, d, h, init=init), activation()]
        d = h
    if out_dim is not None:
        layers.append(EnsembleLinear(ensemble, d, out_dim, init=init))
    return nn.Sequential(*layers)


def simba_encoder(ensemble: int, in_dim: int, width: int, blocks: int, eps: float = 1e-6) -> nn.Sequential:
    """SimBa encoder (Lee et al. 2024, arXiv:2410.09754; SonyResearch/simba ``SACEncoder``, "residual").

    Linear(in, width) with orthogonal(1) init -> ``blocks`` x ResidualBlock -> final LayerNorm. LayerNorm
    eps 1e-6 as in flax. Input normalization (RunningMeanStd) is applied by the agent before this.
    """
    return nn.Sequential(EnsembleLinear(ensemble, in_dim, width, init="orthogonal", gain=1.0),
                         *[ResidualBlock(ensemble, width, eps=eps) for _ in range(blocks)],
                         EnsembleLayerNorm(ensemble, width, eps=eps))


def init_members(module: nn.Module, generators: Sequence[torch.Generator]) -> nn.Module:
    """(Re)initialize every ensemble layer of ``module`` from the members' own generators, in order."""
    for m in module.modules():
        if isinstance(m, (EnsembleLinear, EnsembleLayerNorm)):
            m.reset_parameters(generators)
    return module


class RunningMeanStd(nn.Module):
    """Per-member running mean and variance of observations (float64), for input normalization.

    Matches gymnasium's / SimBa's ``RunningMeanStd``: initial mean 0, var 1, count 1e-4; ``update(x)``
    with x of shape (M, dim) adds one observation per member (parallel-variance formula);
    ``normalize(x)`` maps x of shape (M, ..., dim) to ``(x - mean) / sqrt(var + eps)`` in float32.
    """

    def __init__(self, members: int, dim: int, eps: float = 1e-8):
        super().__init__()
        self.eps = eps
        self.register_buffer("mean", torch.zeros(members, dim, dtype=torch.float64))
        self.register_buffer("var", torch.ones(members, dim, dtype=torch.float64))
        self.register_buffer("count", torch.full((members, 1), 1e-4, dtype=torch.float64))
        self._refresh()

    @torch.no_grad()
    def update(self, x: Tensor, frozen: Sequence[int] = ()) -> None:
        with preserve_members([self.mean, self.var, self.count], frozen, self.mean.shape[0]):
            x = x.to(torch.float64)
            delta = x - self.mean
            total = self.count + 1.0
            self.mean.add_(delta / total)
            self.var.copy_((self.var * self.count + delta.square() * self.count / total) / total)
            self.count.copy_(total)
        self._refresh()

    def _refresh(self) -> None:
        self._shift = self.mean.float()
        self._scale = (self.var + self.eps).rsqrt().float()

    def _apply(self, fn, *args, **kwargs):  # keep the float32 caches on the buffers' device
        out = super()._apply(fn, *args, **kwargs)
        self._refresh()
        return out

    def normalize(self, x: Tensor) -> Tensor:
        view = (x.shape[0],) + (1,) * (x.dim() - 2) + (x.shape[-1],)
        return (x - self._shift.view(view)) * self._scale.view(view)


# --- per-member bookkeeping ----------------------------------------------------------------------------

def _rows_per_member(rows: int, members: int) -> int:
    if members <= 0 or rows % members:
        raise ValueError(f"an ensemble tensor with {rows} rows cannot be split among {members} members")
    return rows // members


def member_rows(t: Tensor, i: int, members: int) -> Tensor:
    """The rows of member ``i`` in a tensor whose leading dim is M * K (a view)."""
    k = _rows_per_member(t.shape[0], members)
    return t[i * k:(i + 1) * k]


def member_state(module: nn.Module, i: int, members: int) -> dict[str, Tensor]:
    """Member ``i``'s slice of every parameter and buffer of ``module`` (copies), by name."""
    return {name: member_rows(t, i, members).detach().clone()
            for name, t in list(module.named_parameters()) + list(module.named_buffers())}


def count_params(module: nn.Module | Iterable[Tensor], members: int) -> int:
    """Trainable parameters of ONE member (ensemble parameters hold M members' worth)."""
    params = module.parameters() if isinstance(module, nn.Module) else module
    total = sum(p.numel() for p in params if p.requires_grad)
    return _rows_per_member(total, members)


def nonfinite_members(tensors: Iterable[Tensor], members: int) -> Tensor:
    """Bool (M,): True where any entry of member i's rows (in any of ``tensors``) is NaN or +-inf."""
    bad = None
    for t in tensors:
        b = ~torch.isfinite(t.detach().reshape(members, -1)).all(dim=1)
        bad = b if bad is None else bad | b
    if bad is None:
        raise ValueError("nonfinite_members needs at least one tensor")
    return bad


@contextmanager
def preserve_members(tensors: Sequence[Tensor], frozen: Sequence[int], members: int) -> Iterator[None]:
    """Restore the rows of the ``frozen`` members of every tensor on exit: whatever the block does to
    them (NaN included) is undone, and the other rows are left exactly as the block computed them."""
    if not len(frozen):
        yield
        return
    saved = [[member_rows(t, i, members).clone() for i in frozen] for t in tensors]
    try:
        yield
    finally:
        with torch.no_grad():
            for t, rows in zip(tensors, saved):
                for i, r in zip(frozen, rows):
                    member_rows(t, i, members).copy_(r)


@torch.no_grad()
def clip_grad_norm_(params: Iterable[Tensor], max_norm: float, members: int) -> Tensor:
    """Per-member ``torch.nn.utils.clip_grad_norm_``: member i's gradients (all its rows in all ``params``)
    are scaled by ``min(1, max_norm / (norm_i + 1e-6))``. Returns the (M,) norms before clipping."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return torch.zeros(members)
    sq = torch.stack([g.reshape(members, -1).square().sum(dim=1) for g in grads]).sum(dim=0)
    norms = sq.sqrt()
    coef = (max_norm / (norms + 1e-6)).clamp(max=1.0)
    for g in grads:
        k = _rows_per_member(g.shape[0], members)
        g.mul_(coef.repeat_interleave(k).view(-1, *([1] * (g.dim() - 1))))
    return norms


@torch.no_grad()
def polyak_update_(target: Sequence[Tensor], source: Sequence[Tensor], tau: float, members: int,
                   frozen: Sequence[int] = ()) -> None:
    """``target <- (1 - tau) * target + tau * source`` for every member except the ``frozen`` ones."""
    target, source = list(target), list(source)
    with preserve_members(target, frozen, members):
        torch._foreach_lerp_(target, source, tau)


class EnsembleAdam(torch.optim.Optimizer):
    """Adam (``weight_decay`` = 0) or AdamW (decoupled weight decay) over ensemble parameters.

    The arithmetic is torch.optim.Adam's / AdamW's (same operations in the same order), and it is
    elementwise, so this is exactly M independent optimizers, one per member. ``step(frozen=[...])``
    leaves the frozen members' rows of the parameters and of both moment estimates untouched (see
    ``preserve_members``). One step counter serves all members: a frozen member never resumes, so every
    member that updates has taken the same number of steps.
    """

    def __init__(self, params: Iterable[Tensor], members: int, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0):
        if lr < 0 or eps < 0 or weight_decay < 0 or not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"invalid Adam settings: lr={lr}, betas={betas}, eps={eps}, "
                             f"weight_decay={weight_decay}")
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))
        self.members = members
        for group in self.param_groups:
            group["step"] = 0
            for p in group["params"]:
                _rows_per_member(p.shape[0], members)

    @torch.no_grad()
    def step(self, closure=None, frozen: Sequence[int] = ()) -> None:  # type: ignore[override]
        if closure is not None:
            raise ValueError("EnsembleAdam does not take a closure")
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            grads = [p.grad for p in params]
            for p in params:
                if not self.state[p]:
                    self.state[p]["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    self.state[p]["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            exp_avgs = [self.state[p]["exp_avg"] for p in params]
            exp_avg_sqs = [self.state[p]["exp_avg_sq"] for p in params]
            group["step"] += 1
            lr, (beta1, beta2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
            bias_correction1 = 1 - beta1 ** group["step"]
            bias_correction2_sqrt = math.sqrt(1 - beta2 ** group["step"])
            with preserve_members(params + exp_avgs + exp_avg_sqs, frozen, self.members):
                if wd:
                    torch._foreach_mul_(params, 1 - lr * wd)
                torch._foreach_lerp_(exp_avgs, grads, 1 - beta1)
                torch._foreach_mul_(exp_avg_sqs, beta2)
                torch._foreach_addcmul_(exp_avg_sqs, grads, grads, 1 - beta2)
                denom = torch._foreach_sqrt(exp_avg_sqs)
                torch._foreach_div_(denom, bias_correction2_sqrt)
                torch._foreach_add_(denom, eps)
                torch._foreach_addcdiv_(params, exp_avgs, denom, -lr / bias_correction1)
