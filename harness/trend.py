"""Pure statistics for scaling claims: is a metric monotone in a swept quantity, and by how much?

Everything a verdict rests on is computed here, from numbers only (numpy; nothing from the
project). The caller maps the swept levels onto an axis ``x`` first: ``log2(level)`` on a log scale, the
ordinal index otherwise, so that every slope below is "per doubling" (or "per level").

Array shapes (n = number of runs):

- ``x``: (n,) float, the axis coordinate of each run.
- ``y``: (n,) float, the metric of each run; finite (the caller reports NaN runs; they never reach here).
  ``kendall_test`` also takes (n, k): k datasets on the same design, tested at once.
- ``blocks``: (n,) labels or None. Runs sharing a label are paired across levels (usually the seed), and
  every comparison is made within a block only, so a per-seed offset cannot create or hide a trend.
- ``group`` (``assess_contrast``): (n,) two labels, e.g. two architectures swept over the same levels.

The test is a one-sided permutation test of Kendall's S: exact (full enumeration of each block, blocks
combined by convolution) when the design is small, Monte Carlo with ``B`` permutations otherwise.
Effect sizes are Sen's slopes with confidence intervals obtained by inverting the same test, so that
"the interval excludes the boundary" and "the test rejects" always agree. Every random quantity is drawn
from a ``numpy.random.Generator`` seeded by the ``seed`` argument: results are reproducible.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from functools import lru_cache
from itertools import combinations
from typing import Sequence

import numpy as np
from scipy.stats import trim_mean

DIRECTIONS = ("increasing", "decreasing", "non_increasing", "non_decreasing")
REPRODUCED, CONTRADICTED, INCONCLUSIVE = "REPRODUCED", "CONTRADICTED", "INCONCLUSIVE"
VERDICTS = (REPRODUCED, CONTRADICTED, INCONCLUSIVE)

MAX_EXACT = 200_000
"""Enumerate a block's orderings exactly when it has at most this many distinct ones (8! = 40,320)."""

_INC, _DEC = "increasing", "decreasing"
# (kind of the one-sided test that establishes the claim, sign of the shift in units of margin/threshold)
_CLAIM_TEST = {
    "increasing": (_INC, +1.0),  # S > 0 on y - threshold * x
    "decreasing": (_DEC, -1.0),  # S < 0 on y + threshold * x
    "non_increasing": (_DEC, +1.0),  # S < 0 on y - margin * x: the slope is below the margin
    "non_decreasing": (_INC, -1.0),  # S > 0 on y + margin * x: the slope is above -margin
}
_OPPOSITE = {_INC: _DEC, _DEC: _INC}


# --------------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class TrendResult:
    """The verdict on one claimed trend of one metric, with everything needed to report it."""

    direction: str
    """The claimed direction, one of ``DIRECTIONS``."""
    verdict: str
    """REPRODUCED, CONTRADICTED or INCONCLUSIVE."""
    reason: str
    """One sentence saying why this verdict."""
    statistic: float
    """Kendall's S of the tested (shifted) data, summed over blocks."""
    tau: float
    """Kendall's tau-b of (x, y) pooled over blocks; descriptive only (NaN when x or y is constant)."""
    p: float
    """One-sided p of the test in the claimed direction, on the shifted data where a shift applies."""
    p_opposite: float
    """One-sided p of the test in the opposite direction, on the unshifted data."""
    slope: float
    """Sen's slope of y on x (median of the within-block pairwise slopes), per unit x."""
    ci_low: float
    """Lower end of the (1 - 2 alpha) interval for the slope: the sup of shifts b at which the increasing
    test on y - b x rejects (-inf when it never does)."""
    ci_high: float
    """Upper end: the inf of shifts b at which the decreasing test on y - b x rejects (+inf if never)."""
    mde: float
    """Minimum detectable effect: how far beyond the tested boundary (``shift``), in the claimed direction,
    the true slope must lie for the claimed-direction test to reject with 80% power at this design and
    this noise; 0 when the data show no noise, inf when the design cannot reject at all."""
    min_p: float
    """The smallest p this design can produce (design only; see ``min_achievable_p``)."""
    n: int
    """Number of runs."""
    n_levels: int
    """Number of distinct x."""
    n_blocks: int
    """Number of blocks (1 when unblocked)."""
    method: str
    """"exact" or "monte-carlo (B=...)"."""
    shift: float
    """The slope subtracted before testing the claim (+-threshold or +-margin; 0 when none)."""
    ci_low_open: bool = False
    """True when ``ci_low`` itself is rejected (excluded from the interval). Only possible when ``ci_low``
    equals a pairwise slope at which y - b x has ties across levels; with tie-free data it is False."""
    ci_high_open: bool = False
    """True when ``ci_high`` itself is rejected (excluded from the interval); see ``ci_low_open``."""

    def ci_contains(self, b: float) -> bool:
        """Whether the shift ``b`` lies in the confidence set (neither one-sided test rejects at b)."""
        above = b > self.ci_low or (b == self.ci_low and not self.ci_low_open)
        below = b < self.ci_high or (b == self.ci_high and not self.ci_high_open)
        return bool(above and below)


