"""Claims that hold "on some tasks" (ClaimSpec.per_block): Holm's adjustment, trend.on_some_blocks, its
calibration under a null on every block, and the verdict and report of such a claim."""
from __future__ import annotations

import numpy as np
import pytest
from test_verdict import make

from harness import report, trend
from harness.claim import ClaimSpec, ClaimSpecError
from harness.verdict import assess_claim

R, C, I = trend.REPRODUCED, trend.CONTRADICTED, trend.INCONCLUSIVE


def test_holm_adjusts_step_down_and_passes_nan_through():
    # sorted 0.01, 0.03, 0.04 times 3, 2, 1 -> 0.03, 0.06, 0.04 -> running max 0.03, 0.06, 0.06
    assert np.allclose(trend.holm([0.04, 0.01, 0.03]), [0.06, 0.03, 0.06])
    adj = trend.holm([0.5, np.nan, 0.9])
    assert np.isnan(adj[1]) and np.allclose(adj[[0, 2]], [1.0, 1.0])  # 2 x 0.5, then max(0.9, 1.0)
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        trend.holm([1.5])


@pytest.mark.parametrize("verdicts, p, expected", [
    ([R, I, I], [0.01, 0.5, 0.2], R),   # 3 x 0.01 < 0.05
    ([R, I, I], [0.03, 0.5, 0.2], I),   # significant alone, not after Holm (0.09)
    ([R, R, I], [0.01, 0.02, 0.9], R),  # 0.03, then 0.04: both hold
    ([R, R, I], [0.02, 0.02, 0.9], I),  # 0.06 for the first: the step-down stops there
    ([I, I, I], [0.001, 0.5, 0.5], I),  # a small p that a gate (or degenerate data) made INCONCLUSIVE
    ([C, C, C], [0.9, 0.99, 0.95], C),  # contradicted on every block
    ([C, C, I], [0.9, 0.99, 0.4], I),
])
def test_some_block_must_hold_after_holm_and_every_block_must_be_contradicted(verdicts, p, expected):
    assert trend.on_some_blocks(verdicts, p)[0] == expected


def _rates(slopes: list[float], reps: int, seed: int, levels: int = 4, seeds: int = 4) -> tuple[float, float]:
    """(how often the claim "increasing on some block" is REPRODUCED, and how often it would be if each block
    were tested at alpha without a correction), over ``reps`` simulated claims with one true slope per block
    and N(0, 1) noise, each block tested with the harness's exact blocked Kendall test."""
    rng = np.random.default_rng(seed)
    x = np.repeat(np.arange(levels, dtype=float), seeds)
    blocks = np.tile(np.arange(seeds), levels)
    k = len(slopes)
    y = np.asarray(slopes)[None, :, None] * x[:, None, None] + rng.normal(size=(x.size, k, reps))
    test = trend.kendall_test(x, y.reshape(x.size, -1), blocks)
    p = test.p_increasing.reshape(k, reps)
    opp = test.p_decreasing.reshape(k, reps)
    held = 0
    for r in range(reps):
        verdicts = [R if p[b, r] < 0.05 else C if opp[b, r] < 0.05 else I for b in range(k)]
        held += trend.on_some_blocks(verdicts, p[:, r])[0] == R
    return held / reps, float(np.mean((p < 0.05).any(axis=0)))


def test_under_a_null_on_every_block_a_claim_on_some_blocks_is_reproduced_at_most_alpha_plus_002():
    corrected, uncorrected = _rates([0.0, 0.0, 0.0], reps=2000, seed=11)
    assert corrected <= 0.05 + 0.02, corrected
    assert uncorrected > 0.05 + 0.02, uncorrected  # without the correction the bound fails


def test_a_trend_on_one_block_of_three_is_found():
    power, _ = _rates([1.0, 0.0, 0.0], reps=300, seed=12)
    assert power > 0.8, power


def test_the_verdicts_p_is_the_kendall_tests():
    rng = np.random.default_rng(3)
    x, blocks, y = np.repeat(np.arange(4.0), 4), np.tile(np.arange(4), 4), rng.normal(size=16)
    assert trend.assess(x, y, "increasing", blocks=blocks, mde_simulations=0).p == pytest.approx(
        float(trend.kendall_test(x, y, blocks).p_increasing))


SPEC = {"axis": "w", "metrics": {"final_return": "decreasing"}, "blocks": "seed", "per_block": "task"}


