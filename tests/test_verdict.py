"""verdict.assess_claim on hand-built designs and records: normalization, divergence, conjunctions,
contrasts, incomplete designs, BH rows; and ClaimSpec validation."""
from __future__ import annotations

import math

import numpy as np
import scipy.stats
import pytest

from harness import report, trend
from harness.records import Lookup, Record
from harness.result import MemberResult, RunResult, curve_metrics, untrained_metrics
from harness.claim import ClaimSpec, ClaimSpecError, parse_docstring
from harness.report import summary_rows
from harness.verdict import assess_claim, carry_history


def make(spec: dict, values: dict, *, seeds=(0, 1, 2, 3, 4), contrast_values=None, diverged=(), initial=-1.0):
    """A design and its lookups. values: level -> per-seed metric values (or (contrast or per_block value,
    level) -> ...);
    ``initial``: every run's step-0 (untrained) score."""
    spec = ClaimSpec.from_marker((), spec)
    units, lookups, levels = [], {}, []
    for key, ys in values.items():
        cval, level = key if isinstance(key, tuple) else (None, key)
        params = {spec.axis: level, **({spec.contrast or spec.per_block: cval} if cval is not None else {})}
        level_id = "-".join(str(v) for v in params.values())
        if level not in levels:
            levels.append(level)
        members = []
        for s, y in zip(seeds, ys):
            div = (key, s) in diverged
            curve = [initial, y, y] if not div else [initial, y, math.nan]
            members.append(MemberResult(seed=s, metrics={**curve_metrics(curve), "other": 1.0},
                                        initial=untrained_metrics(curve), curve_steps=[0, 1, 2],
                                        curve_returns=curve, diverged=div, diverged_step=2 if div else None))
        path = f"quick/runs/toy/{level_id}.json"
        rec = Record(key="k", agent="harness.agents.toy", config={}, seeds=list(seeds), device="cpu",
                     code={"hash": "h"}, result=RunResult(members=members))
        units.append({"level_id": level_id, "params": params, "seeds": list(seeds), "path": path, "key": "k"})
        lookups[path] = Lookup(path, "ok", rec)
    design = {"claim": "c", "budget": "quick", "spec": spec.to_dict(), "doc": parse_docstring("C.\n\nSource: x"),
              "all_levels": [{"value": v} for v in levels], "levels": [], "seeds": list(seeds), "units": units,
              "plumbing_only": False}
    return design, lookups


RNG = np.random.default_rng(0)


def noisy(means, sd=0.05, n=5, rng=None):
    rng = RNG if rng is None else rng
    return {lv: list(m + rng.normal(0, sd, n)) for lv, m in means.items()}


def test_increasing_reproduced_with_slope_and_ci():
    design, lookups = make({"axis": "w", "metrics": {"final_return": "increasing"}, "blocks": "seed"},
                           noisy({64: 0.0, 128: 1.0, 256: 2.0, 512: 3.0}))
    s = assess_claim(design, lookups, alpha=0.05)
    m = s["metrics"][0]
    assert m["verdict"] == "REPRODUCED"
    assert 0.9 < m["stats"]["slope"] < 1.1 and m["stats"]["ci_low"] > 0
    assert len(s["observations"]) == 20 and s["provenance"]["env_steps"] == 0


def test_control_levels_are_shown_but_left_out_of_the_trend():
    values = noisy({1: 5.0, 2: 0.0, 4: 1.0, 8: 2.0}, rng=np.random.default_rng(1))  # the control (1) breaks the trend
    plain = {"axis": "w", "metrics": {"final_return": "increasing"}, "blocks": "seed"}
    assert assess_claim(*make(plain, values), alpha=0.05)["metrics"][0]["verdict"] != "REPRODUCED"
    s = assess_claim(*make({**plain, "controls": [1]}, values), alpha=0.05)
    assert s["metrics"][0]["verdict"] == "REPRODUCED"
    assert len(s["observations"]) == 20 and s["spec"]["controls"] == [1]
    assert "controls" not in ClaimSpec.from_marker((), plain).to_dict()  # older specs keep their hash
    assert any(line.startswith("| 1 (control, not in the trend) |") for line in report._level_table(s, "final_return"))
    spec = ClaimSpec.from_marker((), {**plain, "controls": [3]})
    with pytest.raises(ClaimSpecError, match="not levels of the axis"):
        spec.check_parametrized(["w"], [1, 2, 4])
    with pytest.raises(ClaimSpecError, match="2 distinct levels outside controls"):
        ClaimSpec.from_marker((), {**plain, "controls": [1]}).check_parametrized(["w"], [1, 2])


