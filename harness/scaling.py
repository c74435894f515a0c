"""Scaling laws: power-law fits with honest intervals, training compute, intrinsic performance and the
compute-efficient frontier (Hilton, Tang, Schulman 2023, arXiv:2301.13442). Pure numpy/scipy, no I/O.

Power law. ``y - floor = a * x ** b`` is fitted in log space, ``log(y - floor) = log a + b log x``, with a
robust loss (scipy ``least_squares``, ``soft_l1``), started from ordinary least squares and iterated to
convergence (tolerances 1e-12). ``floor`` is the metric's value at no learning (a random policy's
return), so that the law is about improvement over it; values at or below the floor are clipped to a
small positive ``eps`` times the data's scale.

Saturating form. Returns that approach a ceiling (a solved task) bend away from a straight line in log
space; ``fit_saturating_law`` fits ``y = ceiling - a * x ** (-b)`` instead (the gap to the ceiling is the
power law). No claim uses it yet.

Interval on the exponent. A claim has few seeds (3-5), so a bootstrap over seeds has few distinct
resamples and its percentile interval under-covers (with 5 seeds it cannot be wider than the most extreme
resample). ``fit_law`` instead fits each seed separately and uses a t-interval over the per-seed
exponents (mean +- t_{n-1} * sd / sqrt(n)): the seeds are independent replicates, so this has its nominal
coverage when the per-seed exponents are roughly normal; tests/test_scaling.py checks coverage on
synthetic data generated with the claims' own levels and seed counts.

Compute-optimal size. Over a grid of model sizes N x compute budgets (each cell a separate run), each
size's return-versus-compute curve is interpolated linearly in log compute; at each compute budget C that
every size covers, the optimal size N*(C) is the size with the highest interpolated return, and
``N* = k * C ** e`` is fitted per seed as above. Hilton et al. find e > 0: bigger models pay off as
compute grows.

Playing strength. An Elo rating R (random play 0) is the Bradley-Terry strength ``10 ** (R / 400)`` on a log
scale (``elo_strength``); Neumann & Gros 2023 (arXiv:2210.00849) fit that strength as a power law of
parameters and of compute, which is Elo linear in their logarithms: an exponent b is 400 b log10(2) Elo per
doubling. A law of an Elo metric is fitted to its strength, with floor 0.

Intrinsic performance. Given a reference fit of return against compute (``return = a * C ** b`` over the
frontier), the intrinsic performance of a return R is the compute at which the reference reaches R,
``(R / a) ** (1 / b)``: it turns returns into a compute scale on which power laws are expected.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Sequence

import numpy as np
from scipy import optimize, stats

__all__ = ["PowerLaw", "SaturatingLaw", "LawFit", "fit_power_law", "fit_saturating_law", "fit_law",
           "compute_optimal_sizes", "frontier", "intrinsic_performance", "elo_strength"]


@dataclass(frozen=True)
class PowerLaw:
    """``y = floor + a * x ** b``, fitted in log space."""

    a: float
    b: float
    floor: float = 0.0
    r2: float = math.nan
    """Coefficient of determination of the fit in log space (1 = perfect)."""

    def __call__(self, x: np.ndarray | float) -> np.ndarray:
        return self.floor + self.a * np.asarray(x, dtype=float) ** self.b


@dataclass
class LawFit:
    """The pooled fit (to per-level means) and the per-seed t-interval on its exponent."""

    law: PowerLaw
    exponent: float
    """Mean of the per-seed exponents (the interval's centre)."""
    ci: tuple[float, float]
    level: float
    per_seed: list[float] = field(default_factory=list)
    n_points: int = 0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["ci"] = list(self.ci)
        return d


def _positive(y: np.ndarray, floor: float, eps: float) -> np.ndarray:
    d = y - floor
    scale = np.nanmax(np.abs(d)) if np.isfinite(d).any() and np.nanmax(np.abs(d)) > 0 else 1.0
    return np.maximum(d, eps * scale)


def fit_power_law(x: Sequence[float], y: Sequence[float], floor: float = 0.0, eps: float = 1e-3) -> PowerLaw:
    """Robust log-space fit of ``y = floor + a * x ** b`` (needs >= 2 distinct positive x)."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0)
    x, y = x[ok], y[ok]
    if len(np.unique(x)) < 2:
        raise ValueError(f"a power law needs at least 2 distinct positive x values, got {x.tolist()}")
    lx, ly = np.log(x), np.log(_positive(y, floor, eps))
    b0, c0 = np.polyfit(lx, ly, 1)
    res = optimize.least_squares(lambda p: p[0] + p[1] * lx - ly, x0=[c0, b0], loss="soft_l1",
                                 f_scale=max(float(np.std(ly)), 1e-6) * 0.5, xtol=1e-12, ftol=1e-12,
                                 gtol=1e-12, max_nfev=10_000)
    c, b = res.x
    pred = c + b * lx
    ss_tot = float(np.sum((ly - ly.mean()) ** 2))
    r2 = 1.0 - float(np.sum((ly - pred) ** 2)) / ss_tot if ss_tot > 0 else math.nan
    return PowerLaw(a=float(math.exp(c)), b=float(b), floor=floor, r2=r2)


@dataclass(frozen=True)
class SaturatingLaw:
    """``y = ceiling - a * x ** (-b)``: the gap to a ceiling shrinks as a power law (b > 0)."""

    ceiling: float
    a: float
    b: float
    r2: float = math.nan

    def __call__(self, x: np.ndarray | float) -> np.ndarray:
        return self.ceiling - self.a * np.asarray(x, dtype=float) ** (-self.b)


def fit_saturating_law(x: Sequence[float], y: Sequence[float]) -> SaturatingLaw:
    """Robust fit of ``y = ceiling - a * x ** (-b)`` (needs >= 3 distinct positive x): for metrics that
    approach a ceiling, where a plain power law bends away from the data. Linear-space residuals with a
    soft-L1 loss, started from a log-space fit of the gap to max(y) + 10% of the range, iterated to
    convergence; a > 0 and the ceiling above every point are enforced by the parametrization."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0)
    x, y = x[ok], y[ok]
    if len(np.unique(x)) < 3:
        raise ValueError(f"a saturating law needs at least 3 distinct positive x values, got {x.tolist()}")
    span = float(np.ptp(y)) or 1.0
    ceiling0 = float(y.max()) + 0.1 * span
    b0, c0 = np.polyfit(np.log(x), np.log(ceiling0 - y), 1)  # log gap = log a - b log x

    def model(p: np.ndarray) -> np.ndarray:  # p = (log(ceiling - max y), log a, b)
        return y.max() + np.exp(p[0]) - np.exp(p[1]) * x ** (-p[2])

    res = optimize.least_squares(lambda p: (model(p) - y) / span, x0=[math.log(ceiling0 - y.max()), c0, -b0],
                                 loss="soft_l1", f_scale=0.1, xtol=1e-12, ftol=1e-12, gtol=1e-12, max_nfev=20_000)
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - float(np.sum((model(res.x) - y) ** 2)) / ss_tot if ss_tot > 0 else math.nan
    return SaturatingLaw(ceiling=float(y.max() + math.exp(res.x[0])), a=float(math.exp(res.x[1])),
                         b=float(res.x[2]), r2=r2)


def t_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high) of a t-interval over independent replicates (nan with fewer than 2)."""
    v = np.asarray([u for u in values if math.isfinite(u)], dtype=float)
    if len(v) < 2:
        return (float(v.mean()) if len(v) else math.nan, math.nan, math.nan)
    half = stats.t.ppf(0.5 + level / 2, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v))
    return float(v.mean()), float(v.mean() - half), float(v.mean() + half)


def elo_strength(elo: np.ndarray | float) -> np.ndarray:
    """The Bradley-Terry playing strength ``10 ** (elo / 400)`` of Elo ratings (random play: 1)."""
    return np.power(10.0, np.asarray(elo, dtype=float) / 400.0)


def fit_law(x: Sequence[float], y: Sequence[float], seed: Sequence[int], floor: float = 0.0,
            level: float = 0.95) -> LawFit:
    """Power law of y in x over all points (per-level means), with a t-interval over per-seed exponents."""
    x, y, seed = np.asarray(x, float), np.asarray(y, float), np.asarray(seed)
    levels = np.unique(x)
    means = [np.nanmean(y[x == v]) for v in levels]
    pooled = fit_power_law(levels, means, floor=floor)
    per_seed = [fit_power_law(x[seed == s], y[seed == s], floor=floor).b for s in np.unique(seed)
                if len(np.unique(x[seed == s])) >= 2]
    centre, lo, hi = t_interval(per_seed, level)
    return LawFit(law=pooled, exponent=centre, ci=(lo, hi), level=level, per_seed=per_seed, n_points=len(x))


def frontier(compute: Sequence[float], value: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """The compute-efficient frontier: the best value reached at or below each compute, over runs sorted
    by compute (a running maximum). Returns (compute sorted, best value so far)."""
    c, v = np.asarray(compute, float), np.asarray(value, float)
    order = np.argsort(c)
    return c[order], np.fmax.accumulate(v[order])


def compute_optimal_sizes(size: Sequence[float], compute: Sequence[float], value: Sequence[float],
                          budgets: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """N*(C) at ``budgets`` log-spaced compute budgets that EVERY size's runs cover (module docstring).

    ``size``, ``compute``, ``value``: one entry per grid cell (one seed). Each size's value is interpolated
    in log compute between its own cells, and only budgets inside the intersection of all sizes' compute
    ranges are used: at a budget that only the larger sizes reach, N* would rise by construction. A grid of
    sizes x env steps gives sizes compute ranges shifted by their size ratio, often disjoint; an IsoFLOP
    grid (sizes x compute, env steps = C / FLOPs per step) covers every budget with every size. Returns
    (budgets C, optimal sizes N*), empty when the ranges do not overlap."""
    n, c, v = (np.asarray(a, float) for a in (size, compute, value))
    curves = {}
    for s in np.unique(n):
        m = n == s
        order = np.argsort(c[m])
        curves[s] = (np.log(c[m][order]), v[m][order])
    if len(curves) < 2:
        return np.array([]), np.array([])
    lo = max(lc[0] for lc, _ in curves.values())
    hi = min(lc[-1] for lc, _ in curves.values())
    if hi <= lo:
        return np.array([]), np.array([])
    grid = np.linspace(lo, hi, budgets)
    best = [max(curves, key=lambda s: float(np.interp(lcj, *curves[s]))) for lcj in grid]
    return np.exp(grid), np.array(best, dtype=float)


def intrinsic_performance(value: Sequence[float] | float, reference: PowerLaw) -> np.ndarray:
    """The compute at which ``reference`` (value against compute) reaches ``value``: its inverse."""
    v = np.asarray(value, dtype=float) - reference.floor
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(v > 0, (v / reference.a) ** (1.0 / reference.b), np.nan)