def _values(slopes: dict[str, float], seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {(task, w): list(slope * k + rng.normal(0, 0.1, 5)) for task, slope in slopes.items()
            for k, w in enumerate([1, 2, 4, 8])}


def test_a_claim_that_holds_on_one_task_is_reproduced_with_every_tasks_verdict():
    s = assess_claim(*make(SPEC, _values({"a": 0.0, "b": -1.0, "c": 0.0})), alpha=0.05)
    m = s["metrics"][0]
    assert m["verdict"] == R and m["stats"]["block"] == "'b'"
    assert m["reason"].startswith("REPRODUCED on 1 of 3 values of task (task='b')")
    per = {b["value"]: b for b in m["stats"]["per_block"]}
    assert per["'b'"]["verdict"] == R and per["'a'"]["verdict"] != R
    assert m["stats"]["p"] == pytest.approx(per["'b'"]["p_holm"]) and m["stats"]["p"] >= m["stats"]["p_unadjusted"]
    assert -1.2 < m["stats"]["slope"] < -0.8
    lines = report._claim_section(s)
    assert any(line.startswith("| 'b' | REPRODUCED |") for line in lines)
    assert any("judged per `task` (holds if it holds on some, Holm-adjusted)" in line for line in lines)


def test_a_claim_contradicted_on_every_task_and_one_that_holds_nowhere():
    assert assess_claim(*make(SPEC, _values({"a": 1.0, "b": 1.0})), alpha=0.05)["metrics"][0]["verdict"] == C
    m = assess_claim(*make(SPEC, _values({"a": 1.0, "b": 0.0})), alpha=0.05)["metrics"][0]
    assert m["verdict"] == I and m["reason"].startswith("no value of task shows the trend at Holm-adjusted p < 0.05")


def test_one_task_is_judged_alone_and_its_reason_names_it_once():
    m = assess_claim(*make(SPEC, _values({"a": -1.0})), alpha=0.05)["metrics"][0]
    assert m["verdict"] == R and m["reason"].startswith("judged on task='a' alone: ")
    assert m["reason"].count("task='a'") == 1 and "Holm" not in m["reason"]


def test_per_block_is_checked_at_collection():
    with pytest.raises(ClaimSpecError, match="per_block must name a parametrized argument other than the axis"):
        ClaimSpec.from_marker((), {**SPEC, "per_block": "w"})
    with pytest.raises(ClaimSpecError, match="not supported with derive= or contrast="):
        ClaimSpec.from_marker((), {**SPEC, "metrics": {"final_return": "increasing"}, "contrast": "arm"})
    with pytest.raises(ClaimSpecError, match="per_block='task' is not a parametrized argument"):
        ClaimSpec.from_marker((), SPEC).check_parametrized(["w"], [1, 2, 4])
    assert "per_block" not in ClaimSpec.from_marker((), {**SPEC, "per_block": None}).to_dict()  # older specs keep their hash


def test_each_task_is_gated_by_its_own_ceiling():
    values = _values({"a": 0.0, "b": -1.0, "c": 0.0})  # task b falls from 0 (its untrained score is -1)
    room = {**SPEC, "ceiling": {"a": 100.0, "b": 1.0, "c": 100.0}}  # b rose half the way to its ceiling
    m = assess_claim(*make(room, values), alpha=0.05)["metrics"][0]
    assert m["verdict"] == R and m["stats"]["block"] == "'b'"
    low = {**SPEC, "ceiling": {"a": 1.0, "b": 100.0, "c": 1.0}}  # b rose 1% of the way: nothing to lose
    m = assess_claim(*make(low, values), alpha=0.05)["metrics"][0]
    per = {b["value"]: b for b in m["stats"]["per_block"]}
    assert m["verdict"] == I and per["'b'"]["gates"]["failed"] and per["'b'"]["verdict"] == I
    assert "`b` 100" in " ".join(report._claim_section(assess_claim(*make(low, values), alpha=0.05)))


def test_a_ceiling_by_task_must_name_every_task_at_collection():
    spec = ClaimSpec.from_marker((), {**SPEC, "ceiling": {"a": 1.0, "x": 2.0}})
    assert spec.ceiling_per_block and spec.for_block("a").ceiling == 1.0
    with pytest.raises(ClaimSpecError, match=r"ceiling= by task must name each of its values \['a', 'b'\] once; "
                                             r"missing \['b'\]; not values of task: \['x'\]"):
        spec.check_parametrized(["w", "task"], [1, 2, 4], per_block_values=["a", "b"])
    with pytest.raises(ClaimSpecError, match=r"ceiling\['a'\] must be a number"):
        ClaimSpec.from_marker((), {**SPEC, "ceiling": {"a": "high"}})
    with pytest.raises(ClaimSpecError, match="ceiling names .* which are not metrics"):  # without per_block
        ClaimSpec.from_marker((), {k: v for k, v in {**SPEC, "ceiling": {"a": 1.0}}.items() if k != "per_block"})
    by_metric = ClaimSpec.from_marker((), {**SPEC, "ceiling": {"final_return": 5.0}})  # still by metric
    assert not by_metric.ceiling_per_block and by_metric.for_block("a") is by_metric
