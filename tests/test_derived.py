"""Two-axis claims reduced to a derived quantity (ClaimSpec.derive), and fitted laws (ClaimSpec.law).

The toy compute-optimal claim (tests/toy) runs through real pytest in a temporary project: its synthetic
optimum size grows as C ** optimum_exponent, so the verdict must follow the sign of that exponent."""
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from harness.claim import ClaimSpec, ClaimSpecError
from harness.verdict import _assess_derived, _law

ROOT = Path(__file__).resolve().parents[1]
TOY = ROOT / "tests" / "toy"


def run_toy(tmp_path: Path, exponent: float) -> dict:
    (tmp_path / "claims").mkdir()
    shutil.copy(TOY / "claims" / "test_toy_compute_optimal.py", tmp_path / "claims")
    params = yaml.safe_load((TOY / "params.yaml").read_text())
    params["claims"]["toy_compute_optimal"]["quick"]["optimum_exponent"] = exponent
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    proc = subprocess.run([sys.executable, "-m", "pytest", "claims", "-q", "-p", "no:cacheprovider", "--workers", "1",
                           "--no-verdicts"], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "CI": "1"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = subprocess.run([sys.executable, "-m", "harness", "verdict", "toy_compute_optimal", "--budget", "quick"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stdout + out.stderr
    return json.loads((tmp_path / "reports" / "quick" / "claims" / "toy_compute_optimal.json").read_text())


@pytest.mark.parametrize("exponent, verdict", [(0.5, "REPRODUCED"), (-0.3, "CONTRADICTED")])
def test_compute_optimal_verdict_follows_the_true_exponent(tmp_path, exponent, verdict):
    summary = run_toy(tmp_path, exponent)
    m = summary["metrics"][0]
    assert m["verdict"] == verdict, m["reason"]
    assert len(summary["observations"]) == 6 * 5 * 4  # sizes x compute budgets x seeds
    st = m["stats"]
    assert st["n_seeds"] == 4 and len(st["per_seed"]) == 4 and st["ci_level"] == pytest.approx(0.9)
    assert (st["ci_low"] > 0) if verdict == "REPRODUCED" else (st["ci_high"] < 0)
    assert len(st["budgets"]) == len(st["optimal_size"]) >= 5


def test_report_draws_the_derived_law(tmp_path):
    run_toy(tmp_path, 0.5)
    from harness.report import build
    text = build(tmp_path / "reports", "quick").read_text()
    assert "Compute-optimal size: N* =" in text and "toy_compute_optimal__final_return__law.png" in text
    assert (tmp_path / "reports" / "quick" / "figures" / "toy_compute_optimal__final_return__law.png").exists()


@pytest.mark.parametrize("kwargs, match", [
    (dict(derive="compute_optimal"), "needs over="),
    (dict(derive="compute_optimal", over="w"), "not the axis"),
    (dict(derive="nope", over="s"), "unknown"),
    (dict(over="s"), "only used with derive"),
    (dict(derive="compute_optimal", over="c", law="params"), "without contrast, margin, threshold or law"),
    (dict(law="wall_time"), "fit the law against one of"),
])
def test_derive_and_law_markers_are_validated(kwargs, match):
    with pytest.raises(ClaimSpecError, match=match):
        ClaimSpec.from_marker((), {"axis": "w", "metrics": {"final_return": "increasing"}, **kwargs})


def test_over_must_be_parametrized():
    spec = ClaimSpec.from_marker((), {"axis": "w", "metrics": {"r": "increasing"}, "derive": "compute_optimal",
                                      "over": "steps"})
    with pytest.raises(ClaimSpecError, match="over='steps' is not a parametrized argument"):
        spec.check_parametrized(["w"], [1, 2])


def test_specs_without_the_new_fields_keep_their_hash():
    spec = ClaimSpec.from_marker((), {"axis": "w", "metrics": {"r": "increasing"}})
    assert "law" not in spec.to_dict() and "derive" not in spec.to_dict()
    assert ClaimSpec.from_dict(spec.to_dict()) == spec


def test_law_is_fitted_per_seed_against_the_recorded_quantity():
    rng = np.random.default_rng(1)
    spec = ClaimSpec.from_marker((), {"axis": "w", "metrics": {"r": "increasing"}, "law": "params",
                                      "random_score": 1.0, "reference_score": 2.0})
    rows, raw = [], []
    for w in [16, 32, 64, 128]:
        for s in range(5):
            rows.append({"level_id": f"w{w}", "params": {"w": w}, "seed": s, "params_count": 10 * w})
            raw.append(1.0 + 0.2 * (10 * w) ** 0.4 * math.exp(rng.normal(0, 0.05)))
    law = _law(spec, "r", np.array(raw), rows)
    assert law["x"] == "params" and law["floor"] == 1.0
    assert law["ci"][0] < 0.4 < law["ci"][1] and law["b"] == pytest.approx(0.4, abs=0.05)


def test_a_grid_that_does_not_bracket_the_optimum_is_inconclusive(tmp_path):
    """Optimum 4 * (C / 64) ** 2 over sizes 1..32: at most budgets the best size is the grid's smallest or
    largest, so the rank test's "increasing" says nothing about where the optimum lies."""
    m = run_toy(tmp_path, 2.0)["metrics"][0]
    assert m["verdict"] == "INCONCLUSIVE" and m["reason"].startswith("the grid does not bracket the optimum")
    assert m["stats"]["edge"] / m["stats"]["n"] > 0.5 and m["stats"]["gates"]["failed"] == "bracket"


def _curve_rows(exponent: float, seeds: int = 4, missing: bool = False) -> list[dict]:
    """One run per size whose learning curve is evaluated at compute 4 .. 1024; its value at compute C is the
    toy agent's, 10 - (log2(size) - log2(4 (C / 64) ** exponent)) ** 2, plus noise."""
    rng = np.random.default_rng(0)
    rows = []
    for size in [1, 2, 4, 8, 16, 32]:
        for seed in range(seeds):
            flops = [0.0] + [4.0 * 2 ** k for k in range(9)]
            best = [2 + exponent * (math.log2(c) - 6) for c in flops[1:]]
            values = [0.0] + [10 - (math.log2(size) - b) ** 2 + rng.normal(0, 0.3) for b in best]
            rows.append({"level_id": f"size{size}", "params": {"size": size}, "seed": seed, "params_count": size,
                         "metrics": {"final_return": values[-1]}, "initial": {"final_return": 0.0},
                         "diverged": False, "flops": flops[-1], "curve": [list(range(10)), values],
                         "curve_flops": None if missing else flops})
    return rows


@pytest.mark.parametrize("exponent, verdict", [(0.5, "REPRODUCED"), (-0.3, "CONTRADICTED")])
def test_compute_optimal_read_off_the_learning_curves_follows_the_true_exponent(exponent, verdict):
    """over="curve": one run per size, every evaluation of its curve a budget (no grid over budgets)."""
    spec = ClaimSpec.from_marker((), {"axis": "size", "over": "curve", "derive": "compute_optimal",
                                      "metrics": {"final_return": "increasing"}})
    spec.check_parametrized(["size"], [1, 2, 4, 8, 16, 32])  # "curve" is not a parametrized argument
    m = _assess_derived(spec, "final_return", "increasing", _curve_rows(exponent), alpha=0.05, permutations=999)
    assert m.verdict == verdict, m.reason
    assert len(m.stats["budgets"]) == 8 and m.stats["edge"] / m.stats["n"] <= 0.5


def test_compute_optimal_over_the_curve_needs_the_flops_of_each_evaluation():
    spec = ClaimSpec.from_marker((), {"axis": "size", "over": "curve", "derive": "compute_optimal",
                                      "metrics": {"final_return": "increasing"}})
    with pytest.raises(ValueError, match="curve_flops"):
        _assess_derived(spec, "final_return", "increasing", _curve_rows(0.5, missing=True), alpha=0.05)


def test_a_law_of_elo_is_fitted_to_the_playing_strength():
    """Neumann & Gros's form: 10^(elo/400) = a * params ** b, i.e. Elo linear in log params (400 b log10 2 per
    doubling); the Elo itself is not a power law of params."""
    rng = np.random.default_rng(2)
    spec = ClaimSpec.from_marker((), {"axis": "w", "metrics": {"elo": "increasing"}, "law": "params"})
    rows, raw = [], []
    for w in [8, 16, 32, 64, 128]:
        for s in range(5):
            rows.append({"level_id": f"w{w}", "params": {"w": w}, "seed": s, "params_count": 10 * w})
            raw.append(400 * 0.5 * math.log10(10 * w) - 300 + rng.normal(0, 10))
    law = _law(spec, "elo", np.array(raw), rows)
    assert law["of"] == "10^(elo/400)" and law["floor"] == 0.0
    assert law["ci"][0] < 0.5 < law["ci"][1] and law["b"] == pytest.approx(0.5, abs=0.05)