def test_report_draws_an_ordinal_axis_with_levels_of_mixed_types(tmp_path):
    spec = {"axis": "pool", "metrics": {"final_return": "increasing"}, "blocks": "seed", "scale": "ordinal"}
    s = assess_claim(*make(spec, noisy({4: 0.0, 16: 1.0, "unlimited": 2.0}, rng=np.random.default_rng(2))), alpha=0.05)
    report._claim_figures(s, tmp_path)
    assert (tmp_path / "c__final_return.png").exists()


def test_normalization_and_margin_for_no_gain():
    # raw scores rise by 10 per doubling; normalized (random 0, reference 1000) that is 0.01 < margin 0.05
    design, lookups = make({"axis": "w", "metrics": {"final_return": "non_increasing"}, "margin": 0.05,
                            "blocks": "seed", "random_score": 0.0, "reference_score": 1000.0},
                           noisy({64: 500, 128: 510, 256: 520, 512: 530}, sd=2.0))
    m = assess_claim(design, lookups, alpha=0.05)["metrics"][0]
    assert m["verdict"] == "REPRODUCED" and m["stats"]["normalized"]
    assert abs(m["stats"]["slope"] - 0.01) < 0.005
    design["spec"]["margin"] = 0.0  # without the margin, a rise of 0.01/doubling contradicts "no gain"
    m = assess_claim(design, lookups, alpha=0.05)["metrics"][0]
    assert m["verdict"] == "CONTRADICTED"


def test_diverged_runs_score_the_floor():
    values = noisy({1: 1.0, 2: 1.0, 4: 1.0, 8: 1.0}, sd=0.01)
    diverged = {(8, s) for s in range(5)}
    design, lookups = make({"axis": "d", "metrics": {"final_return": "decreasing"}, "blocks": "seed",
                            "random_score": 0.0, "reference_score": 1.0}, values, diverged=diverged)
    m = assess_claim(design, lookups, alpha=0.05)["metrics"][0]
    assert m["stats"]["n_diverged"] == 5 and m["stats"]["diverged_floor"] == 0.0
    assert m["verdict"] == "REPRODUCED"  # every depth-8 run diverged: a real degradation, counted as one


def test_conjunction_and_missing_records():
    spec = {"axis": "w", "metrics": {"final_return": "increasing", "other": "increasing"}, "blocks": "seed",
            "conjunction": True}
    design, lookups = make(spec, noisy({1: 0.0, 2: 1.0, 4: 2.0}))
    s = assess_claim(design, lookups, alpha=0.05)
    assert [m["verdict"] for m in s["metrics"]] == ["REPRODUCED", "INCONCLUSIVE"]  # "other" is constant
    assert "degenerate" in s["metrics"][1]["reason"]
    assert s["overall"]["verdict"] == "INCONCLUSIVE" and s["overall"]["p"] == max(
        m["stats"]["p"] for m in s["metrics"])  # the conjunction's p: the largest of its metrics' p
    assert s["overall"]["agreement"] == [{"metrics": ["final_return", "other"], "tau_b": None, "runs": 15}]  # constant
    missing = dict(lookups)
    path = next(iter(missing))
    missing[path] = Lookup(path, "corrupt")
    s = assess_claim(design, missing, alpha=0.05)
    assert all(m["verdict"] == "INCONCLUSIVE" and "1 of 3 units have no valid record (corrupt)" in m["reason"]
               for m in s["metrics"])
    assert s["units"][0]["status"] == "corrupt"



