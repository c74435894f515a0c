"""The verdict's pre-registered gates (verdict._gates): learning, headroom, sensitivity of "no gain" claims.

Gates only ever turn a decisive verdict into INCONCLUSIVE, never the reverse; a design whose levels did not
learn decides nothing; a "no gain" design must be able to see a gain. Data are simulated per (level, seed)
with the untrained score as each run's baseline, as the agents record it (MemberResult.initial)."""
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from harness import trend
from harness.claim import ClaimSpec
from harness.verdict import _gates, judge

WIDTHS = [64, 128, 256, 512]
FIXTURES = Path(__file__).parent / "fixtures"


def rows(rng, *, learn=0.5, slope=0.0, sd=0.05, seed_sd=0.1, seeds=5, initial=0.0, levels=WIDTHS, metric="auc_return"):
    out = []
    offsets = rng.normal(0, seed_sd, seeds)
    for j, w in enumerate(levels):
        for s in range(seeds):
            y = initial + learn + slope * j + offsets[s] + rng.normal(0, sd)
            out.append({"level_id": f"width{w}", "params": {"width": w}, "seed": s, "metrics": {metric: float(y)},
                        "initial": {metric: initial}, "diverged": False})
    return out


def spec(direction="increasing", **kw):
    base = dict(axis="width", metrics={"auc_return": direction}, blocks="seed", random_score=0.0, reference_score=1.0)
    return ClaimSpec.from_marker((), {**base, **kw})


def verdict(s, r):
    return judge(s, r, WIDTHS, alpha=0.05, permutations=999)[0]


@settings(max_examples=40, deadline=None)
@given(direction=st.sampled_from(trend.DIRECTIONS), learn=st.floats(-0.3, 0.09), slope=st.floats(-0.5, 0.5),
       seed=st.integers(0, 2 ** 16))
def test_no_level_learned_means_no_decisive_verdict(direction, learn, slope, seed):
    """Every level below the gate (0.1 of the way from baseline to reference): nothing is REPRODUCED or
    CONTRADICTED, whatever the trend."""
    rng = np.random.default_rng(seed)
    r = rows(rng, learn=learn - max(0.0, slope) * 3 - 0.1, slope=slope, sd=0.01, seed_sd=0.0)
    kw = {"margin": 0.05} if direction.startswith("non_") else {}
    v = verdict(spec(direction, **kw), r)
    assert v.verdict == trend.INCONCLUSIVE and v.reason.startswith("did not learn"), v.reason


@settings(max_examples=40, deadline=None)
@given(direction=st.sampled_from(trend.DIRECTIONS), learn=st.floats(-0.2, 1.2), slope=st.floats(-0.3, 0.3),
       ceiling=st.one_of(st.none(), st.floats(0.3, 2.0)), seed=st.integers(0, 2 ** 16))
def test_gates_only_turn_a_decisive_verdict_into_inconclusive(direction, learn, slope, ceiling, seed):
    rng = np.random.default_rng(seed)
    kw = {"margin": 0.05} if direction.startswith("non_") else {}
    v = verdict(spec(direction, ceiling=ceiling, **kw), rows(rng, learn=learn, slope=slope))
    ungated = v.stats["ungated_verdict"]
    assert v.verdict in (ungated, trend.INCONCLUSIVE)
    if v.verdict != ungated:
        assert v.stats["gates"]["failed"] in ("learning", "headroom", "sensitivity")


def test_gates_pass_when_the_levels_learned_so_the_calibration_of_the_trend_test_holds():
    """With learned levels and room below the ceiling the gates never intervene, so the gated verdict is the
    trend test's (whose calibration tests/test_trend.py checks: false REPRODUCED within alpha, power)."""
    rng = np.random.default_rng(1)
    s = spec("increasing", ceiling=3.0)
    for slope in (0.0, 0.1):
        for _ in range(200):
            r = rows(rng, learn=0.5, slope=slope)
            y = np.array([o["metrics"]["auc_return"] for o in r])
            x = np.log2([o["params"]["width"] for o in r])
            assert _gates(s, "auc_return", "increasing", r, y, x)["failed"] is None


def test_the_committed_sac_width_quick_summary_did_not_learn():
    """sac_width at quick was REPRODUCED ("no gain", p = 1.3e-7) although no width had left its untrained
    policy: the learning gate makes it INCONCLUSIVE."""
    fx = json.loads((FIXTURES / "sac_width_quick_before_gates.json").read_text())
    assert fx["metrics"][0]["verdict"] == trend.REPRODUCED  # what the report said before the gates
    s = ClaimSpec.from_dict(fx["spec"])
    v = judge(s, fx["observations"], [lv["value"] for lv in fx["all_levels"]], alpha=0.05, permutations=999)[0]
    assert v.verdict == trend.INCONCLUSIVE and v.stats["ungated_verdict"] == trend.REPRODUCED
    assert v.reason.startswith("did not learn: the reference level (width64) got 0.04"), v.reason


def test_no_gain_after_real_learning_is_reproduced_with_power():
    """A "no gain" claim whose reference level learned half the way to the reference, a true slope of 0 and
    run noise of 0.05 (seed offsets 0.1): REPRODUCED in at least 85% of simulations at 5 seeds."""
    rng = np.random.default_rng(2)
    s = spec("non_increasing", margin=0.05)
    hits = [verdict(s, rows(rng, learn=0.5, slope=0.0)).verdict == trend.REPRODUCED for _ in range(60)]
    assert np.mean(hits) >= 0.85, np.mean(hits)


