"""Tests of harness.power (MDE, seeds for power, noise sd) and of ``python -m harness plan`` on the toy claim."""
from __future__ import annotations

import math
import re
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from harness import cli, power, trend

TOY = Path(__file__).parent / "toy"
LOG4 = np.log2([64, 128, 256, 512])  # 4 levels on a log scale: slopes per doubling
ORD5 = np.arange(5.0)  # 5 ordinal levels: slopes per level step


# --------------------------------------------------------------------------------------------------
# The fast MDE is the verdict's own test


@pytest.mark.parametrize("x_levels, seeds, direction", [
    (LOG4, 5, "increasing"), (ORD5, 3, "decreasing"), (LOG4, 8, "non_increasing"), (np.log2([2, 4, 8]), 6,
                                                                                     "non_decreasing")])
def test_critical_rank_matches_the_full_inversion(x_levels, seeds, direction):
    """For an exact design the inverted bound of every noise draw is the same order statistic of its
    pairwise slopes: what power.mde uses instead of inverting the test draw by draw."""
    kind = trend._CLAIM_TEST[direction][0]
    x, blocks = power._layout(x_levels, seeds, blocked=True)
    x, bidx, _ = trend._validate_design(x, blocks)
    design = trend._Design(x, bidx, 999, np.random.default_rng(0), trend.MAX_EXACT)
    assert design.exact
    rank = power._critical_rank(design, kind, 0.05, seed=3, draws=1)
    E = np.random.default_rng(11).standard_normal((design.n, 40))
    slopes, zero_signs = design.differences(E)
    value, _ = design.bound(slopes, zero_signs, kind, 0.05)
    ordered = np.sort(slopes, axis=0)
    expected = ordered[rank] if kind == "increasing" else ordered[ordered.shape[0] - 1 - rank]
    np.testing.assert_array_equal(value, expected)


def test_mde_agrees_with_the_verdicts_mde():
    """power.mde (Gaussian noise) and trend.assess's mde (residuals resampled from Gaussian data) agree."""
    rng = np.random.default_rng(5)
    seeds, sd = 10, 0.3
    x, blocks = power._layout(LOG4, seeds, blocked=True)
    y = rng.normal(0, sd, x.size) + np.repeat(rng.normal(0, 2, seeds), LOG4.size)  # seed offsets cancel
    verdict_mde = trend.assess(x, y, "increasing", blocks=blocks, mde_simulations=400, seed=1).mde
    ours = power.mde(LOG4, seeds, power.noise_sd(x, y, blocks))
    assert ours == pytest.approx(verdict_mde, rel=0.15)


def test_mde_decreases_with_seeds_and_scales_with_sd():
    mdes = [power.mde(LOG4, s, 1.0) for s in (3, 6, 12, 24, 48)]
    assert all(a > b for a, b in zip(mdes, mdes[1:])), mdes
    assert mdes[0] / mdes[-1] == pytest.approx(4.0, rel=0.25)  # ~ 1 / sqrt(seeds)
    for s in (4, 10):
        base = power.mde(ORD5, s, 1.0)
        for sd in (0.1, 0.5, 3.0):
            assert power.mde(ORD5, s, sd) == pytest.approx(sd * base, rel=1e-12)
    assert power.mde(LOG4, 5, 0.0) == 0.0
    assert power.mde(LOG4, 5, 0.3, seed=1) == power.mde(LOG4, 5, 0.3, seed=1)  # deterministic
    assert power.mde(LOG4, 5, 0.3, seed=1) != power.mde(LOG4, 5, 0.3, seed=2)


def test_mde_infinite_when_the_design_cannot_reject():
    # 2 levels x 2 blocks: smallest achievable p = 1/4 >= alpha
    assert power.mde([0.0, 1.0], 2, 1.0) == math.inf
    assert power.seeds_for_power([0.0, 1.0], 1.0, 10.0) == 5  # 1/2^5 < 0.05 <= 1/2^4


def test_unblocked_design_runs():
    m = power.mde(LOG4, 6, 1.0, blocked=False, n_sim=200, n_permutations=999)
    assert 0 < m < power.mde(LOG4, 2, 1.0, blocked=False, n_sim=200)