@dataclass(frozen=True)
class ContrastResult:
    """The verdict on a claimed difference between the slopes of two groups (an interaction)."""

    direction: str
    """The claimed direction of slope_b - slope_a: "increasing" (b's slope exceeds a's) or "decreasing"."""
    verdict: str
    """REPRODUCED, CONTRADICTED or INCONCLUSIVE."""
    reason: str
    """One sentence saying why this verdict."""
    statistic: float
    """The difference of slopes, slope_b - slope_a, estimated as Sen's slope of the paired differences
    y_b - y_a (within blocks): the estimate that the test and the interval are about."""
    slope_a: float
    """Sen's slope of group a alone (within blocks); descriptive."""
    slope_b: float
    """Sen's slope of group b alone (within blocks); descriptive."""
    p: float
    """One-sided p in the claimed direction."""
    p_opposite: float
    """One-sided p in the opposite direction."""
    ci_low: float
    """Lower end of the (1 - 2 alpha) interval for slope_b - slope_a, by inverting the same test."""
    ci_high: float
    """Upper end of the interval."""
    mde: float
    """Smallest difference of slopes detected with 80% power at this design and noise."""
    min_p: float
    """The smallest p this design can produce."""
    n: int
    """Number of runs (two per cell)."""
    method: str
    """"exact" or "monte-carlo (B=...)"."""
    labels: tuple = ()
    """(a, b): the two group labels in the order used; the claim is about slope_b - slope_a."""
    n_cells: int = 0
    """Number of (x, block) cells, each holding one run of each group."""
    kendall_s: float = math.nan
    """Kendall's S of the paired differences against x, summed over blocks (the tested statistic)."""
    ci_low_open: bool = False
    """True when ``ci_low`` itself is rejected (see ``TrendResult.ci_low_open``)."""
    ci_high_open: bool = False
    """True when ``ci_high`` itself is rejected."""


@dataclass(frozen=True)
class KendallTest:
    """The raw permutation test of Kendall's S for one or k datasets on the same design."""

    statistic: np.ndarray
    """(k,) Kendall's S of each dataset, summed over blocks (a float when y was 1-D)."""
    p_increasing: np.ndarray
    """(k,) one-sided p for S > 0."""
    p_decreasing: np.ndarray
    """(k,) one-sided p for S < 0."""
    method: str
    """"exact" or "monte-carlo (B=...)"."""
    min_p: float
    """The smallest p this design can produce."""


# --------------------------------------------------------------------------------------------------
# Input validation


