"""Pieces shared by several agents: advantage estimation and the one training-compute formula.

Training side only: nothing here is statistics, so editing a verdict or a power-law fit never changes the
code identity of a training record (harness/identity.py).
"""
from __future__ import annotations

from torch import Tensor


def gae(rewards: Tensor, values: Tensor, dones: Tensor, next_value: Tensor, gamma: float, lam: float) -> Tensor:
    """Generalized advantage estimates (Schulman et al. 2016, arXiv:1506.02438) over a rollout, time first.
    ``dones[t]`` ends the episode after step t (no bootstrap across it); a time limit's bootstrap is already
    folded into ``rewards[t]``."""
    import torch

    adv = torch.zeros_like(rewards)
    last = torch.zeros_like(next_value)
    for t in reversed(range(rewards.shape[0])):
        nv = next_value if t == rewards.shape[0] - 1 else values[t + 1]
        nonterminal = 1.0 - dones[t]
        delta = rewards[t] + gamma * nv * nonterminal - values[t]
        last = delta + gamma * lam * nonterminal * last
        adv[t] = last
    return adv


def training_flops(params: int, trained: float, acted: float = 0.0) -> float:
    """Training compute in FLOPs by the 6N rule (Kaplan et al. 2020, arXiv:2001.08361, which Hilton et al.
    2023 follow): 6 FLOPs per parameter for each sample that goes through an update's forward and backward
    pass (``trained``: samples x epochs, or batch x updates, or tokens), plus 2 per parameter for each sample
    that only goes forward (``acted``: env steps of acting). Every agent reports its compute through this."""
    return float(6 * params * trained + 2 * params * acted)