# --------------------------------------------------------------------------------------------------
# Seeds for power against the normal approximation


@pytest.mark.parametrize("x_levels, ratio", [(LOG4, 0.2), (LOG4, 0.3), (ORD5, 0.15), (ORD5, 0.2)])
def test_seeds_for_power_agrees_with_normal_approximation(x_levels, ratio):
    sd = 0.4
    effect = ratio * sd
    needed = power.seeds_for_power(x_levels, sd, effect)
    approx = power.normal_seeds(x_levels, sd, effect)
    assert needed is not None and 10 <= needed <= 100
    assert needed == pytest.approx(approx, rel=0.2)
    # the answer is the smallest: its MDE reaches the effect, one seed fewer does not (same draws)
    assert power.mde(x_levels, needed, sd) <= effect < power.mde(x_levels, needed - 2, sd)


def test_normal_seeds_formula():
    x = np.arange(4.0)
    z = 1.6448536269514722 + 0.8416212335729143
    ls = (z * 1.0 / (0.25 * math.sqrt(5.0))) ** 2  # Sxx of 0..3 is 5
    assert power.efficiency(x) == pytest.approx(3 / math.pi * 2 * 5 / 13)  # (3/pi) 2(L+1)/(2L+5)
    assert power.efficiency(x, blocked=False) == pytest.approx(3 / math.pi)
    assert power.normal_seeds(x, 1.0, 0.25) == pytest.approx(ls / power.efficiency(x))
    assert power.efficiency(np.arange(60.0)) == pytest.approx(3 / math.pi, rel=0.03)  # many levels: 3/pi
    assert power.normal_seeds(x, 1.0, 0.0) == math.inf


def test_seeds_for_power_edges():
    assert power.seeds_for_power(LOG4, 1.0, 0.0) is None
    assert power.seeds_for_power(LOG4, 1.0, 0.01, max_seeds=50) is None  # needs thousands
    assert power.seeds_for_power(LOG4, 0.0, 0.1) == 2
    assert power.seeds_for_power(LOG4, 0.01, 5.0) == 2


def test_effect_distance():
    assert power.effect_distance("increasing", 0.3, threshold=0.1) == pytest.approx(0.2)
    assert power.effect_distance("decreasing", -0.3) == pytest.approx(0.3)
    assert power.effect_distance("non_increasing", -0.1, margin=0.05) == pytest.approx(0.15)
    assert power.effect_distance("non_decreasing", 0.0, margin=0.05) == pytest.approx(0.05)


# --------------------------------------------------------------------------------------------------
# Noise sd


def test_noise_sd_recovers_a_known_sd_from_blocked_data():
    rng = np.random.default_rng(0)
    seeds, sd = 40, 0.25
    x, blocks = power._layout(LOG4, seeds, blocked=True)
    y = 0.7 * x + np.repeat(rng.normal(0, 3.0, seeds), LOG4.size) + rng.normal(0, sd, x.size)
    assert power.noise_sd(x, y, blocks) == pytest.approx(sd, rel=0.15)
    unblocked = power.noise_sd(x, y, None)  # seed offsets stay in: much larger
    assert unblocked > 5 * sd
    # consistent with the residuals the verdict's MDE resamples
    r = trend._residuals(x, y, trend._block_index(blocks, x.size)[0])
    assert power.noise_sd(x, y, blocks) == pytest.approx(math.sqrt(np.mean(r ** 2)))


def test_noise_sd_of_a_one_level_pilot():
    rng = np.random.default_rng(1)
    y = rng.normal(3.0, 0.5, 60)
    est = power.noise_estimate(np.zeros(60), y, np.arange(60))
    assert not est.blocked and est.df == 59
    assert est.sd == pytest.approx(np.std(y, ddof=1))
    assert math.isnan(power.noise_sd([0.0], [1.0]))
    assert power.noise_sd([0, 0, 1, 1], [2.0, 2.0, 3.0, 3.0]) == 0.0


# --------------------------------------------------------------------------------------------------
# Contrast claims: the test of the paired differences (trend.assess_contrast)