def _float_vector(name: str, a, n: int | None = None) -> np.ndarray:
    try:
        arr = np.asarray(a, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric, got {a!r:.80}") from exc
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D with shape (n,), got shape {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise ValueError(f"{name} has {arr.shape[0]} entries but x has {n}; give one per run")
    return arr


def _check_finite(name: str, arr: np.ndarray) -> None:
    bad = ~np.isfinite(arr)
    if bad.any():
        where = np.argwhere(bad)[:5].tolist()
        raise ValueError(
            f"{name} has {int(bad.sum())} NaN or infinite value(s) (first at index {where}); drop or report "
            "those runs before testing, the trend test needs a finite value for every run"
        )


def _block_index(blocks, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(n,) block index 0..n_blocks-1 and the (n_blocks,) labels; one block when ``blocks`` is None."""
    if blocks is None:
        return np.zeros(n, dtype=np.intp), np.array([0])
    arr = np.asarray(blocks)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(f"blocks must have shape ({n},) like x (one label per run), got shape {arr.shape}")
    try:
        labels, idx = np.unique(arr, return_inverse=True)
    except TypeError as exc:
        raise ValueError("blocks must hold sortable labels of one type (e.g. the seed as int)") from exc
    return idx.astype(np.intp).reshape(n), labels


def _validate_design(x, blocks) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = _float_vector("x", x)
    _check_finite("x", x)
    n = x.shape[0]
    if np.unique(x).size < 2:
        raise ValueError(
            f"x has fewer than 2 distinct values ({np.unique(x).tolist()}); a trend needs at least 2 levels"
        )
    bidx, labels = _block_index(blocks, n)
    if not any(np.unique(x[bidx == b]).size >= 2 for b in range(labels.size)):
        raise ValueError(
            "no block contains two distinct x values, so no within-block pair can be compared; "
            "blocks must pair runs across levels (e.g. blocks = the seed of each run)"
        )
    return x, bidx, labels


def _validate_alpha(alpha: float) -> float:
    if not (isinstance(alpha, numbers.Real) and 0.0 < alpha < 0.5):
        raise ValueError(f"alpha must be a number in (0, 0.5), got {alpha!r}")
    return float(alpha)


def _validate_permutations(n_permutations) -> int:
    if isinstance(n_permutations, bool) or not isinstance(n_permutations, (int, np.integer)) or n_permutations < 1:
        raise ValueError(f"n_permutations must be a positive int (default 9999), got {n_permutations!r}")
    return int(n_permutations)


def _validate_direction(direction: str, allowed: Sequence[str] = DIRECTIONS) -> str:
    if direction not in allowed:
        raise ValueError(f"unknown direction {direction!r}; use one of {', '.join(map(repr, allowed))}")
    return direction


# --------------------------------------------------------------------------------------------------
# Pairs, orderings and the null distribution


def _pairs(x: np.ndarray, bidx: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[tuple]]:
    """All within-block pairs (i < j) of the blocks that have at least two distinct x, grouped by block.

    Returns (pi, pj, segments): global run indices of each pair, and per block (start, stop, runs,
    counts): the slice of the pair arrays that belongs to it, its (m,) run indices (the pairs are
    ``np.triu_indices(m, 1)`` of these) and the multiplicities of its x levels.
    """
    pi, pj, segments = [], [], []
    start = 0
    for b in np.unique(bidx):
        runs = np.flatnonzero(bidx == b)
        counts = np.unique(x[runs], return_counts=True)[1]
        if counts.size < 2:
            continue  # a block with a single level: every within-block comparison is a tie
        li, lj = np.triu_indices(runs.size, k=1)
        pi.append(runs[li])
        pj.append(runs[lj])
        segments.append((start, start + li.size, runs, tuple(int(c) for c in counts)))
        start += li.size
    return np.concatenate(pi), np.concatenate(pj), segments


def _multinomial(counts: Sequence[int]) -> int:
    """Number of distinct orderings of a multiset with these multiplicities."""
    total, out = 0, 1
    for c in counts:
        total += c
        out *= math.comb(total, c)
    return out


@lru_cache(maxsize=64)
def _orderings(counts: tuple) -> np.ndarray:
    """Sign matrix of every distinct arrangement of a block's x levels over its m runs.

    ``counts`` are the multiplicities of the levels (m = their sum). Row r, column (i, j) (the pairs
    i < j of ``np.triu_indices(m, 1)``) is sign(level at j - level at i) in arrangement r. Each distinct
    arrangement is equally likely under the within-block permutation null, so the rows are the exact
    null. Shape (orderings, pairs), int8.
    """
    m = sum(counts)
    arr = np.full((1, m), -1, dtype=np.int8)
    for level, c in enumerate(counts):
        free = m - int((arr[0] >= 0).sum())
        free_pos = np.nonzero(arr < 0)[1].reshape(arr.shape[0], free)
        combos = np.array(list(combinations(range(free), c)), dtype=np.intp).reshape(-1, c)
        rows = np.repeat(np.arange(arr.shape[0]), combos.shape[0])
        chosen = np.take_along_axis(free_pos[rows], np.tile(combos, (arr.shape[0], 1)), axis=1)
        arr = arr[rows]
        np.put_along_axis(arr, chosen, level, axis=1)
    li, lj = np.triu_indices(m, k=1)
    signs = np.sign(arr[:, lj].astype(np.int16) - arr[:, li]).astype(np.int8)
    signs.setflags(write=False)
    return signs


class _Design:
    """The pair structure of (x, blocks) and the null distribution of S under within-block permutation.

    Permuting y within a block and permuting x within it give the same distribution of S (S is a sum of
    sign(dx) * sign(dy) over unordered pairs), so the null is stored as sign matrices of permuted x:
    ``S* = A @ v`` for the (pairs,) vector v of sign(dy) (any pattern of signs, e.g. of y - b x).
    """

    def __init__(self, x, bidx, n_permutations: int, rng: np.random.Generator, max_exact: int):
        self.x, self.bidx, self.n = x, bidx, x.shape[0]
        self.pi, self.pj, self.segments = _pairs(x, bidx)
        self.dx = x[self.pj] - x[self.pi]
        self.sx = np.sign(self.dx)
        self.nz = self.dx != 0
        self.sx_nz = self.sx[self.nz]
        self.dx_nz = self.dx[self.nz]
        self.n_orderings = [_multinomial(counts) for *_, counts in self.segments]
        self.exact = max(self.n_orderings) <= max_exact
        smallest = 1 / math.prod(self.n_orderings)  # exact: Python ints, correctly rounded division
        if self.exact:
            self.method = "exact"
            self.blocks_null = [(lo, hi, _orderings(c).astype(np.float32)) for lo, hi, _, c in self.segments]
            self.counts_exact = sum(math.log2(c) for c in self.n_orderings) < 53
            self.min_p = smallest
        else:
            self.B = n_permutations
            self.method = f"monte-carlo (B={n_permutations})"
            self.A = self._draw(rng, n_permutations)
            self.min_p = max(smallest, 1.0 / (n_permutations + 1))

    def _draw(self, rng: np.random.Generator, B: int) -> np.ndarray:
        """(B, pairs) float32 sign matrix of B independent within-block permutations of x."""
        A = np.empty((B, self.pi.size), dtype=np.float32)
        for lo, hi, runs, _ in self.segments:
            perm = rng.permuted(np.tile(runs, (B, 1)), axis=1)  # perm[:, l]: whose x sits at position l
            li, lj = np.triu_indices(runs.size, k=1)
            A[:, lo:hi] = np.sign(self.x[perm[:, lj]] - self.x[perm[:, li]])
        return A

    # -- data-dependent pieces --------------------------------------------------------------------

    def differences(self, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For (n, k) data: (K, k) pairwise slopes of the pairs with dx != 0, (pairs - K, k) sign(dy) of
        the pairs with dx == 0 (those never change under a shift y - b x)."""
        dy = Y[self.pj] - Y[self.pi]
        return dy[self.nz] / self.dx_nz[:, None], np.sign(dy[~self.nz])

    def pattern(self, slopes: np.ndarray, zero_signs: np.ndarray, sg: np.ndarray) -> np.ndarray:
        """(pairs, k) sign(dy') from the signs ``sg`` = sign(slope - b) of the dx != 0 pairs."""
        V = np.empty((self.pi.size, slopes.shape[1]), dtype=np.float64)
        V[self.nz] = self.sx_nz[:, None] * sg
        V[~self.nz] = zero_signs
        return V

    def tails(self, V: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Observed S and the one-sided p-values P(S* >= S), P(S* <= S) for each column of V (pairs, k)."""
        S = np.rint(self.sx @ V)
        if self.exact:
            ge, le = self._exact_tails(V, S)
        else:
            ge, le = self._mc_tails(V, S)
        return S, ge, le

    def _exact_tails(self, V, S):
        k = V.shape[1]
        dist, offset = np.ones((k, 1)), 0
        for lo, hi, A in self.blocks_null:
            half = int(np.count_nonzero(self.nz[lo:hi]))  # |S_block| <= pairs with distinct levels
            width = 2 * half + 1
            hist = np.empty((k, width))
            step = max(1, 4_000_000 // A.shape[0])
            for c0 in range(0, k, step):
                c1 = min(k, c0 + step)
                Sb = np.rint(A @ V[lo:hi, c0:c1].astype(np.float32)).astype(np.int64) + half
                flat = (Sb + width * np.arange(c1 - c0)).ravel()
                hist[c0:c1] = np.bincount(flat, minlength=(c1 - c0) * width).reshape(c1 - c0, width)
            if not self.counts_exact:
                hist /= A.shape[0]  # too many orderings for exact integer counts: use probabilities
            if k == 1:  # direct summation: exact while the integer counts stay below 2**53
                new = np.convolve(dist[0], hist[0])[None]
            else:
                new = np.zeros((k, dist.shape[1] + width - 1))
                for j in range(width):
                    new[:, j : j + dist.shape[1]] += dist * hist[:, j : j + 1]
            dist, offset = new, offset + half
        total = dist.sum(axis=1)
        at = (S.astype(np.int64) + offset)[:, None]
        ge = np.take_along_axis(np.cumsum(dist[:, ::-1], axis=1)[:, ::-1], at, axis=1)[:, 0]
        le = np.take_along_axis(np.cumsum(dist, axis=1), at, axis=1)[:, 0]
        return ge / total, le / total

    def _mc_tails(self, V, S):
        k = V.shape[1]
        ge, le = np.zeros(k), np.zeros(k)
        V32 = V.astype(np.float32)
        step = max(1, 8_000_000 // self.B)
        for c0 in range(0, k, step):
            c1 = min(k, c0 + step)
            Sp = self.A @ V32[:, c0:c1]
            ge[c0:c1] = (Sp >= S[c0:c1] - 0.5).sum(axis=0)
            le[c0:c1] = (Sp <= S[c0:c1] + 0.5).sum(axis=0)
        return (ge + 1) / (self.B + 1), (le + 1) / (self.B + 1)

    def test_at(self, slopes, zero_signs, b: float) -> tuple[float, float, float]:
        """(S, p_increasing, p_decreasing) of y - b x, from the slopes so that it agrees with ``bound``."""
        V = self.pattern(slopes, zero_signs, np.sign(slopes - b))
        S, ge, le = self.tails(V)
        return float(S[0]), float(ge[0]), float(le[0])

    def bound(self, slopes, zero_signs, kind: str, alpha: float) -> tuple[np.ndarray, np.ndarray]:
        """Invert the one-sided test of ``kind`` over the shift b, for each column of the data.

        S(y - b x) and its whole permutation distribution only change when b crosses a pairwise slope, and
        (for fixed permutations) P(S* >= S) never decreases as b grows: at a crossing, S drops by the
        maximal amount while each permuted S* drops by at most as much. So the shifts rejected by the
        increasing test form a down-set and those rejected by the decreasing test an up-set; a bisection
        over the sorted slopes and the gaps between them finds the boundary exactly. Returns the boundary
        (sup of rejected shifts for "increasing", inf for "decreasing"; -inf / +inf when none is rejected)
        and whether the boundary itself is rejected.
        """
        k = slopes.shape[1]
        cs = np.sort(slopes, axis=0)
        dup = np.zeros_like(cs, dtype=bool)
        dup[1:] = cs[1:] == cs[:-1]
        cs[dup] = np.inf  # one cell per distinct slope; padding cells behave like the far right
        cs.sort(axis=0)
        K = cs.shape[0]
        cols = np.arange(k)

        # Cells in order: 0 = (-inf, c1), 1 = {c1}, 2 = (c1, c2), ..., 2K = (cK, inf).
        def rejected(cell):
            i = cell // 2
            point = cs[np.minimum(i, K - 1), cols]
            left = np.where(i >= 1, cs[np.maximum(i - 1, 0), cols], -np.inf)
            sg = np.where(cell % 2 == 1, np.sign(slopes - point), np.where(slopes > left, 1.0, -1.0))
            _, ge, le = self.tails(self.pattern(slopes, zero_signs, sg))
            return (ge if kind == _INC else le) < alpha

        if kind == _INC:  # rejected cells are a prefix; find the first cell not rejected
            lo, hi = np.full(k, -1), np.full(k, 2 * K)
        else:  # rejected cells are a suffix; find the first rejected cell
            lo, hi = np.zeros(k, dtype=int), np.full(k, 2 * K + 1)
        while (active := hi - lo > 1).any():
            mid = (lo + hi) // 2
            rej = rejected(np.minimum(mid, 2 * K))
            up = rej if kind == _INC else ~rej
            lo = np.where(active & up, mid, lo)
            hi = np.where(active & ~up, mid, hi)
        if kind == _INC:
            last = hi - 1  # last rejected cell
            value = np.where(last >= 0, cs[np.maximum(last, 0) // 2, cols], -np.inf)
            closed = (last >= 0) & (last % 2 == 1)
        else:
            first = hi
            idx = np.where(first % 2 == 1, first // 2, first // 2 - 1)
            value = np.where(first <= 2 * K, cs[np.clip(idx, 0, K - 1), cols], np.inf)
            closed = (first <= 2 * K) & (first % 2 == 1)
        return value, closed


def _make_rngs(seed) -> tuple[np.random.Generator, np.random.Generator]:
    """Independent generators for the permutation draws and for the power simulation."""
    perm_ss, sim_ss = np.random.SeedSequence(seed).spawn(2)
    return np.random.default_rng(perm_ss), np.random.default_rng(sim_ss)


# --------------------------------------------------------------------------------------------------
# Public statistics


def kendall_s(x, y, blocks=None) -> float:
    """Kendall's S: the sum over pairs of sign(dx) * sign(dy) (within blocks when ``blocks`` is given)."""
    x = _float_vector("x", x)
    y = _float_vector("y", y, x.shape[0])
    bidx, _ = _block_index(blocks, x.shape[0])
    i, j = np.triu_indices(x.shape[0], k=1)
    same = bidx[i] == bidx[j]
    return float(np.sum(np.sign(x[j] - x[i])[same] * np.sign(y[j] - y[i])[same]))


def sen_slope(x, y, blocks=None) -> float:
    """Sen's slope: the median of (y_j - y_i) / (x_j - x_i) over pairs with x_i != x_j (within blocks)."""
    x = _float_vector("x", x)
    y = _float_vector("y", y, x.shape[0])
    bidx, _ = _block_index(blocks, x.shape[0])
    i, j = np.triu_indices(x.shape[0], k=1)
    keep = (bidx[i] == bidx[j]) & (x[i] != x[j])
    if not keep.any():
        raise ValueError("no pair of runs with different x (within a block); a slope needs two levels")
    i, j = i[keep], j[keep]
    return float(np.median((y[j] - y[i]) / (x[j] - x[i])))


def _tau_b(x: np.ndarray, y: np.ndarray) -> float:
    """Kendall's tau-b of the pooled (x, y): S / sqrt((n0 - ties in x) (n0 - ties in y))."""
    i, j = np.triu_indices(x.shape[0], k=1)
    sx, sy = np.sign(x[j] - x[i]), np.sign(y[j] - y[i])
    denom = math.sqrt(float(np.count_nonzero(sx)) * float(np.count_nonzero(sy)))
    return float(np.sum(sx * sy) / denom) if denom > 0 else math.nan


def kendall_test(
    x, y, blocks=None, *, n_permutations: int = 9999, seed=0, max_exact: int = MAX_EXACT
) -> KendallTest:
    """One-sided permutation tests of Kendall's S for k datasets ``y`` (n,) or (n, k) on one design.

    The null permutes y among the runs of each block (all of x when unblocked); S sums the within-block
    S. The p-value is exact when every block has at most ``max_exact`` distinct orderings of its levels
    (the per-block null distributions are enumerated and convolved); otherwise it is (b + 1) / (B + 1)
    over B = ``n_permutations`` random permutations, the same draws for every column.
    """
    x, bidx, _ = _validate_design(x, blocks)
    Y = np.asarray(y, dtype=float)
    one = Y.ndim == 1
    if Y.ndim not in (1, 2) or Y.shape[0] != x.shape[0]:
        raise ValueError(f"y must have shape ({x.shape[0]},) or ({x.shape[0]}, k), got {Y.shape}")
    _check_finite("y", Y)
    Y = Y.reshape(x.shape[0], -1)
    rng, _ = _make_rngs(seed)
    design = _Design(x, bidx, _validate_permutations(n_permutations), rng, max_exact)
    V = np.sign(Y[design.pj] - Y[design.pi])
    S, ge, le = design.tails(V)
    if one:
        S, ge, le = float(S[0]), float(ge[0]), float(le[0])
    return KendallTest(S, ge, le, design.method, design.min_p)


def min_achievable_p(x, blocks=None, *, n_permutations: int = 9999, max_exact: int = MAX_EXACT) -> float:
    """The smallest p the design (x, blocks) can produce, whatever y is.

    That is the probability that every block is, by chance, ordered exactly like its data: the product
    over blocks of 1 / (distinct orderings of the block's levels). A Monte Carlo p is never below
    1 / (B + 1), so that bounds it from below when the design is too big to enumerate. A design whose
    value is >= alpha can never reproduce (or contradict) a claim.
    """
    x, bidx, _ = _validate_design(x, blocks)
    orderings = [_multinomial(counts) for *_, counts in _pairs(x, bidx)[2]]
    smallest = 1 / math.prod(orderings)
    B = _validate_permutations(n_permutations)
    return smallest if max(orderings) <= max_exact else max(smallest, 1.0 / (B + 1))


def _adjusted(p, adjust) -> np.ndarray:
    """``adjust`` (the sorted non-NaN p -> their adjusted values, in that order) applied to ``p`` of any shape;
    NaN entries pass through as NaN and are not counted."""
    arr = np.asarray(p, dtype=float)
    flat = arr.ravel()
    ok = ~np.isnan(flat)
    if np.any((flat[ok] < 0) | (flat[ok] > 1)):
        raise ValueError("p-values must lie in [0, 1] (NaN allowed for missing rows)")
    out = np.full(flat.shape, np.nan)
    if ok.any():
        ps = flat[ok]
        order = np.argsort(ps, kind="stable")
        res = np.empty(ps.size)
        res[order] = adjust(ps[order])
        out[ok] = res
    return out.reshape(arr.shape)


def benjamini_hochberg(p) -> np.ndarray:
    """Benjamini-Hochberg q-values of the p-values ``p`` (any shape; NaN entries pass through as NaN).

    q_(i) = min over j >= i of m p_(j) / j for the sorted p, capped at 1, with m the number of non-NaN
    p: monotone in p, never below p. A row "survives" at false-discovery rate alpha when q < alpha.
    """
    def step_up(ps: np.ndarray) -> np.ndarray:
        m = ps.size
        scaled = ps * (m / np.arange(1, m + 1))  # factors >= 1, so q >= p even after rounding
        return np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
    return _adjusted(p, step_up)


def holm(p) -> np.ndarray:
    """Holm's step-down adjusted p-values of ``p`` (any shape; NaN entries pass through and are not counted).

    p_adj_(i) = max over j <= i of (m - j + 1) p_(j) for the sorted p, capped at 1: rejecting where
    p_adj < alpha controls the family-wise error rate at alpha under any dependence between the tests.
    """
    return _adjusted(p, lambda ps: np.minimum(np.maximum.accumulate(ps * (ps.size - np.arange(ps.size))), 1.0))


def on_some_blocks(verdicts: Sequence[str], p, alpha: float = 0.05) -> tuple[str, np.ndarray]:
    """Verdict of "the trend holds on at least one block" (a task, say) from each block's own verdict (its
    test at ``alpha``, gates included) and its claimed-direction p.

    REPRODUCED when some block is REPRODUCED and its Holm-adjusted p (over all blocks) is below alpha: the
    chance that a claim with no trend on any block is REPRODUCED is at most alpha. CONTRADICTED when every
    block is CONTRADICTED (an intersection-union test: each at alpha, no correction needed). Otherwise
    INCONCLUSIVE. Returns the verdict and the adjusted p-values (in the order of ``p``).
    """
    verdicts = list(verdicts)
    alpha = _validate_alpha(alpha)
    adj = holm(p)
    if len(verdicts) != adj.size or not verdicts:
        raise ValueError(f"on_some_blocks() needs one verdict per p-value (got {len(verdicts)} and {adj.size})")
    unknown = [v for v in verdicts if v not in VERDICTS]
    if unknown:
        raise ValueError(f"unknown verdict(s) {unknown}; each must be one of {', '.join(VERDICTS)}")
    if any(v == REPRODUCED and q < alpha for v, q in zip(verdicts, adj)):
        return REPRODUCED, adj
    if all(v == CONTRADICTED for v in verdicts):
        return CONTRADICTED, adj
    return INCONCLUSIVE, adj


def combine(verdicts: Sequence[str]) -> str:
    """Verdict of a conjunction of claims: REPRODUCED only if all are; CONTRADICTED if any is;
    otherwise INCONCLUSIVE."""
    verdicts = list(verdicts)
    if not verdicts:
        raise ValueError("combine() needs at least one verdict")
    unknown = [v for v in verdicts if v not in VERDICTS]
    if unknown:
        raise ValueError(f"unknown verdict(s) {unknown}; each must be one of {', '.join(VERDICTS)}")
    if CONTRADICTED in verdicts:
        return CONTRADICTED
    if all(v == REPRODUCED for v in verdicts):
        return REPRODUCED
    return INCONCLUSIVE


# --------------------------------------------------------------------------------------------------
# assess: the verdict on one claimed trend


def _level_index(x: np.ndarray) -> np.ndarray:
    return np.unique(x, return_inverse=True)[1].reshape(-1)


def _group_mean(values: np.ndarray, idx: np.ndarray) -> np.ndarray:
    return (np.bincount(idx, weights=values) / np.bincount(idx))[idx]


def _residuals(x: np.ndarray, y: np.ndarray, bidx: np.ndarray) -> np.ndarray:
    """Within-level residuals scaled to the noise level: y minus block means (when blocked), minus the
    level means, times sqrt(n / df) so that their spread estimates the noise sd, not a shrunken one."""
    n_blocks = int(bidx.max()) + 1
    r = y - _group_mean(y, bidx) if n_blocks > 1 else y - y.mean()
    lev = _level_index(x)
    r = r - _group_mean(r, lev)
    df = x.shape[0] - (int(lev.max()) + 1) - (n_blocks - 1)
    scale = max(1.0, float(np.max(np.abs(y))))
    if df <= 0 or np.max(np.abs(r)) <= 1e-12 * scale:
        return np.zeros(0)
    return r * math.sqrt(x.shape[0] / df)


def _mde(design: _Design, y, kind, alpha, power, n_sim, rng) -> tuple[float, bool]:
    """Minimum detectable effect of the ``kind`` test: the smallest delta >= 0 such that data
    sign * delta * x + noise are rejected in at least ``power`` of ``n_sim`` simulations, the noise
    resampled (with replacement) from the within-level residuals. For each simulated noise the test
    rejects exactly when delta exceeds a threshold (the inverted-test bound of the noise alone), so the
    answer is a quantile of those thresholds: no bisection over delta is needed. Returns (mde, noiseless).
    """
    if n_sim <= 0:
        return math.nan, False
    resid = _residuals(design.x, y, design.bidx)
    if resid.size == 0:
        return (0.0 if design.min_p < alpha else math.inf), True
    E = rng.choice(resid, size=(design.n, n_sim), replace=True)
    slopes, zero_signs = design.differences(E)
    value, _ = design.bound(slopes, zero_signs, kind, alpha)
    thresholds = np.sort(-value if kind == _INC else value)
    needed = thresholds[min(n_sim, math.ceil(power * n_sim - 1e-9)) - 1]
    return max(0.0, float(needed)), False


def _degenerate(x: np.ndarray, y: np.ndarray, floor, ceiling) -> str | None:
    """The reason the data cannot support any verdict, or None: no variance within any level (this
    includes constant data and a single run per level), every run at or below ``floor`` (the random-policy
    score), or every run at or above ``ceiling``."""
    lev = _level_index(x)
    lo = np.full(int(lev.max()) + 1, np.inf)
    hi = np.full(int(lev.max()) + 1, -np.inf)
    np.minimum.at(lo, lev, y)
    np.maximum.at(hi, lev, y)
    if np.all(hi == lo):
        return "degenerate data: y has no variance within any level (all runs of a level are equal)"
    if floor is not None and np.all(y <= floor):
        return f"degenerate data: every run is at or below the floor {floor:g} (e.g. the random-policy score)"
    if ceiling is not None and np.all(y >= ceiling):
        return f"degenerate data: every run is at or above the ceiling {ceiling:g}"
    return None


def _describe(shift: float, what: str = "y") -> str:
    if shift == 0:
        return what
    return f"{what} - {shift:g}*x" if shift > 0 else f"{what} + {-shift:g}*x"


def _validate_common(alpha, n_permutations, mde_power) -> tuple[float, int]:
    alpha = _validate_alpha(alpha)
    B = _validate_permutations(n_permutations)
    if not (isinstance(mde_power, numbers.Real) and 0 < mde_power < 1):
        raise ValueError(f"mde_power must be in (0, 1), got {mde_power!r}")
    return alpha, B


def _core(x, y, bidx, n_blocks, direction, shift, *, alpha, B, seed, degenerate, mde_power, mde_simulations,
          max_exact, what="y") -> TrendResult:
    """The test, interval, mde and verdict of ``assess`` on validated inputs."""
    kind, _ = _CLAIM_TEST[direction]
    perm_rng, sim_rng = _make_rngs(seed)
    design = _Design(x, bidx, B, perm_rng, max_exact)
    slopes, zero_signs = design.differences(y[:, None])

    S, ge, le = design.test_at(slopes, zero_signs, shift)
    p = ge if kind == _INC else le
    _, ge0, le0 = design.test_at(slopes, zero_signs, 0.0)
    p_opposite = le0 if kind == _INC else ge0
    lo, lo_closed = design.bound(slopes, zero_signs, _INC, alpha)
    hi, hi_closed = design.bound(slopes, zero_signs, _DEC, alpha)
    mde, noiseless = _mde(design, y, kind, alpha, mde_power, mde_simulations, sim_rng)

    if degenerate:
        verdict, reason = INCONCLUSIVE, degenerate
    elif p < alpha:
        verdict = REPRODUCED
        article = "an" if kind == _INC else "a"
        reason = f"p={p:.3g} < alpha={alpha:g} for {article} {kind} trend of {_describe(shift, what)}"
    elif p_opposite < alpha:
        verdict = CONTRADICTED
        reason = (
            f"p={p_opposite:.3g} < alpha={alpha:g} for a{'n' if kind == _DEC else ''} {_OPPOSITE[kind]} trend "
            f"of {what}, against the claimed {direction} (claimed-direction p={p:.3g})"
        )
    elif design.min_p >= alpha:
        verdict = INCONCLUSIVE
        reason = (
            f"this design cannot reach p < alpha={alpha:g} (smallest achievable p={design.min_p:.3g}); "
            "add seeds or levels"
        )
    else:
        verdict = INCONCLUSIVE
        if noiseless:
            detail = "the runs show no within-level noise"
        elif math.isnan(mde):
            detail = "mde not computed"
        else:
            edge = shift + mde if kind == _INC else shift - mde
            detail = (
                f"a true slope {'>=' if kind == _INC else '<='} {edge:.3g} per unit x would be detected with "
                f"{mde_power:.0%} power at this design (mde={mde:.3g})"
            )
        reason = f"neither direction is significant (p={p:.3g}, opposite p={p_opposite:.3g}, alpha={alpha:g}); {detail}"
    return TrendResult(
        direction=direction,
        verdict=verdict,
        reason=reason,
        statistic=S,
        tau=_tau_b(x, y),
        p=p,
        p_opposite=p_opposite,
        slope=float(np.median(slopes)),
        ci_low=float(lo[0]),
        ci_high=float(hi[0]),
        mde=mde,
        min_p=design.min_p,
        n=int(x.shape[0]),
        n_levels=int(np.unique(x).size),
        n_blocks=int(n_blocks),
        method=design.method,
        shift=shift,
        ci_low_open=bool(lo_closed[0]),
        ci_high_open=bool(hi_closed[0]),
    )


def assess(
    x,
    y,
    direction: str,
    *,
    blocks=None,
    margin: float = 0.0,
    threshold: float = 0.0,
    alpha: float = 0.05,
    n_permutations: int = 9999,
    seed=0,
    floor: float | None = None,
    ceiling: float | None = None,
    mde_power: float = 0.8,
    mde_simulations: int = 200,
    max_exact: int = MAX_EXACT,
) -> TrendResult:
    """The verdict on "y is ``direction`` in x", by a one-sided permutation test of Kendall's S.

    - ``increasing``: REPRODUCED when S > 0 is significant for y - threshold * x (the slope exceeds the
      threshold); CONTRADICTED when instead S < 0 is significant for y; else INCONCLUSIVE, with the mde.
      ``decreasing`` mirrors it (S < 0 on y + threshold * x; contradicted by S > 0 on y).
    - ``non_increasing`` ("no gain"): REPRODUCED when S < 0 is significant for y - margin * x (the slope
      is shown to be below the margin); CONTRADICTED when S > 0 is significant for y; else INCONCLUSIVE.
      ``non_decreasing`` mirrors it (S > 0 on y + margin * x; contradicted by S < 0 on y).
    - Degenerate data are INCONCLUSIVE whatever the p-values: no variance within any level (including
      constant data, or a single run per level), or every run at or below ``floor`` (at or above
      ``ceiling``). The statistics are still filled in.

    ``threshold`` and ``margin`` are non-negative magnitudes per unit x; the first applies to strict
    directions only, the second to ``non_`` directions only. The (1 - 2 alpha) interval for the slope
    inverts the same test with the same permutation draws, so "p < alpha for increasing with threshold
    0" iff ``ci_low > 0`` (or ``ci_low == 0`` with ``ci_low_open``, possible only with ties), and
    "non_increasing is REPRODUCED" iff ``ci_high < margin`` (likewise). The mde is a property of the
    design and the observed noise (``mde_simulations`` resamples; 0 skips it and gives NaN), never the
    observed power.
    """
    direction = _validate_direction(direction)
    x, bidx, labels = _validate_design(x, blocks)
    y = _float_vector("y", y, x.shape[0])
    _check_finite("y", y)
    alpha, B = _validate_common(alpha, n_permutations, mde_power)
    for name, value in (("margin", margin), ("threshold", threshold)):
        if not (isinstance(value, numbers.Real) and math.isfinite(value) and value >= 0):
            raise ValueError(f"{name} must be a finite number >= 0 (a magnitude per unit x), got {value!r}")
    strict = direction in (_INC, _DEC)
    if strict and margin != 0:
        raise ValueError(
            f"margin applies to non_increasing/non_decreasing claims; for {direction!r} use threshold= "
            "(the slope the trend must exceed)"
        )
    if not strict and threshold != 0:
        raise ValueError(
            f"threshold applies to increasing/decreasing claims; for {direction!r} use margin= "
            "(the largest slope still counted as no gain)"
        )
    shift = _CLAIM_TEST[direction][1] * float(threshold if strict else margin) + 0.0
    return _core(
        x, y, bidx, labels.size, direction, shift, alpha=alpha, B=B, seed=seed,
        degenerate=_degenerate(x, y, floor, ceiling), mde_power=mde_power, mde_simulations=mde_simulations,
        max_exact=max_exact,
    )


# --------------------------------------------------------------------------------------------------
# assess_contrast: the verdict on a difference of slopes between two groups


def assess_contrast(
    x,
    y,
    group,
    direction: str,
    *,
    blocks=None,
    order: tuple | None = None,
    alpha: float = 0.05,
    n_permutations: int = 9999,
    seed=0,
    floor: float | None = None,
    mde_power: float = 0.8,
    mde_simulations: int = 200,
    max_exact: int = MAX_EXACT,
) -> ContrastResult:
    """The verdict on "the slope of group b minus the slope of group a is ``direction``" (an interaction,
    e.g. "the width slope of architecture B exceeds that of architecture A").

    ``group`` (n,) holds two labels; ``order=(a, b)`` names them, else b is the label sorting last. Every
    (x, block) cell must hold exactly one run of each group, and the test uses the pairing: it is the
    trend test of ``assess`` applied to the within-cell differences d = y_b - y_a (one per cell, blocked
    as given). A difference of slopes is a trend in d, whatever the offset between the groups, so under
    "equal slopes" the differences of a block are exchangeable across levels and the permutation null is
    exact; offsets between the groups and cell effects shared by both runs of a cell (the same seed and
    level) cancel. (A null that swaps the two labels of each cell tests "the groups are identical"
    instead: it loses its validity, or most of its power, as soon as one group is better everywhere.)

    ``statistic`` is Sen's slope of d (within blocks), the estimate of slope_b - slope_a that the test
    and the interval are about; ``slope_a`` and ``slope_b`` are each group's own Sen's slope (their
    difference is close to, not always equal to, ``statistic``). The interval shifts group b by -d x,
    i.e. tests the differences minus d x, with the same permutation draws. Verdicts as in ``assess``:
    "increasing" is REPRODUCED when the slope difference is significantly positive and CONTRADICTED when
    it is significantly negative. Degenerate: the differences have no variance within any level, or every
    run is at or below ``floor``.
    """
    direction = _validate_direction(direction, (_INC, _DEC))
    x, bidx, blabels = _validate_design(x, blocks)
    n = x.shape[0]
    y = _float_vector("y", y, n)
    _check_finite("y", y)
    alpha, B = _validate_common(alpha, n_permutations, mde_power)
    g = np.asarray(group)
    if g.ndim != 1 or g.shape[0] != n:
        raise ValueError(f"group must have shape ({n},) like x (one label per run), got shape {g.shape}")
    present = [v.item() if isinstance(v, np.generic) else v for v in np.unique(g)]
    if len(present) != 2:
        raise ValueError(f"group must hold exactly two labels, found {len(present)}: {present[:6]}")
    if order is None:
        order = (present[0], present[1])
    elif len(order) != 2 or set(order) != set(present):
        raise ValueError(f"order must name the two labels of group, {present}, as (a, b); got {order!r}")
    a_label, b_label = order
    is_b = g == b_label

    cells, cell = np.unique(np.stack([bidx.astype(float), x], axis=1), axis=0, return_inverse=True)
    cell = cell.reshape(-1)
    C = cells.shape[0]
    na = np.bincount(cell[~is_b], minlength=C)
    nb = np.bincount(cell[is_b], minlength=C)
    bad = np.flatnonzero((na != 1) | (nb != 1))
    if bad.size:
        c = bad[0]
        raise ValueError(
            f"every (x, block) cell must hold exactly one run of each group; the cell x={cells[c, 1]:g}, "
            f"block={blabels[int(cells[c, 0])]!r} has {na[c]} run(s) of {a_label!r} and {nb[c]} of "
            f"{b_label!r} ({bad.size} bad cell(s) in all)"
        )
    ya, yb = np.empty(C), np.empty(C)
    ya[cell[~is_b]] = y[~is_b]
    yb[cell[is_b]] = y[is_b]
    xc, bc = cells[:, 1].copy(), cells[:, 0].astype(np.intp)
    if not any(np.unique(xc[bc == b]).size >= 2 for b in np.unique(bc)):
        raise ValueError("no block has cells at two distinct x; blocks must pair runs across levels")

    diff = yb - ya
    degenerate = _degenerate(xc, diff, None, None)
    if degenerate:
        degenerate = f"degenerate data: y[{b_label}] - y[{a_label}] has no variance within any level"
    elif floor is not None and np.all(y <= floor):
        degenerate = f"degenerate data: every run is at or below the floor {floor:g} (e.g. the random-policy score)"
    res = _core(
        xc, diff, bc, blabels.size, direction, 0.0, alpha=alpha, B=B, seed=seed, degenerate=degenerate,
        mde_power=mde_power, mde_simulations=mde_simulations, max_exact=max_exact,
        what=f"y[{b_label}] - y[{a_label}]",
    )
    return ContrastResult(
        direction=direction,
        verdict=res.verdict,
        reason=res.reason,
        statistic=res.slope,
        slope_a=sen_slope(xc, ya, bc),
        slope_b=sen_slope(xc, yb, bc),
        p=res.p,
        p_opposite=res.p_opposite,
        ci_low=res.ci_low,
        ci_high=res.ci_high,
        mde=res.mde,
        min_p=res.min_p,
        n=int(n),
        method=res.method,
        labels=(a_label, b_label),
        n_cells=int(C),
        kendall_s=res.statistic,
        ci_low_open=res.ci_low_open,
        ci_high_open=res.ci_high_open,
    )


# --------------------------------------------------------------------------------------------------
# Multi-task aggregates (reported beside verdicts; rliable's IQM and stratified bootstrap)


def iqm(scores) -> float:
    """Interquartile mean of all entries: the mean after dropping the lowest and highest 25%
    (``scipy.stats.trim_mean(.., 0.25)`` on the flattened array; with fewer than 4 entries, the mean)."""
    v = np.asarray(scores, dtype=float).ravel()
    if v.size == 0 or not np.isfinite(v).all():
        raise ValueError("iqm needs at least one score, all finite")
    return float(trim_mean(v, 0.25))


def stratified_bootstrap_ci(scores, stat=iqm, *, n_boot: int = 2000, level: float = 0.95,
                            seed: int = 0) -> tuple[float, float]:
    """Percentile interval of ``stat`` over (runs, tasks) ``scores``, resampling runs with replacement
    within each task (rliable's stratified bootstrap: every task keeps its weight)."""
    s = np.asarray(scores, dtype=float)
    if s.ndim != 2 or s.size == 0:
        raise ValueError(f"scores must be (runs, tasks), got shape {s.shape}")
    rng = np.random.default_rng(seed)
    runs, tasks = s.shape
    idx = rng.integers(0, runs, size=(n_boot, runs, tasks))
    boots = np.array([stat(np.take_along_axis(s, i, axis=0)) for i in idx])
    tail = 100 * (1 - level) / 2
    return float(np.percentile(boots, tail)), float(np.percentile(boots, 100 - tail))
