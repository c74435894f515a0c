"""Power analysis for a claim's trend test: how many seeds a design needs to see the paper's effect.

Pure: numbers in, dataclasses out (numpy, scipy and harness.trend; nothing read from disk). ``python -m
harness plan`` (harness/cli.py) gathers the numbers: the claim's design, a noise sd, the paper's effect.

The test is the verdict's own (``trend.assess``): a one-sided permutation test of Kendall's S between the
axis coordinate x (log2 of the level on a "log" scale, the level's index on an "ordinal" one) and the
metric, within blocks (seeds) when blocked, inverted over the shift b of ``y - b x``. The noise model is
Gaussian with sd ``sd`` (in the claim's units: normalized where the claim normalizes), the same for every
level; block (seed) offsets cancel in a blocked test, so ``sd`` is the within-block noise.

Formulas
--------

*Noise sd* (``noise_sd``): the residual sd of ``trend._residuals`` (what the verdict's MDE resamples):
y minus its block means (when blocked), minus the level means of that, ``sd = sqrt(sum r^2 / df)`` with
``df = n - levels - (blocks - 1)``. With one level only (a pilot of the smallest level), or no block
spanning two levels, blocks cannot be separated from noise and it is the plain within-level sd
(``df = n - levels``): it then includes the seed-to-seed offsets, so it errs on the large (safe) side.

*MDE* (``mde``): the smallest slope delta beyond the tested boundary such that data ``delta * x + noise``
are rejected with probability ``power``. As in ``trend._mde``, for each simulated noise the test rejects
exactly when delta exceeds a threshold (the inverted-test bound of the noise alone), and the MDE is the
``power`` quantile of those thresholds over ``n_sim`` simulations. For an exact design (the verdict
enumerates every ordering of each block: always so for a blocked design of at most 8 levels) and
continuous noise, the null distribution of S does not depend on the data, so the bound is an order
statistic of the within-block pairwise slopes of the noise: the ``r``-th smallest for the increasing
test (the ``r``-th largest for the decreasing one), ``r`` found once per design by ``trend._Design.bound``
itself on a reference draw. That is the same number the full inversion gives (``tests/test_power.py``
checks it against ``_Design.bound`` on every draw), for a fraction of the cost. Monte Carlo designs (more
than ``trend.MAX_EXACT`` orderings in a block, e.g. unblocked designs with several seeds) use the median
rank over a few reference draws of the design's own permutations: an approximation of the verdict's
Monte Carlo test. The noise of block j is drawn from ``numpy.random.default_rng([seed, j])``, so a design
with more seeds reuses the draws of a smaller one (the MDE is smooth in the number of seeds) and scaling
``sd`` scales the MDE exactly.

*Seeds for power* (``seeds_for_power``): the smallest number of seeds s in [2, max_seeds] with
``mde(s) <= effect``, found by bisection from the normal approximation (the MDE decreases with s).

*Normal approximation* (``normal_seeds``): the least-squares slope of a blocked design with s blocks, each
holding the levels x_1..x_L once, has variance ``sd^2 / (s * Sxx)``, ``Sxx = sum_j (x_j - xbar)^2``, so a
one-sided level-alpha test has power ``power`` against a slope ``effect`` when

    s_LS = ((z_{1-alpha} + z_{power}) * sd / (effect * sqrt(Sxx)))^2

and the Kendall test needs ``s = s_LS / ARE``, ARE its Pitman asymptotic relative efficiency to least
squares under normal errors. ARE -> 3/pi (Kendall's tau / Theil-Sen against least squares) when each block
holds many levels, but within blocks of only L levels it is smaller: with D = sum_{j<k} |x_k - x_j|,

    blocked:   ARE = 18 D^2 / (pi * Sxx * L (L - 1) (2L + 5))   (equally spaced levels: (3/pi) 2(L+1)/(2L+5);
                                                               0.73 for 4 levels, 0.76 for 5, -> 3/pi)
    unblocked: ARE = 9 D^2 / (pi * Sxx * (L^3 - L))              (equally spaced levels: exactly 3/pi)

(E[S] grows like D * effect / (sd * sqrt(pi)) per block, and the null variance of S within a block of L
distinct levels is L (L - 1) (2L + 5) / 18; unblocked, with s runs per level, it is ~ s^3 (L^3 - L) / 9.)
Using 3/pi for a blocked design of 4 levels would understate the seeds needed by about 25%. The
approximation ignores the discreteness of the exact test, which matters with few seeds.

Contrast claims
---------------

A ``contrast`` claim's test (``trend.assess_contrast``) is the trend test above applied to the paired
differences d = y_b - y_a, one per (level, seed) cell, within seeds, at shift 0 (no threshold or margin):
a slope of d is slope_b - slope_a. Its design is therefore the single-arm design with d in place of y
(each seed one block holding every level once), and every formula above holds with ``sd`` the within-seed
sd of d and the effect the paper's difference of slopes: ``plan_metric(..., contrast=(a, b))``. From records
that sd is ``noise_estimate`` of the differences of the complete cells (``contrast_noise``): what is shared
by a cell's two runs (seed offsets, a seed's start states at that level) cancels in d, as in the test. From
one arm's sd alone it is ``difference_sd``: sqrt(2) sd for independent arms of equal noise, an upper estimate
when a cell's runs share noise.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Sequence

import numpy as np
from scipy.stats import norm

from harness import trend

DEFAULT_SIMULATIONS = 1000
"""Noise draws per MDE (the verdict's own MDE uses 200 resamples; these are cheap)."""
MAX_SEEDS = 100
MC_PAIRS_X_PERMUTATIONS = 20_000_000
"""Monte Carlo designs: at most this many (permutation, pair) entries in the null sign matrix."""


# --------------------------------------------------------------------------------------------------
# Noise


@dataclass(frozen=True)
class NoiseEstimate:
    sd: float
    """Residual sd (NaN when there are no degrees of freedom, 0 when the data show no noise)."""
    n: int
    """Runs used."""
    df: int
    """Degrees of freedom of the residuals."""
    levels: int
    blocks: int
    """Blocks removed (1 when unblocked, or when blocks could not be separated from the noise)."""
    blocked: bool
    """Whether block (seed) offsets were removed before taking the sd."""


def noise_estimate(x, y, blocks=None) -> NoiseEstimate:
    """The within-level (and within-block) residual sd of (x, y), as ``trend._residuals`` scales it."""
    x = np.asarray(x, dtype=float).reshape(-1)
    y = np.asarray(y, dtype=float).reshape(-1)
    if x.shape != y.shape:
        raise ValueError(f"x and y need one entry per run, got {x.shape[0]} and {y.shape[0]}")
    if x.size == 0:
        raise ValueError("no runs to estimate the noise from")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("x and y must be finite: drop diverged (NaN) runs before estimating the noise")
    bidx, labels = trend._block_index(blocks, x.shape[0])
    lev = trend._level_index(x)
    n_levels = int(lev.max()) + 1
    spans = blocks is not None and any(np.unique(x[bidx == b]).size >= 2 for b in range(labels.size))
    if not spans:  # one level, or no block crosses levels: block offsets cannot be told from noise
        bidx = np.zeros(x.shape[0], dtype=np.intp)
    n_blocks = int(bidx.max()) + 1
    df = x.shape[0] - n_levels - (n_blocks - 1)
    if df <= 0:
        return NoiseEstimate(math.nan, int(x.size), int(df), n_levels, n_blocks, bool(spans))
    r = trend._residuals(x, y, bidx)  # scaled by sqrt(n / df): mean(r^2) = sum(raw r^2) / df
    sd = float(math.sqrt(np.mean(r ** 2))) if r.size else 0.0
    return NoiseEstimate(sd, int(x.size), int(df), n_levels, n_blocks, bool(spans))


def noise_sd(x, y, blocks=None) -> float:
    """The residual sd of pilot or committed data (see ``noise_estimate``)."""
    return noise_estimate(x, y, blocks).sd


@dataclass(frozen=True)
class ContrastNoise:
    """The noise of a contrast claim's paired differences d = y_b - y_a, and of each arm alone."""

    difference: NoiseEstimate
    """The residual sd of d over the complete cells: the ``sd`` a contrast's plan takes (n counts cells)."""
    arms: tuple[NoiseEstimate, NoiseEstimate]
    """Each arm's own residual sd over the same cells, (a, b): beside the difference's, for comparison
    (sqrt(sd_a^2 + sd_b^2) when the arms' noise is independent, less when a cell's runs share it)."""
    labels: tuple
    """(a, b)."""
    cells: int
    """Complete cells: (x, pair) holding exactly one run of each arm."""
    dropped: int
    """Runs left out, in cells that do not hold exactly one run of each arm (a partial pilot, say)."""


def paired_differences(x, y, group, pairs, order: tuple | None = None):
    """The cells of a contrast design, as ``trend.assess_contrast`` pairs them: the runs sharing x and a
    ``pairs`` label (the seed) form a cell, and a cell holding exactly one run of each of ``group``'s two
    labels gives one difference y_b - y_a. ``order=(a, b)`` names the labels, else b is the one sorting
    last. Cells not holding exactly one run of each arm are left out (``assess_contrast`` would refuse
    them; a pilot may lack some). Returns (x, y_a, y_b, pair label) of the complete cells, in order of
    first appearance, the labels (a, b) and the number of runs left out."""
    x = np.asarray(x, dtype=float).reshape(-1)
    y = np.asarray(y, dtype=float).reshape(-1)
    group, pairs = list(group), list(pairs)
    if not (x.shape == y.shape and len(group) == x.size == len(pairs)):
        raise ValueError(f"x, y, group and pairs need one entry per run, got {x.size}, {y.size}, {len(group)} "
                         f"and {len(pairs)}")
    present = set(group)
    if len(present) != 2:
        raise ValueError(f"a contrast needs runs of exactly two arms, got the labels {sorted(present, key=repr)}")
    if order is None:
        try:
            order = tuple(sorted(present))
        except TypeError:
            order = tuple(sorted(present, key=repr))
    elif len(order) != 2 or set(order) != present:
        raise ValueError(f"order must name the two arms {sorted(present, key=repr)} as (a, b), got {order!r}")
    a, b = order
    cells: dict[tuple, dict[Any, list[float]]] = {}
    for xi, yi, gi, pi in zip(x.tolist(), y.tolist(), group, pairs):
        cells.setdefault((xi, pi), {a: [], b: []})[gi].append(yi)
    done = [(k, v) for k, v in cells.items() if len(v[a]) == 1 and len(v[b]) == 1]
    xc = np.array([k[0] for k, _ in done], dtype=float)
    ya = np.array([v[a][0] for _, v in done], dtype=float)
    yb = np.array([v[b][0] for _, v in done], dtype=float)
    return xc, ya, yb, [k[1] for k, _ in done], (a, b), int(x.size - 2 * len(done))


def contrast_noise(x, y, group, pairs, *, order: tuple | None = None, blocked: bool = True) -> ContrastNoise:
    """The noise a contrast claim's test sees (``paired_differences``, then ``noise_estimate`` of the
    differences, blocked by the pair label when ``blocked``), and each arm's own over the same cells.
    Raises ValueError when no cell is complete."""
    xc, ya, yb, pc, labels, dropped = paired_differences(x, y, group, pairs, order)
    if xc.size == 0:
        raise ValueError(f"no (level, seed) cell holds a run of both arms {labels}: no difference to estimate "
                         "the noise from")
    blocks = np.array([repr(p) for p in pc]) if blocked else None
    return ContrastNoise(difference=noise_estimate(xc, yb - ya, blocks),
                         arms=(noise_estimate(xc, ya, blocks), noise_estimate(xc, yb, blocks)),
                         labels=labels, cells=int(xc.size), dropped=dropped)


def difference_sd(sd_a: float, sd_b: float | None = None) -> float:
    """The sd of y_b - y_a for independent arms of sds ``sd_a`` and ``sd_b`` (default: the same):
    sqrt(sd_a^2 + sd_b^2), sqrt(2) sd_a for equal arms. An upper estimate when a cell's two runs share
    noise (the same seed meets the same start states), which the difference cancels."""
    sd_b = sd_a if sd_b is None else sd_b
    for v in (sd_a, sd_b):
        if not (math.isfinite(v) and v >= 0):
            raise ValueError(f"an arm's sd must be a finite number >= 0, got {v!r}")
    return math.hypot(sd_a, sd_b)


# --------------------------------------------------------------------------------------------------
# MDE by simulation


def _layout(x_levels: Sequence[float], seeds: int, blocked: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """x (n,) and blocks (n,) of a design holding every level once per seed, block-major."""
    xl = np.asarray(x_levels, dtype=float).reshape(-1)
    if xl.size < 2 or np.unique(xl).size < 2:
        raise ValueError(f"a trend needs at least 2 distinct levels, got {xl.tolist()}")
    if not np.isfinite(xl).all():
        raise ValueError(f"level coordinates must be finite, got {xl.tolist()}")
    if isinstance(seeds, bool) or int(seeds) != seeds or seeds < 1:
        raise ValueError(f"seeds must be an integer >= 1, got {seeds!r}")
    seeds = int(seeds)
    x = np.tile(xl, seeds)
    return x, (np.repeat(np.arange(seeds), xl.size) if blocked else None)


def _noise(n_levels: int, seeds: int, n_sim: int, seed: int) -> np.ndarray:
    """(seeds * n_levels, n_sim) standard normal noise; block j's rows from default_rng([seed, j])."""
    rows = [np.random.default_rng([int(seed), j]).standard_normal((n_levels, n_sim)) for j in range(seeds)]
    return np.concatenate(rows, axis=0)


def _critical_rank(design: "trend._Design", kind: str, alpha: float, seed: int, draws: int) -> int:
    """r such that the inverted ``kind`` bound of tie-free data is the r-th order statistic of its
    pairwise slopes (0-based; ascending for "increasing", descending for "decreasing"); -1 when the test
    can never reject. Found with the design's own ``bound`` on ``draws`` reference noise draws."""
    rng = np.random.default_rng([int(seed), 2**31 - 1])
    E = rng.standard_normal((design.n, draws))
    slopes, zero_signs = design.differences(E)
    value, _ = design.bound(slopes, zero_signs, kind, alpha)
    ranks = []
    for c in range(draws):
        if not math.isfinite(value[c]):
            ranks.append(-1)
            continue
        s = np.sort(slopes[:, c])
        i = int(np.searchsorted(s, value[c]))
        ranks.append(i if kind == trend._INC else s.size - 1 - i)
    return int(np.median(ranks)) if draws > 1 else ranks[0]


@dataclass(frozen=True)
class MDEResult:
    mde: float
    """The MDE in the units of ``sd`` per unit x (inf when the design can never reject)."""
    method: str
    """The verdict's test on this design: "exact" or "monte-carlo (B=...)"."""
    min_p: float
    """The smallest p the design can produce."""
    rank: int
    """The critical order statistic of the pairwise slopes (see ``_critical_rank``)."""


def mde_result(x_levels: Sequence[float], seeds: int, sd: float, *, blocked: bool = True,
               direction: str = "increasing", alpha: float = 0.05, power: float = 0.8,
               n_sim: int = DEFAULT_SIMULATIONS, seed: int = 0, n_permutations: int = 9999) -> MDEResult:
    """``mde`` with the design's test method and critical rank."""
    direction = trend._validate_direction(direction)
    alpha = trend._validate_alpha(alpha)
    if not 0 < power < 1:
        raise ValueError(f"power must be in (0, 1), got {power!r}")
    if not (math.isfinite(sd) and sd >= 0):
        raise ValueError(f"sd must be a finite number >= 0, got {sd!r}")
    if isinstance(n_sim, bool) or int(n_sim) < 1:
        raise ValueError(f"n_sim must be a positive int, got {n_sim!r}")
    n_sim = int(n_sim)
    kind = trend._CLAIM_TEST[direction][0]
    x, blocks = _layout(x_levels, seeds, blocked)
    x, bidx, _ = trend._validate_design(x, blocks)
    B = trend._validate_permutations(n_permutations)
    pi, _, segments = trend._pairs(x, bidx)
    pairs = pi.size
    exact = max(trend._multinomial(counts) for *_, counts in segments) <= trend.MAX_EXACT
    if not exact and B * pairs > MC_PAIRS_X_PERMUTATIONS:  # keep the Monte Carlo null matrix small
        B = max(99, MC_PAIRS_X_PERMUTATIONS // max(pairs, 1))
    design = trend._Design(x, bidx, B, np.random.default_rng([int(seed), 1]), trend.MAX_EXACT)
    rank = _critical_rank(design, kind, alpha, seed, draws=1 if design.exact else 5)
    if rank < 0:
        return MDEResult(math.inf, design.method, design.min_p, rank)
    if sd == 0:
        return MDEResult(0.0, design.method, design.min_p, rank)
    E = _noise(len(x_levels), int(seeds), n_sim, seed)
    K = int(np.count_nonzero(design.nz))
    order = rank if kind == trend._INC else K - 1 - rank
    chunk = max(1, 4_000_000 // max(pairs, 1))
    parts = []
    for c0 in range(0, n_sim, chunk):  # (K, chunk) pairwise slopes of the noise at a time
        slopes, _ = design.differences(E[:, c0:c0 + chunk])
        parts.append(np.partition(slopes, order, axis=0)[order])
    thresholds = np.concatenate(parts)
    thresholds = np.sort(-thresholds if kind == trend._INC else thresholds)
    needed = thresholds[min(n_sim, math.ceil(power * n_sim - 1e-9)) - 1]
    return MDEResult(max(0.0, float(needed)) * float(sd), design.method, design.min_p, rank)


def mde(x_levels: Sequence[float], seeds: int, sd: float, *, blocked: bool = True, direction: str = "increasing",
        alpha: float = 0.05, power: float = 0.8, n_sim: int = DEFAULT_SIMULATIONS, seed: int = 0,
        n_permutations: int = 9999) -> float:
    """The minimum detectable effect of the claim's test at a design: ``x_levels`` (the axis coordinates of
    the levels), ``seeds`` (each level once per seed; one block per seed when ``blocked``), Gaussian noise of
    sd ``sd``. In units of ``sd`` per unit x (per doubling, or per level step), beyond the tested boundary
    (the claim's threshold or margin). Deterministic for ``seed``; exactly linear in ``sd``."""
    return mde_result(x_levels, seeds, sd, blocked=blocked, direction=direction, alpha=alpha, power=power,
                      n_sim=n_sim, seed=seed, n_permutations=n_permutations).mde


# --------------------------------------------------------------------------------------------------
# Seeds


def efficiency(x_levels: Sequence[float], blocked: bool = True) -> float:
    """Pitman ARE of the (blocked) Kendall test to least squares under normal errors (module docstring)."""
    xl = np.asarray(x_levels, dtype=float).reshape(-1)
    L = xl.size
    if L < 2 or np.unique(xl).size != L:
        raise ValueError(f"efficiency needs at least 2 distinct levels, got {xl.tolist()}")
    i, j = np.triu_indices(L, k=1)
    D = float(np.abs(xl[j] - xl[i]).sum())
    sxx = float(((xl - xl.mean()) ** 2).sum())
    if blocked:
        return 18 * D ** 2 / (math.pi * sxx * L * (L - 1) * (2 * L + 5))
    return 9 * D ** 2 / (math.pi * sxx * (L ** 3 - L))


def normal_seeds(x_levels: Sequence[float], sd: float, effect: float, alpha: float = 0.05, power: float = 0.8,
                 *, blocked: bool = True) -> float:
    """The normal-approximation number of seeds (not rounded): ((z_{1-alpha} + z_power) sd / (effect
    sqrt(Sxx)))^2 / ARE (module docstring); inf when ``effect <= 0``, 0 when ``sd == 0``."""
    if effect <= 0:
        return math.inf
    xl = np.asarray(x_levels, dtype=float).reshape(-1)
    sxx = float(((xl - xl.mean()) ** 2).sum())
    z = norm.ppf(1 - alpha) + norm.ppf(power)
    return (z * sd / (effect * math.sqrt(sxx))) ** 2 / efficiency(xl, blocked)


def seeds_for_power(x_levels: Sequence[float], sd: float, effect: float, *, blocked: bool = True,
                    direction: str = "increasing", alpha: float = 0.05, power: float = 0.8,
                    max_seeds: int = MAX_SEEDS, n_sim: int = DEFAULT_SIMULATIONS, seed: int = 0,
                    n_permutations: int = 9999) -> int | None:
    """The smallest number of seeds in [2, max_seeds] whose MDE (``mde``) is at most ``effect`` (the slope
    beyond the tested boundary to detect, in the units of ``sd``): the test then has ``power`` against it.
    None when ``effect <= 0`` or even ``max_seeds`` seeds do not suffice. A bisection started at the normal
    approximation, each step checked by simulation (the MDE decreases with seeds)."""
    if not (math.isfinite(effect) and effect > 0):
        return None
    if max_seeds < 2:
        raise ValueError(f"max_seeds must be >= 2, got {max_seeds}")
    cache: dict[int, bool] = {}

    def ok(s: int) -> bool:
        if s not in cache:
            cache[s] = mde(x_levels, s, sd, blocked=blocked, direction=direction, alpha=alpha, power=power,
                           n_sim=n_sim, seed=seed, n_permutations=n_permutations) <= effect
        return cache[s]

    guess = normal_seeds(x_levels, sd, effect, alpha, power, blocked=blocked)
    g = int(min(max_seeds, max(2, math.ceil(guess)))) if math.isfinite(guess) else max_seeds
    if ok(g):  # gallop down from the guess: lo fails (1 stands for "below the range"), hi passes
        hi, lo, step = g, 1, 1
        while hi - step >= 2:
            if not ok(hi - step):
                lo = hi - step
                break
            hi, step = hi - step, step * 2
    else:  # gallop up from the guess
        lo, step = g, 1
        while True:
            cand = min(lo + step, max_seeds)
            if ok(cand):
                hi = cand
                break
            if cand == max_seeds:
                return None
            lo, step = cand, step * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid
    return hi


# --------------------------------------------------------------------------------------------------
# The plan of one claim metric


def effect_distance(direction: str, paper_effect: float, threshold: float = 0.0, margin: float = 0.0) -> float:
    """How far the paper's effect lies beyond the boundary the claim's test must clear, in the claimed
    direction (what the MDE is compared with). Strict directions take the paper's effect as a magnitude
    of change in the claimed direction: ``|paper_effect| - threshold``. "No gain" directions take it as the
    paper's signed slope: ``margin - paper_effect`` (non_increasing: the slope must be shown below the
    margin), ``paper_effect + margin`` (non_decreasing: above -margin)."""
    direction = trend._validate_direction(direction)
    if direction in ("increasing", "decreasing"):
        return abs(float(paper_effect)) - float(threshold)
    if direction == "non_increasing":
        return float(margin) - float(paper_effect)
    return float(paper_effect) + float(margin)


@dataclass(frozen=True)
class Plan:
    """The power of one claim metric's test at a design, and the seeds it would need."""

    metric: str
    direction: str
    levels: tuple
    """The axis levels in the trend test (controls left out)."""
    x: tuple
    """Their axis coordinates (log2 of the level, or its index)."""
    seeds: int
    blocked: bool
    sd: float
    sd_source: str
    """Where ``sd`` came from (the --sd option, records at a budget, ...)."""
    alpha: float
    power: float
    mde: float
    """MDE at this design, beyond the tested boundary (``shift``), in the claim's units per unit x."""
    shift: float
    """The boundary the test must clear: +-threshold or +-margin (0 when none)."""
    method: str
    min_p: float
    paper_effect: Any
    """The paper's effect (a number), "unknown", or None when the claim gives none."""
    effect: float | None
    """``effect_distance`` of the paper's effect (None when it is not a number)."""
    ratio: float | None
    """mde / effect (None without a positive effect)."""
    seeds_needed: int | None
    """Smallest seeds with power ``power`` against the paper's effect (None: none up to ``max_seeds``)."""
    normal_seeds: float | None
    """The normal approximation of ``seeds_needed`` (not rounded)."""
    max_seeds: int
    unit: str = "per doubling"
    conclusion: str = ""
    contrast: tuple | None = None
    """A contrast claim's arms (a, b): then ``sd``, ``mde`` and the paper's effect are of the difference
    y_b - y_a per (level, seed) cell, and of its slope, slope_b - slope_a (None for a single-arm claim)."""


def plan_metric(metric: str, direction: str, levels: Sequence[Any], x_levels: Sequence[float], seeds: int,
                sd: float, *, sd_source: str = "", blocked: bool = True, paper_effect: Any = None,
                threshold: float = 0.0, margin: float = 0.0, alpha: float = 0.05, power: float = 0.8,
                max_seeds: int = MAX_SEEDS, n_sim: int = DEFAULT_SIMULATIONS, seed: int = 0,
                n_permutations: int = 9999, unit: str = "per doubling", contrast: tuple | None = None) -> Plan:
    """The ``Plan`` of one metric: MDE at this design, and the seeds needed against the paper's effect.

    With ``contrast=(a, b)`` the claim is a difference of slopes (``trend.assess_contrast``): its test is the
    trend test of the per-(level, seed) differences d = y_b - y_a at shift 0, one block of the levels per
    seed, so the same machinery applies to d: ``sd`` is then the sd of d (``contrast_noise``, or
    ``difference_sd`` of one arm's sd), and ``paper_effect`` is the paper's slope_b - slope_a."""
    strict = direction in ("increasing", "decreasing")
    if contrast is not None:
        if len(contrast) != 2:
            raise ValueError(f"contrast must name the two arms (a, b), got {contrast!r}")
        if not strict or threshold or margin:
            raise ValueError("a contrast tests a difference of slopes: increasing/decreasing, without threshold or "
                             f"margin (got {direction!r}, threshold={threshold!r}, margin={margin!r})")
        contrast = tuple(contrast)
    shift = trend._CLAIM_TEST[direction][1] * float(threshold if strict else margin) + 0.0
    common = dict(blocked=blocked, direction=direction, alpha=alpha, power=power, n_sim=n_sim, seed=seed,
                  n_permutations=n_permutations)
    res = mde_result(x_levels, seeds, sd, **common)
    effect = ratio = needed = approx = None
    if isinstance(paper_effect, (int, float)) and not isinstance(paper_effect, bool):
        effect = effect_distance(direction, paper_effect, threshold, margin)
        if effect > 0:
            ratio = res.mde / effect
            needed = seeds_for_power(x_levels, sd, effect, max_seeds=max_seeds, **common)
            approx = normal_seeds(x_levels, sd, effect, alpha, power, blocked=blocked)
    plan = Plan(metric=metric, direction=direction, levels=tuple(levels), x=tuple(float(v) for v in x_levels),
                seeds=int(seeds), blocked=blocked, sd=float(sd), sd_source=sd_source, alpha=alpha, power=power,
                mde=res.mde, shift=shift, method=res.method, min_p=res.min_p, paper_effect=paper_effect,
                effect=effect, ratio=ratio, seeds_needed=needed, normal_seeds=approx, max_seeds=max_seeds,
                unit=unit, contrast=contrast)
    return _with_conclusion(plan)


def _with_conclusion(p: Plan) -> Plan:
    if math.isinf(p.mde):
        text = (f"this design can never reach p < alpha={p.alpha:g} (smallest achievable p={p.min_p:.3g}): "
                "add seeds or levels")
    elif p.effect is None:
        what = "unknown" if p.paper_effect == "unknown" else "not given (paper_effect= in the claim marker)"
        slope = "slope" if p.contrast is None else f"difference of slopes ({p.contrast[1]} - {p.contrast[0]})"
        text = (f"paper effect {what}: this design detects a {slope} {_edge(p)} {p.unit} with "
                f"{p.power:.0%} power")
    elif p.effect <= 0:
        text = ("the paper's effect does not clear the claim's boundary "
                f"({'threshold' if p.direction in ('increasing', 'decreasing') else 'margin'} {abs(p.shift):g}): "
                "no number of seeds gives power against it")
    elif p.mde <= p.effect:
        text = f"this design can see the paper's effect (MDE {p.mde:.3g} <= {p.effect:.3g})"
    elif p.seeds_needed is None:
        text = f"underpowered: even {p.max_seeds} seeds do not reach {p.power:.0%} power against the paper's effect"
    else:
        text = f"underpowered: needs {p.seeds_needed} seeds"
    return replace(p, conclusion=text)


def _edge(p: Plan) -> str:
    kind = trend._CLAIM_TEST[p.direction][0]
    edge = p.shift + p.mde if kind == trend._INC else p.shift - p.mde
    return f"{'>=' if kind == trend._INC else '<='} {edge:.3g}"