def _two_arms(rng, x_levels, seeds, sd, delta, cell_sd=0.0, shuffle=False):
    """x, y, arm, seed of a contrast design: every (level, seed) cell one run of arm "a" and one of "b".
    Arm b's slope exceeds a's by ``delta``; both arms share an arbitrary level shape, a seed offset and a cell
    effect of sd ``cell_sd`` (the differences cancel them); each run adds its own noise of sd ``sd``."""
    xl = np.asarray(x_levels, dtype=float)
    shape = 0.3 * np.sin(3 * xl) + 0.1 * xl  # a common, non-linear level profile
    x, y, arm, seed = [], [], [], []
    for j in range(seeds):
        offset = rng.normal(0, 2.0)
        for i, xi in enumerate(xl):
            cell = rng.normal(0, cell_sd) if cell_sd else 0.0
            for label, extra in (("a", 1.5), ("b", delta * xi)):  # arm a: a constant offset; b: the extra slope
                x.append(xi)
                y.append(shape[i] + offset + cell + extra + rng.normal(0, sd))
                arm.append(label)
                seed.append(j)
    x, y, arm, seed = np.array(x), np.array(y), np.array(arm), np.array(seed)
    if shuffle:
        order = rng.permutation(x.size)
        x, y, arm, seed = x[order], y[order], arm[order], seed[order]
    return x, y, arm, seed


def test_contrast_plan_is_the_plan_of_the_differences_and_shrinks_with_seeds():
    sd_d = power.difference_sd(0.2)
    assert sd_d == pytest.approx(0.2 * math.sqrt(2))
    assert power.difference_sd(0.3, 0.4) == pytest.approx(0.5)
    mdes = []
    for s in (3, 6, 12, 24):
        p = power.plan_metric("auc_return", "increasing", [2, 4, 8], np.log2([2, 4, 8]), s, sd_d,
                              paper_effect=0.1, contrast=("block=mlp", "block=simba"))
        assert p.mde == power.mde(np.log2([2, 4, 8]), s, sd_d)  # the single-arm machinery, on d
        assert p.contrast == ("block=mlp", "block=simba") and p.shift == 0.0
        mdes.append(p.mde)
    assert all(a > b for a, b in zip(mdes, mdes[1:])), mdes
    assert mdes[0] / mdes[-1] == pytest.approx(math.sqrt(8), rel=0.3)  # ~ 1 / sqrt(seeds)
    # one arm's sd of 0.2 asks more seeds than a single-arm claim of the same sd (the difference is noisier)
    single = power.plan_metric("auc_return", "increasing", [2, 4, 8], np.log2([2, 4, 8]), 5, 0.2, paper_effect=0.1)
    both = power.plan_metric("auc_return", "increasing", [2, 4, 8], np.log2([2, 4, 8]), 5, sd_d, paper_effect=0.1,
                             contrast=("a", "b"))
    assert both.mde == pytest.approx(math.sqrt(2) * single.mde, rel=1e-12)
    assert both.seeds_needed > single.seeds_needed
    unknown = power.plan_metric("m", "decreasing", [2, 4, 8], np.log2([2, 4, 8]), 5, sd_d, paper_effect="unknown",
                                contrast=("a", "b"))
    assert "difference of slopes (b - a) <= " in unknown.conclusion
    with pytest.raises(ValueError, match="difference of slopes"):
        power.plan_metric("m", "non_increasing", [2, 4, 8], np.log2([2, 4, 8]), 5, sd_d, contrast=("a", "b"))
    with pytest.raises(ValueError, match="difference of slopes"):
        power.plan_metric("m", "increasing", [2, 4, 8], np.log2([2, 4, 8]), 5, sd_d, threshold=0.1,
                          contrast=("a", "b"))


