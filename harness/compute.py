"""How an agent's arithmetic runs: its numeric precision and the fused optimizer step.

``precision`` (a Config field of the agents that use this module) is part of the config, hence of the record
key, and the report shows it. "fp32" runs everything in float32. "bf16" runs the networks' forward passes
under ``torch.autocast(dtype=torch.bfloat16)``: matrix products take bfloat16 inputs (this CPU has
AVX512-BF16: a 1024^3 matmul runs about 6x faster than in float32, ``benchmarks/sac_update_profile.py``),
while the master weights, the optimizer's moments, the gradients the optimizer reads and every loss stay
float32 (an agent casts network outputs with ``.float()`` before it forms a loss). An agent may use bf16 in a
claim only after its validation passes in bf16 and its quality benchmark finds bf16 and fp32 equivalent.

``FusedEnsembleAdam`` is ``harness.nn.EnsembleAdam`` (same settings, same per-member freezing) with its
arithmetic in torch's single fused Adam/AdamW kernel (``torch._fused_adam_``, the kernel of
``torch.optim.Adam(fused=True)``) instead of ten foreach passes: 3.3x faster on an SAC actor's 347k
parameters here. Its results equal ``torch.optim.Adam(fused=True)`` bit for bit and the foreach form to
rounding (tests/test_compute.py). It lives here rather than in harness/nn.py because every agent's record key
includes nn.py; an agent opts in when its records are next recomputed, and EnsembleAdam takes the fused
kernel once all have.
"""
from __future__ import annotations

from contextlib import nullcontext
from typing import ContextManager, Sequence

import torch

from harness import nn as enn

PRECISIONS = ("fp32", "bf16")


def check_precision(precision: str) -> None:
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")


def autocast(precision: str, device: str | torch.device) -> ContextManager:
    """The context in which an agent runs its networks' forward passes at ``precision``."""
    check_precision(precision)
    if precision == "fp32":
        return nullcontext()
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)


class FusedEnsembleAdam(enn.EnsembleAdam):
    """``EnsembleAdam`` with torch's fused Adam (weight_decay 0) or AdamW kernel; see the module docstring."""

    @torch.no_grad()
    def step(self, closure=None, frozen: Sequence[int] = ()) -> None:  # type: ignore[override]
        if closure is not None:
            raise ValueError("FusedEnsembleAdam does not take a closure")
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            for p in params:
                if not self.state[p]:
                    self.state[p]["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    self.state[p]["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            exp_avgs = [self.state[p]["exp_avg"] for p in params]
            exp_avg_sqs = [self.state[p]["exp_avg_sq"] for p in params]
            group["step"] += 1
            (beta1, beta2), wd = group["betas"], group["weight_decay"]
            steps = [torch.tensor(float(group["step"]), device=params[0].device)] * len(params)
            kernel = torch._fused_adamw_ if wd else torch._fused_adam_
            with enn.preserve_members(params + exp_avgs + exp_avg_sqs, frozen, self.members):
                kernel(params, [p.grad for p in params], exp_avgs, exp_avg_sqs, [], steps, amsgrad=False,
                       lr=group["lr"], beta1=beta1, beta2=beta2, weight_decay=wd, eps=group["eps"], maximize=False)