def test_a_metric_the_records_do_not_report_is_inconclusive_not_a_divergence():
    spec = {"axis": "w", "metrics": {"final_retrun": "increasing"}, "blocks": "seed"}
    design, lookups = make(spec, noisy({1: 0.0, 2: 1.0, 4: 2.0}))
    s = assess_claim(design, lookups, alpha=0.05)
    assert s["metrics"][0]["verdict"] == "INCONCLUSIVE"
    assert "do not report final_retrun (they report auc_return, final_return" in s["metrics"][0]["reason"]


def test_steps_to_threshold_is_computed_from_the_curves_and_censors_runs_that_never_reach():
    spec = {"axis": "size", "metrics": {"final_return": "increasing", "steps_to_threshold": "decreasing"},
            "blocks": "seed", "conjunction": True, "reach": 100.0, "law": "axis"}
    design, lookups = make(spec, {1: [0.0] * 5, 2: [0.0] * 5, 4: [0.0] * 5})
    steps = [0, 1000, 2000, 3000, 4000]
    first_reach = {1: [None, None, 4000, None, None], 2: [3000, 4000, 3000, 3000, None],
                   4: [1000, 2000, 1000, 2000, 1000]}
    for unit in design["units"]:
        lk, level = lookups[unit["path"]], unit["params"]["size"]
        for m, reach_at in zip(lk.record.result.members, first_reach[level]):
            m.curve_steps = steps
            m.curve_returns = [150.0 if reach_at is not None and 0 < reach_at <= s else 10.0 * level for s in steps]
            m.metrics = curve_metrics(m.curve_returns)
    s = assess_claim(design, lookups, alpha=0.05)
    got = {}
    for r in s["observations"]:
        got.setdefault(r["params"]["size"], []).append(r["metrics"]["steps_to_threshold"])
    assert got == {1: [4001.0, 4001.0, 4000.0, 4001.0, 4001.0], 2: [3000.0, 4000.0, 3000.0, 3000.0, 4001.0],
                   4: [1000.0, 2000.0, 1000.0, 2000.0, 1000.0]}  # never reached: the budget + 1, ranked last
    assert [m["verdict"] for m in s["metrics"]] == ["REPRODUCED", "REPRODUCED"]
    (agree,) = s["overall"]["agreement"]  # steps_to_threshold oriented so that fewer steps rank higher
    x = [r["metrics"]["final_return"] for r in s["observations"]]
    y = [-r["metrics"]["steps_to_threshold"] for r in s["observations"]]
    assert agree["metrics"] == ["final_return", "steps_to_threshold"] and agree["runs"] == 15
    assert agree["tau_b"] == pytest.approx(scipy.stats.kendalltau(x, y).statistic) and agree["tau_b"] > 0.5
    assert s["overall"]["verdict"] == "REPRODUCED"
    unset = ClaimSpec.from_marker((), {"axis": "w", "metrics": {"m": "increasing"}})
    assert s["spec"]["reach"] == 100.0 and "reach" not in unset.to_dict()  # older specs keep their hash
    assert "tied" in s["metrics"][0]["stats"]["law"]["error"] and "censored" in s["metrics"][1]["stats"]["law"]["error"]
    assert any(line.startswith("- Conjunction of `final_return`, `steps_to_threshold`: **REPRODUCED**")
               for line in report._claim_section({**s, "spec_hash": "h"}))
    beside = report._beside_table(s)  # auc_return is reported beside the two tested metrics
    assert beside[3] == "| level | parameters | `auc_return` | `initial_return` |"
    assert beside[5] == "| 1 | — | 17 | 10 |"  # (4 x 40 + 180) / 4 / 5; the untrained policy scores 10 x level