def test_contrast_mde_matches_a_direct_simulation_of_assess_contrast():
    """Two arms of sd 0.25, paired by (level, seed): at the planned MDE (sqrt(2) x 0.25 the sd of d), the
    verdict's own contrast test rejects in 80% of simulated claims; at half of it, far fewer; at 0, <= alpha."""
    x_levels, seeds, sd = np.log2([2, 4, 8]), 4, 0.25
    m = power.mde(x_levels, seeds, power.difference_sd(sd), n_sim=4000)
    rng = np.random.default_rng(2024)
    n = 400
    rates = {}
    for factor in (1.0, 0.5, 0.0):
        rejected = 0
        for _ in range(n):
            x, y, arm, seed = _two_arms(rng, x_levels, seeds, sd, factor * m, cell_sd=0.5)
            res = trend.assess_contrast(x, y, arm, "increasing", blocks=seed, order=("a", "b"),
                                        n_permutations=999, mde_simulations=0)
            assert res.method == "exact"
            rejected += res.p < 0.05
        rates[factor] = rejected / n
    se = math.sqrt(0.8 * 0.2 / n)  # 0.02
    assert abs(rates[1.0] - 0.8) < 3.5 * se, rates
    assert rates[0.5] < 0.55, rates
    assert rates[0.0] < 0.05 + 3.5 * math.sqrt(0.05 * 0.95 / n), rates


def test_contrast_noise_pairs_cells_and_cancels_what_they_share():
    rng = np.random.default_rng(7)
    sd = 0.25
    x, y, arm, seed = _two_arms(rng, LOG4, 100, sd, 0.3, cell_sd=1.0, shuffle=True)
    est = power.contrast_noise(x, y, arm, seed, order=("a", "b"))
    assert est.labels == ("a", "b") and est.cells == 400 and est.dropped == 0
    assert est.difference.blocked and est.difference.df == 400 - 4 - 99
    assert est.difference.sd == pytest.approx(math.sqrt(2) * sd, rel=0.15)  # se ~5%
    # each arm alone keeps the cell effects the differences cancel
    assert all(a.sd > 3 * est.difference.sd for a in est.arms)
    # the same as noise_estimate of the differences computed by hand
    xs, d, bs = [], [], []
    for j in range(100):
        for xi in LOG4:
            cell = (seed == j) & (x == xi)
            xs.append(xi)
            d.append(y[cell & (arm == "b")][0] - y[cell & (arm == "a")][0])
            bs.append(j)
    assert est.difference.sd == pytest.approx(power.noise_sd(xs, d, bs), rel=1e-12)
    # an incomplete cell is left out, not mispaired; the default order puts the label sorting last as b
    keep = np.ones(x.size, bool)
    keep[0] = False
    part = power.contrast_noise(x[keep], y[keep], arm[keep], seed[keep])
    assert part.labels == ("a", "b") and part.cells == 399 and part.dropped == 1
    swapped = power.contrast_noise(x, y, arm, seed, order=("b", "a"))
    assert swapped.difference.sd == pytest.approx(est.difference.sd, rel=1e-12)
    with pytest.raises(ValueError, match="no \\(level, seed\\) cell"):
        power.contrast_noise([0.0, 1.0], [1.0, 2.0], ["a", "b"], [0, 1])
    with pytest.raises(ValueError, match="exactly two arms"):
        power.contrast_noise([0.0, 1.0], [1.0, 2.0], ["a", "a"], [0, 0])


# --------------------------------------------------------------------------------------------------
# python -m harness plan on a toy project


def _project(tmp_path: Path, monkeypatch, paper_effect: str | None = "0.5") -> Path:
    (tmp_path / "claims").mkdir()
    (tmp_path / "params.yaml").write_text((TOY / "params.yaml").read_text())
    claim = (TOY / "claims" / "test_toy_trend.py").read_text()
    if paper_effect is not None:
        marker = 'blocks="seed")'
        assert marker in claim
        claim = claim.replace(marker, f'blocks="seed", paper_effect={paper_effect})')
    (tmp_path / "claims" / "test_toy_trend.py").write_text(claim)
    (tmp_path / "claims" / "test_toy_compute_optimal.py").write_text(
        (TOY / "claims" / "test_toy_compute_optimal.py").read_text())
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _plan(capsys, *args: str) -> tuple[int, str]:
    rc = cli.main(["plan", *args])
    out = capsys.readouterr()
    return rc, out.out + out.err