def test_a_margin_as_large_as_the_learning_is_insensitive():
    rng = np.random.default_rng(3)
    v = verdict(spec("non_increasing", margin=0.2), rows(rng, learn=0.5, slope=0.0))  # 0.2 > 0.25 x 0.5
    assert v.verdict == trend.INCONCLUSIVE and v.reason.startswith("insensitive design"), v.reason
    assert v.stats["ungated_verdict"] == trend.REPRODUCED


def test_no_headroom_below_the_ceiling():
    rng = np.random.default_rng(4)
    v = verdict(spec("increasing", ceiling=0.52), rows(rng, learn=0.5, slope=0.1, sd=0.01, seed_sd=0.0))
    assert v.verdict == trend.INCONCLUSIVE and v.reason.startswith("no headroom"), v.reason
    v = verdict(spec("increasing", ceiling=3.0), rows(rng, learn=0.5, slope=0.1, sd=0.01, seed_sd=0.0))
    assert v.verdict == trend.REPRODUCED


def test_an_untrained_policy_above_random_is_the_baseline():
    """The baseline is the larger of the random score and the untrained score: a policy that starts at 0.5
    and ends at 0.55 learned 0.1 of the way to the reference, not 0.55."""
    rng = np.random.default_rng(5)
    r = rows(rng, learn=0.04, initial=0.5, slope=0.0, sd=0.001, seed_sd=0.0)
    v = verdict(spec("non_increasing", margin=0.001), r)
    assert v.reason.startswith("did not learn"), v.reason
    assert v.stats["gates"]["levels"]["width64"]["baseline"] == pytest.approx(0.5)


def test_without_an_anchor_the_learning_gate_is_not_applied_and_says_so():
    rng = np.random.default_rng(6)
    s = ClaimSpec.from_marker((), dict(axis="width", metrics={"auc_return": "increasing"}, blocks="seed"))
    v = verdict(s, rows(rng, learn=0.0, slope=0.2))
    assert v.verdict == trend.REPRODUCED and "no anchor" in v.stats["gates"]["learning"]


def test_steps_to_threshold_learned_when_half_the_runs_reached():
    s = ClaimSpec.from_marker((), dict(axis="width", metrics={"steps_to_threshold": "decreasing"}, reach=100,
                                       blocks="seed", ceiling=0))
    r = []
    for j, w in enumerate(WIDTHS):
        for seed in range(5):
            reached = j >= 2 and seed < 3
            r.append({"level_id": f"width{w}", "params": {"width": w}, "seed": seed, "diverged": False,
                      "metrics": {"steps_to_threshold": 5000.0 - 1000 * j if reached else 11001.0}, "initial": {}})
    v = verdict(s, r)
    assert v.stats["gates"]["levels"]["width512"] == {"reached": 0.6, "learned": True}
    assert v.stats["gates"]["failed"] is None
    r = [{**o, "metrics": {"steps_to_threshold": 11001.0}} if o["params"]["width"] > 128 and o["seed"] > 0 else o
         for o in r]
    assert verdict(s, r).reason.startswith("did not learn")


def contrast_rows(rng, learn: dict[str, float], slope: dict[str, float], seeds=5):
    out = []
    for arm in learn:
        for j, w in enumerate(WIDTHS):
            for s in range(seeds):
                y = learn[arm] + slope[arm] * j + rng.normal(0, 0.01)
                out.append({"level_id": f"{arm}-width{w}", "params": {"width": w, "layer": arm}, "seed": s,
                            "metrics": {"auc_return": float(y)}, "initial": {"auc_return": 0.0}, "diverged": False})
    return out


def test_a_contrast_arm_that_did_not_learn_gates_the_verdict_though_the_arms_together_did():
    """softmoe_gap's case: the dense arm learned (0.5 of the way), the Soft MoE arm did not (0.05), so the mean of
    both arms per level passes the 0.1 gate; the difference of slopes (+0.01 a level) is clear, and without the
    per-arm gate it would be REPRODUCED about an arm that never learned."""
    s = spec(contrast="layer")
    rng = np.random.default_rng(0)
    v = verdict(s, contrast_rows(rng, {"dense": 0.5, "softmoe": 0.05}, {"dense": 0.0, "softmoe": 0.01}))
    assert v.verdict == trend.INCONCLUSIVE, v.reason
    assert v.reason.startswith("the layer=softmoe arm: did not learn"), v.reason
    assert "without the gate: REPRODUCED" in v.reason
    gates = v.stats["gates"]
    assert gates["failed"] == "learning" and set(gates["arms"]) == {"layer=dense", "layer=softmoe"}
    assert gates["levels"]["dense-width64"]["learned"] and not gates["levels"]["softmoe-width512"]["learned"]
    # both arms learned: the same difference of slopes is REPRODUCED
    both = verdict(s, contrast_rows(rng, {"dense": 0.5, "softmoe": 0.3}, {"dense": 0.0, "softmoe": 0.01}))
    assert both.verdict == trend.REPRODUCED and not both.stats["gates"]["failed"], both.reason
