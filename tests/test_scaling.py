"""harness.scaling: power-law fits, the exponent's interval (coverage on the claims' own designs), compute,
the frontier, compute-optimal sizes and intrinsic performance."""
import math

import numpy as np
import pytest
from scipy import stats

from harness import scaling


def test_fit_recovers_an_exact_power_law_with_a_floor():
    x = np.array([1, 2, 4, 8, 16, 32], float)
    law = scaling.fit_power_law(x, 0.3 + 2.0 * x ** 0.4, floor=0.3)
    assert law.a == pytest.approx(2.0, rel=1e-6) and law.b == pytest.approx(0.4, abs=1e-6)
    assert law.r2 == pytest.approx(1.0) and law(8.0) == pytest.approx(0.3 + 2.0 * 8 ** 0.4)


def test_robust_loss_resists_one_outlier_better_than_least_squares():
    x = np.array([1, 2, 4, 8, 16, 32], float)
    y = 1.5 * x ** 0.5
    y[-1] *= 8  # one wild point
    robust = scaling.fit_power_law(x, y).b
    ols = np.polyfit(np.log(x), np.log(y), 1)[0]
    assert abs(robust - 0.5) < abs(ols - 0.5)


def test_saturating_law_recovers_ceiling_and_exponent_where_a_power_law_cannot():
    x = np.array([1, 2, 4, 8, 16, 32, 64], float)
    y = 500 - 400 * x ** -0.7
    law = scaling.fit_saturating_law(x, y)
    assert (law.ceiling, law.a, law.b) == pytest.approx((500, 400, 0.7), rel=1e-4)
    assert law.r2 == pytest.approx(1.0) and law(3.0) == pytest.approx(500 - 400 * 3 ** -0.7)
    assert scaling.fit_power_law(x, y).r2 < law.r2  # the plain law bends away from saturating data
    with pytest.raises(ValueError, match="at least 3 distinct"):
        scaling.fit_saturating_law([1, 2], [0.0, 1.0])


def test_t_interval_matches_the_textbook_formula():
    v = [0.3, 0.5, 0.45, 0.2, 0.6]
    mean, lo, hi = scaling.t_interval(v)
    half = stats.t.ppf(0.975, 4) * np.std(v, ddof=1) / math.sqrt(5)
    assert (mean, lo, hi) == pytest.approx((np.mean(v), np.mean(v) - half, np.mean(v) + half))
    assert math.isnan(scaling.t_interval([0.3])[1])


# The designs of the claims that fit laws (claims/test_ppo_*.py): levels and seeds as run at quick.
DESIGNS = {"ppo_env_steps": ([1, 2, 4, 8, 16, 32], 5), "ppo_size": ([16, 32, 64, 128, 256], 5)}


@pytest.mark.parametrize("claim", sorted(DESIGNS))
def test_exponent_interval_covers_the_true_exponent_at_its_nominal_rate(claim):
    """Synthetic data with the claim's own levels and seed count: per-seed level offsets (a seed that is
    better everywhere), per-seed exponent jitter and per-point noise, all in log space."""
    levels, n_seeds = DESIGNS[claim]
    rng = np.random.default_rng(0)
    true_b, reps, hits = 0.35, 400, 0
    x = np.repeat(np.array(levels, float)[None, :], n_seeds, 0)
    seed = np.repeat(np.arange(n_seeds)[:, None], len(levels), 1)
    for _ in range(reps):
        b = true_b + rng.normal(0, 0.05, (n_seeds, 1))
        log_y = np.log(3.0) + rng.normal(0, 0.3, (n_seeds, 1)) + b * np.log(x) + rng.normal(0, 0.15, x.shape)
        fit = scaling.fit_law(x.ravel(), 0.5 + np.exp(log_y).ravel(), seed.ravel(), floor=0.5)
        hits += fit.ci[0] <= true_b <= fit.ci[1]
    coverage = hits / reps
    assert 0.90 <= coverage <= 0.99, f"95% interval covered the true exponent {coverage:.1%} of the time"


def test_training_flops_is_the_written_formula():
    from harness.agents.common import training_flops
    assert training_flops(1000, trained=4 * 500, acted=500) == (2 + 6 * 4) * 1000 * 500


def test_frontier_is_the_running_best_over_compute():
    c, best = scaling.frontier([4, 1, 2, 8], [1.0, 2.0, 0.5, 3.0])
    assert c.tolist() == [1, 2, 4, 8] and best.tolist() == [2.0, 2.0, 2.0, 3.0]


def isoflop_grid(exponent: float):
    """Every size (1..64) at every compute budget (4..1024); the best size is 8 * (C / 64) ** exponent."""
    rows = []
    for n in [2.0 ** k for k in range(0, 7)]:
        for c in [2.0 ** k for k in range(2, 11)]:
            rows.append((n, c, -(math.log2(n) - 3 - exponent * (math.log2(c) - 6)) ** 2))
    return map(np.array, zip(*rows))


@pytest.mark.parametrize("exponent", [0.5, -0.25])
def test_compute_optimal_size_follows_the_optimum(exponent):
    n, c, v = isoflop_grid(exponent)
    budgets, best = scaling.compute_optimal_sizes(n, c, v, budgets=10)
    assert len(budgets) == 10 and budgets[0] == pytest.approx(4) and budgets[-1] == pytest.approx(1024)
    assert np.all(np.sign(np.diff(best)) * np.sign(exponent) >= 0) and best[-1] != best[0]
    assert scaling.fit_power_law(budgets, best).b == pytest.approx(exponent, abs=0.15)


def test_sizes_whose_compute_ranges_do_not_overlap_give_no_optimum():
    """A sizes x steps grid: size 1 spans compute 1..8, size 64 spans 64..512; comparing them at a budget
    only one reaches would make N* rise by construction."""
    n = np.repeat([1.0, 64.0], 4)
    c = n * np.tile([1.0, 2.0, 4.0, 8.0], 2)
    budgets, best = scaling.compute_optimal_sizes(n, c, np.zeros(8))
    assert budgets.size == 0 and best.size == 0


def test_intrinsic_performance_inverts_the_reference_law():
    ref = scaling.PowerLaw(a=0.01, b=0.5, floor=1.0)
    c = np.array([1e4, 1e6, 1e8])
    assert scaling.intrinsic_performance(ref(c), ref) == pytest.approx(c)
    assert math.isnan(scaling.intrinsic_performance(0.5, ref))  # below the floor: never reached