def _write_records(root: Path, budget: str, levels=None, claim: str = "toy_trend") -> None:
    """Train the toy claim's units (instant, no pytest) and write their records and the claim design, as a
    run of ``pytest claims --budget <budget>`` would."""
    from harness import design as designs
    from harness.budget import Params
    from harness.execute import Unit, run_unit
    from harness.records import Record, atomic_write_json, file_digest, write_record
    from harness.result import RunResult

    params = Params.load(root / "params.yaml")
    d = designs.build_all(params, params.budget(budget), "cpu", [claim])[claim]
    results = root / "results"
    for u in d.units:
        if levels is not None and u.params["size"] not in levels:
            continue
        out = run_unit(Unit(key=u.key, plan=u.plan))
        out.pop("_wall_time"), out.pop("_host")
        out["config"] = {}
        write_record(results / u.path, Record(key=u.key, agent=u.agent, config=asdict(u.plan.config),
                                              seeds=list(u.seeds), device="cpu", code=u.code,
                                              result=RunResult.from_dict(out)))
    atomic_write_json(results / budget / "claims" / f"{claim}.json",
                      d.to_dict({u.path: file_digest(results / u.path) for u in d.units}))


def _number(text: str, label: str) -> str:
    m = re.search(re.escape(label) + r"\s*([-+0-9.e]+)", text)
    assert m, f"{label!r} not in:\n{text}"
    return m.group(1)


def test_plan_with_given_sd(tmp_path, monkeypatch, capsys):
    _project(tmp_path, monkeypatch)
    rc, out = _plan(capsys, "toy_trend", "--sd", "0.3")
    assert rc == 0, out
    x = np.log2([1, 2, 4, 8])
    expected = power.plan_metric("auc_return", "increasing", [1, 2, 4, 8], x, 4, 0.3, paper_effect=0.5,
                                 n_permutations=999)
    assert "4 levels [1, 2, 4, 8] (x = log2 level: 0, 1, 2, 3) x 4 seeds, blocked by seed" in out
    assert "sd: 0.3 (--sd)" in out
    assert _number(out, "MDE at this design:") == f"{expected.mde:.3g}"
    assert _number(out, "paper effect:") == "0.5"
    assert _number(out, "MDE / paper effect:") == f"{expected.ratio:.2f}"
    assert _number(out, "against the paper effect:") == str(expected.seeds_needed)
    assert _number(out, "normal approximation:") == f"{expected.normal_seeds:.3g}"
    assert expected.mde < 0.5 and "conclusion: this design can see the paper's effect" in out
    assert "steps: not estimable from one budget's records" in out

    rc, out = _plan(capsys, "toy_trend", "--sd", "1.5")  # five times the noise: underpowered
    expected = power.plan_metric("auc_return", "increasing", [1, 2, 4, 8], x, 4, 1.5, paper_effect=0.5,
                                 n_permutations=999)
    assert rc == 0 and expected.seeds_needed > 4
    assert f"conclusion: underpowered: needs {expected.seeds_needed} seeds" in out
    assert _number(out, "MDE / paper effect:") == f"{expected.ratio:.2f}"


def test_plan_without_sd_exits_2_with_the_hint(tmp_path, monkeypatch, capsys):
    _project(tmp_path, monkeypatch)
    rc, out = _plan(capsys, "toy_trend")
    assert rc == 2
    assert "pytest claims/test_toy_trend.py -k size1 --budget quick" in out
    assert "--sd" in out