def test_contrast_claim():
    values = {}
    for level, k in zip([64, 128, 256, 512], range(4)):
        values[("mlp", level)] = list(0.0 + RNG.normal(0, 0.05, 5))
        values[("simba", level)] = list(0.5 * k + RNG.normal(0, 0.05, 5))
    design, lookups = make({"axis": "width", "metrics": {"final_return": "increasing"}, "blocks": "seed",
                            "contrast": "block"}, values)
    m = assess_claim(design, lookups, alpha=0.05)["metrics"][0]
    assert m["verdict"] == "REPRODUCED" and 0.4 < m["stats"]["statistic"] < 0.6


def test_summary_rows_bh():
    d1, l1 = make({"axis": "w", "metrics": {"final_return": "increasing"}, "blocks": "seed"},
                  noisy({1: 0.0, 2: 1.0, 4: 2.0}))
    d2, l2 = make({"axis": "w", "metrics": {"final_return": "decreasing"}, "blocks": "seed"},
                  noisy({1: 0.0, 2: 1.0, 4: 2.0}))
    rows = summary_rows([assess_claim(d1, l1, alpha=0.05), assess_claim(d2, l2, alpha=0.05)])
    assert [r["verdict"] for r in rows] == ["REPRODUCED", "CONTRADICTED"]
    assert all(r["q"] >= r["p"] for r in rows) and all(r["survives_bh"] for r in rows)


@pytest.mark.parametrize("kwargs,message", [
    ({"axis": "w"}, "needs `metrics=`"),
    ({"axis": "w", "metrics": {}}, "metrics must map"),
    ({"axis": "w", "metrics": {"m": "increasing"}, "margin": -1}, "must be >= 0"),
    ({"axis": "w", "metrics": {"m": "non_increasing"}, "threshold": 0.1}, "threshold applies to increasing"),
    ({"axis": "w", "metrics": {"m": "non_increasing"}, "contrast": "b"}, "contrast claim tests a difference"),
    ({"axis": "w", "metrics": {"m": "increasing"}, "contrast": "w"}, "other than the axis"),
    ({"axis": "w", "metrics": {"m": "increasing"}, "random_score": 1, "reference_score": 1}, "must differ"),
    ({"axis": "w", "metrics": {"steps_to_threshold": "decreasing"}}, "go together"),
    ({"axis": "w", "metrics": {"m": "increasing"}, "reach": 300}, "go together"),
    ({"axis": "w", "metrics": {"steps_to_threshold": "decreasing"}, "reach": 300, "random_score": 0,
      "reference_score": 1}, "is not normalized"),
])
def test_spec_errors(kwargs, message):
    with pytest.raises(ClaimSpecError, match=message.replace("`", ".").replace("(", ".")):
        ClaimSpec.from_marker((), kwargs)
    with pytest.raises(ClaimSpecError, match="keyword arguments only"):
        ClaimSpec.from_marker(("w",), {})


def test_docstring_sections():
    d = parse_docstring("Statement here.\n\nSource: A et al. 2024,\n  arXiv:1.\nDepartures: fewer steps.\n"
                        "Pilot: width 64 only: 300.\n")
    assert d == {**d, "statement": "Statement here.", "source": "A et al. 2024, arXiv:1.",
                 "departures": "fewer steps.", "pilot": "width 64 only: 300."}


def test_the_report_aggregates_per_task_scores_as_an_iqm_with_a_stratified_interval():
    def obs(level, seed, scores):
        return {"level_id": level, "seed": seed, "params_count": 1,
                "metrics": {"normalized_score": float(np.mean(scores)),
                            **{f"score/{t}": v for t, v in zip("abc", scores)}}}
    s = {"observations": [obs("XS", 0, [0.1, 0.5, 0.9]), obs("XS", 1, [0.1, 0.5, 0.9]),
                          obs("M", 0, [0.2, 0.6, 1.0]), obs("M", 1, [0.4, 0.8, 1.2])]}
    lines = report._task_iqm_table(s)
    assert "(a, b, c)" in lines[1]
    assert "| XS | 0.5 [0.5, 0.5] | 2 x 3 |" in lines  # identical seeds: the stratified interval is a point
    m_row = next(line for line in lines if line.startswith("| M |"))
    assert m_row.startswith(f"| M | {trend.iqm([[0.2, 0.6, 1.0], [0.4, 0.8, 1.2]]):.3g} [")
    assert report._task_iqm_table({"observations": [{"level_id": "XS", "metrics": {"final_return": 1.0}}]}) == []