def test_plan_from_records_at_one_and_two_budgets(tmp_path, monkeypatch, capsys):
    root = _project(tmp_path, monkeypatch, paper_effect=None)
    _write_records(root, "quick")
    rc, out = _plan(capsys, "toy_trend")
    assert rc == 0, out
    # the sd the records give, computed here from the toy agent's own formula for its runs
    from harness.agents import toy
    rows = [(s, seed, toy.train(toy.Config(size=s, steps=8, slope=-1.0, noise=0.1), [seed]).members[0])
            for s in (1, 2, 4, 8) for seed in range(4)]
    x = np.log2([s for s, _, _ in rows])
    y = np.array([m.metrics["auc_return"] for _, _, m in rows])
    sd = power.noise_sd(x, y, np.array([seed for _, seed, _ in rows]))
    assert _number(out, "sd:") == f"{sd:.3g}"
    assert "records at budget quick: 16 runs, 4 level(s), df=9, seed offsets removed" in out
    assert "paper effect: not given" in out
    assert "steps: not estimable from one budget's records" in out

    _write_records(root, "smoke")
    rc, out = _plan(capsys, "toy_trend")
    assert rc == 0, out
    assert "steps: records at 2 budgets" in out
    assert re.search(r"quick \(steps=8\) auc_return: sd [0-9.e-]+, level means 1: ", out)
    assert re.search(r"smoke \(steps=8\) auc_return: sd [0-9.e-]+, level means 1: ", out)


def test_plan_from_a_pilot_at_another_budget(tmp_path, monkeypatch, capsys):
    root = _project(tmp_path, monkeypatch)
    _write_records(root, "smoke", levels=[1])  # the smallest level only, 2 seeds
    rc, out = _plan(capsys, "toy_trend", "--pilot-budget", "smoke")
    assert rc == 0, out
    assert "records at budget smoke: 2 runs, 1 level(s), df=1" in out
    assert "conclusion:" in out


def test_plan_does_not_cover_derived_claims(tmp_path, monkeypatch, capsys):
    _project(tmp_path, monkeypatch)
    rc, out = _plan(capsys, "toy_compute_optimal", "--sd", "0.1")
    assert rc == 0
    assert "plan does not cover derived" in out


def test_plan_rejects_a_bad_sd(tmp_path, monkeypatch, capsys):
    _project(tmp_path, monkeypatch)
    rc, out = _plan(capsys, "toy_trend", "--sd", "final_return=0.1")
    assert rc == 2 and "METRIC=SD" in out


# --------------------------------------------------------------------------------------------------
# python -m harness plan on a toy contrast claim

TOY_GAP = '''"""Toy contrast claim: the slope in size differs between two noise levels (the truth: it does not).

Source: synthetic data for the harness's own tests; no paper.
Departures: none (harness/agents/toy.py: a run's level is slope * log2(size) plus noise times a standard normal
drawn from (seed, size), so the two arms of a (size, seed) cell share that draw and differ by 0.2 times it).
Pilot: none.
"""
import pytest

from harness.agents import toy


@pytest.mark.claim(axis="size", contrast="noise", metrics={"auc_return": "increasing"}, blocks="seed",
                   paper_effect=PAPER)
@pytest.mark.parametrize("size", [1, 2, 4, 8])
@pytest.mark.parametrize("noise", [0.1, 0.3])
def test_toy_gap(noise, size, seeds, settings, device, record):
    cfg = toy.Config(size=size, steps=settings.steps, slope=settings.slope, noise=noise)
    record(toy.train(cfg, seeds, device))
'''


def _contrast_project(tmp_path: Path, monkeypatch, paper_effect: str = "0.5") -> Path:
    root = _project(tmp_path, monkeypatch)
    with open(root / "params.yaml", "a") as f:
        f.write("  toy_gap:\n    agent: toy\n    smoke: {steps: 8, slope: -1.0}\n"
                "    quick: {steps: 8, slope: -1.0, minutes: 0.1}\n")
    (root / "claims" / "test_toy_gap.py").write_text(TOY_GAP.replace("PAPER", paper_effect))
    return root


LABELS = ("noise=0.1", "noise=0.3")


def test_plan_of_a_contrast_claim_with_given_sd(tmp_path, monkeypatch, capsys):
    """--sd is one arm's sd: the plan is that of the paired differences, of sd sqrt(2) x SD."""
    _contrast_project(tmp_path, monkeypatch)
    rc, out = _plan(capsys, "toy_gap", "--sd", "0.3")
    assert rc == 0, out
    assert "does not cover" not in out
    x = np.log2([1, 2, 4, 8])
    expected = power.plan_metric("auc_return", "increasing", [1, 2, 4, 8], x, 4, power.difference_sd(0.3),
                                 paper_effect=0.5, n_permutations=999, contrast=LABELS)
    assert "4 levels [1, 2, 4, 8] (x = log2 level: 0, 1, 2, 3) x 4 seeds, blocked by seed" in out
    assert "contrast: tested on d = y[noise=0.3] - y[noise=0.1], one per (level, seed) cell (16 cells of 2 runs)" in out
    assert "auc_return (increasing: slope[noise=0.3] - slope[noise=0.1])" in out
    assert "sd of the difference d: 0.424 (sqrt(2) x --sd 0.3, the sd of one arm's runs" in out
    assert _number(out, "MDE at this design:") == f"{expected.mde:.3g}"
    assert expected.mde == pytest.approx(math.sqrt(2) * power.mde(x, 4, 0.3, n_permutations=999), rel=1e-12)
    assert _number(out, "paper effect:") == "0.5"
    assert _number(out, "MDE / paper effect:") == f"{expected.ratio:.2f}"
    assert _number(out, "against the paper effect:") == str(expected.seeds_needed)
    assert _number(out, "normal approximation:") == f"{expected.normal_seeds:.3g}"
    assert f"conclusion: {expected.conclusion}" in out

    (tmp_path / "unknown").mkdir()
    _contrast_project(tmp_path / "unknown", monkeypatch, paper_effect='"unknown"')
    rc, out = _plan(capsys, "toy_gap", "--sd", "0.3")
    assert rc == 0, out
    assert "paper effect: unknown" in out
    assert "detects a difference of slopes (noise=0.3 - noise=0.1) >= " in out


def test_plan_of_a_contrast_claim_from_its_records(tmp_path, monkeypatch, capsys):
    """From records the sd is that of the per-(level, seed) differences, which the arms' shared noise leaves
    at 0.2 times the draw: not sqrt(2) times either arm's."""
    root = _contrast_project(tmp_path, monkeypatch)
    rc, out = _plan(capsys, "toy_gap")
    assert rc == 2
    assert "pytest claims/test_toy_gap.py -k size1 --budget quick" in out  # both arms of the smallest level
    assert "run the smallest level first (both arms)" in out

    _write_records(root, "quick", claim="toy_gap")
    rc, out = _plan(capsys, "toy_gap")
    assert rc == 0, out
    from harness.agents import toy
    auc = {(n, s, seed): toy.train(toy.Config(size=s, steps=8, slope=-1.0, noise=n), [seed]).members[0]
           .metrics["auc_return"] for n in (0.1, 0.3) for s in (1, 2, 4, 8) for seed in range(4)}
    cells = [(s, seed) for s in (1, 2, 4, 8) for seed in range(4)]
    d = [auc[0.3, s, seed] - auc[0.1, s, seed] for s, seed in cells]
    sd = power.noise_sd(np.log2([s for s, _ in cells]), d, [seed for _, seed in cells])
    one_arm = power.noise_sd(np.log2([s for s, _ in cells]), [auc[0.3, s, seed] for s, seed in cells],
                             [seed for _, seed in cells])
    assert sd == pytest.approx(2 / 3 * one_arm, rel=1e-9)  # 0.2 / 0.3 of the noisier arm's
    assert _number(out, "sd of the difference d:") == f"{sd:.3g}"
    assert ("records at budget quick: the differences of 16 (level, seed) cells, 4 level(s), df=9, seed offsets "
            "removed; each arm alone over these cells: noise=0.1 ") in out
    expected = power.plan_metric("auc_return", "increasing", [1, 2, 4, 8], np.log2([1, 2, 4, 8]), 4, sd,
                                 paper_effect=0.5, n_permutations=999, contrast=LABELS)
    assert _number(out, "MDE at this design:") == f"{expected.mde:.3g}"
    assert "records of another design" not in out

    _write_records(root, "smoke", claim="toy_gap")
    rc, out = _plan(capsys, "toy_gap")
    assert rc == 0, out
    assert "steps: records at 2 budgets" in out
    assert re.search(r"quick \(steps=8\) auc_return: sd of d [0-9.e-]+, level means of d 1: ", out)