def test_a_law_beside_is_fitted_and_reported_but_never_changes_the_verdict_or_the_spec_hash():
    base = {"axis": "w", "metrics": {"final_return": "increasing"}, "blocks": "seed", "law": "axis"}
    values = noisy({1: 1.0, 2: 2.0, 4: 4.0, 8: 8.0})
    design, lookups = make({**base, "law_beside": ["auc_return"]}, values)
    s = assess_claim(design, lookups, alpha=0.05)
    plain = assess_claim(*make(base, values), alpha=0.05)
    assert s["metrics"] == plain["metrics"] and s["spec_hash"] == plain["spec_hash"]
    law = s["laws_beside"]["auc_return"]  # auc of [-1, y, y]: rises with y too, so its law has a positive exponent
    assert law["x"] == "axis" and law["exponent"] > 0 and "a" in law
    lines = report._claim_section({**s, "claim": "c"})
    assert any(line.startswith("Fitted law beside the verdict: auc_return = ") for line in lines)
    assert "law_beside" not in plain["spec"]  # older specs keep their dict and hash
    with pytest.raises(ClaimSpecError, match="law_beside"):
        ClaimSpec.from_marker((), {**base, "law_beside": ["final_return"]})


def test_a_new_spec_whose_sweep_shares_no_record_is_a_redesign_and_restarts_the_spec_flag():
    def summary(spec, keys, verdict="INCONCLUSIVE"):
        return {"spec_hash": spec, "units": [{"key": k} for k in keys], "metrics": [{"metric": "m", "verdict": verdict}],
                "provenance": {"newest_record": "2026-12-01"}}
    first = summary("a", ["k1", "k2"])
    carry_history(first, None)
    assert first["first_spec_hash"] == "a" and "previous_design" not in first
    edited = summary("b", ["k1", "k2"])  # the same records judged by edited rules: flagged
    carry_history(edited, first)
    assert edited["first_spec_hash"] == "a" and "previous_design" not in edited
    redesigned = summary("c", ["k3", "k4"], "REPRODUCED")  # a new sweep: none of the old records
    carry_history(redesigned, edited)
    assert redesigned["first_spec_hash"] == "c"
    assert redesigned["previous_design"] == {"spec_hash": "b", "newest_record": "2026-12-01",
                                             "verdicts": {"m": "INCONCLUSIVE"}}
    more = summary("c", ["k3", "k4", "k5"], "REPRODUCED")  # a level added to it later: the history stays
    carry_history(more, redesigned)
    assert more["first_spec_hash"] == "c" and more["previous_design"] == redesigned["previous_design"]
    design, lookups = make({"axis": "w", "metrics": {"final_return": "increasing"}, "blocks": "seed"},
                           noisy({1: 0.0, 2: 1.0}))
    lines = report._claim_section({**assess_claim(design, lookups, alpha=0.05), "claim": "c",
                                   "previous_design": redesigned["previous_design"]})
    assert any(line.startswith("- **Redesigned**: this sweep replaced an earlier design (spec b, records up to "
                               "2026-12-01: `m` INCONCLUSIVE)") for line in lines)
    rerun = summary("c", ["k6", "k7", "k8"], "REPRODUCED")  # the same spec, every run recomputed (new code)
    carry_history(rerun, more)
    assert rerun["first_spec_hash"] == "c" and rerun["previous_design"] == redesigned["previous_design"]
    recomputed = summary("a", ["k9"])  # a spec that was never redesigned, recomputed: nothing to report
    carry_history(recomputed, first)
    assert recomputed["first_spec_hash"] == "a" and "previous_design" not in recomputed
