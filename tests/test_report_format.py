"""The report's notation and figures, on small hand-built summaries (verdict.assess_claim of synthetic records):
numbers written for people, one bracket convention for intervals, units instead of "per unit x", Kendall's S
of a contrast, the commits line, claims with records but no verdict, and labelled figures without warnings."""
from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
from test_verdict import make, noisy

from harness import report
from harness.claim import parse_docstring
from harness.verdict import assess_claim


def summary(spec: dict, values: dict, **kw) -> dict:
    return assess_claim(*make(spec, values, **kw), alpha=0.05)


def row_of(text: str, claim: str) -> list[str]:
    """The cells of the summary table's row of ``claim``."""
    line = next(line for line in text.splitlines() if line.startswith(f"| [{claim}]"))
    return [c.strip() for c in line.strip("|").split("|")]


@pytest.mark.parametrize("value, digits, text", [
    (-1152.4, 3, "-1150"), (134.2, 2, "130"), (11001.0, 3, "11000"), (287.4, 3, "287"), (62.0, 3, "62"),
    (0.04716, 3, "0.0472"), (0.5, 3, "0.5"), (0.0, 3, "0"), (-0.0, 3, "0"), (999_999.0, 3, "1e+06"),
    (5.4315e-05, 3, "5.43e-05"), (3.96e14, 3, "3.96e+14"), (25.034, 4, "25.03"), (math.inf, 3, "∞"),
])
def test_numbers_are_written_for_people(value, digits, text):
    assert report._fmt(value, digits) == text


def test_counts_zero_slopes_and_raw_returns():
    assert [report._count(v) for v in (25990.0, 217_900.0, 8.567e6, 300.0)] == ["26k", "218k", "8.57M", "300"]
    assert report._num_zero(1.3e-15) == "0" and report._num_zero(-2001.0) == "-2000"
    s = summary({"axis": "w", "metrics": {"final_return": "increasing"}, "blocks": "seed"},
                noisy({1: -1150.0, 2: -1100.0, 4: -1000.0}, sd=130.0, rng=np.random.default_rng(3)))
    table = report._level_table(s, "final_return")
    assert all("e+" not in line for line in table), table
    mean, sd = table[2].split("|")[2].strip().split(" ± ")
    assert -1300 < float(mean) < -1000 and len(mean.lstrip("-").rstrip("0")) <= 3 and 10 <= float(sd) < 1000


def test_one_bracket_convention_explained_once(tmp_path):
    closed = {"ci_low": 0.1, "ci_high": 0.25}
    assert report._ci(closed) == "[0.1, 0.25]"
    assert report._ci({**closed, "ci_low_open": True}) == "(0.1, 0.25]"
    assert report._ci({"ci_low": 0.0, "ci_high": 1e-17, "ci_high_open": True}) == "[0, 0)"
    s = summary({"axis": "w", "metrics": {"final_return": "increasing"}, "blocks": "seed"},
                noisy({1: 0.0, 2: 1.0, 4: 2.0}))
    text = report.build(tmp_path, "quick", summaries=[s], results_dir=tmp_path).read_text()
    assert text.count("a round bracket marks an end that is not in the interval") == 1
    assert "Sen's slope" in text.split("## Summary")[0]  # explained before the table that uses it


def test_units_everywhere_never_per_unit_x(tmp_path):
    flat = noisy({1: 0.0, 2: 0.0, 4: 0.0}, sd=0.3, rng=np.random.default_rng(4))
    log = summary({"axis": "w", "metrics": {"final_return": "increasing"}, "blocks": "seed"}, flat)
    ordinal = summary({"axis": "w", "metrics": {"final_return": "increasing"}, "blocks": "seed",
                       "scale": "ordinal"}, flat)
    assert log["metrics"][0]["verdict"] == "INCONCLUSIVE"
    assert "per doubling would be detected" in log["metrics"][0]["reason"]  # verdict.py names the unit
    assert "per level step would be detected" in ordinal["metrics"][0]["reason"]
    legacy = {"reason": "a true slope >= 0.0105 per unit x would be detected", "stats": {"unit": "per level step"}}
    assert report._reason(legacy) == "a true slope >= 0.0105 per level step would be detected"
    ordinal = {**ordinal, "claim": "o"}
    for m in ordinal["metrics"]:
        m["reason"] = m["reason"].replace("per level step", "per unit x")  # as summaries before the fix
    text = report.build(tmp_path, "quick", summaries=[log, ordinal], results_dir=tmp_path).read_text()
    assert "per unit x" not in text and "/doubling" not in text
    header = row_of(text, "c")
    assert header[11] == "per doubling (raw)" and row_of(text, "o")[11] == "per level step (raw)"
    margin = summary({"axis": "w", "metrics": {"final_return": "non_increasing"}, "margin": 0.05,
                      "blocks": "seed", "scale": "ordinal"}, flat)
    spec_line = next(line for line in report._claim_section(margin) if line.startswith("- Spec:"))
    assert "margin 0.05 per level step" in spec_line


def test_each_claim_shows_its_source_status_in_its_row_and_its_section(tmp_path):
    s = summary({"axis": "w", "metrics": {"final_return": "increasing"}, "blocks": "seed"},
                noisy({1: 0.0, 2: 1.0, 4: 2.0}))
    bare = {**s, "claim": "bare"}
    s["doc"] = parse_docstring("C.\n\nSource: A et al. 2024.\nSource status: SECONDARY: a survey's figure.")
    text = report.build(tmp_path, "quick", summaries=[s, bare], results_dir=tmp_path).read_text()
    assert row_of(text, "c")[3] == "**SECONDARY** · A et al. 2024." and row_of(text, "bare")[3].startswith("**unstated**")
    assert ("- Source status: **SECONDARY** (the primary source was not read here; the statement is known from a "
            "work that cites it): a survey's figure.") in text
    assert "- Source status: not stated" in text


def test_a_contrast_shows_kendalls_s_of_the_differences_not_its_slope():
    rng = np.random.default_rng(5)
    values = {(arm, w): list(rng.normal(0.1 * k * (arm == "b"), 0.05, 5)) for arm in "ab"
              for k, w in enumerate([64, 128, 256])}
    s = summary({"axis": "width", "metrics": {"final_return": "increasing"}, "blocks": "seed",
                 "contrast": "arm"}, values)
    st = s["metrics"][0]["stats"]
    cell = report._s_tau(st, s["spec"])
    assert cell == f"{report._fmt(st['kendall_s'])} (—) §" and float(cell.split()[0]) == int(st["kendall_s"])
    legacy = {"statistic": -6.78e-05, "slope": -6.78e-05, "kendall_s": -4.0, "tau": None}  # no s_raw yet
    assert report._s_tau(legacy, s["spec"]) == "-4 (—) §"
    assert report._s_tau({"statistic": 7.0, "tau": 0.61}, {"contrast": None}) == "7 (0.61)"


def test_the_commits_line_summarizes_instead_of_listing():
    commits = [f"{i:02d}{i:038x}" for i in range(30)]
    summaries = [{"provenance": {"commits": commits[:20]}}, {"provenance": {"commits": commits[15:] + ["unknown"]}}]
    line = report._commits_line(summaries)
    assert line.startswith("- Records made at 30 commits: records were committed while the runs went on")
    assert "outside a git checkout" in line and not any(c[:10] in line for c in commits)
    assert report._commits_line([{"provenance": {"commits": ["abc"]}}]) == "- Records made at 1 commit (abc)"


def test_claims_with_records_but_no_verdict_are_named(tmp_path):
    reports, results = tmp_path / "reports", tmp_path / "results"
    s = summary({"axis": "w", "metrics": {"final_return": "increasing"}, "blocks": "seed"},
                noisy({1: 0.0, 2: 1.0, 4: 2.0}))
    (reports / "quick" / "claims").mkdir(parents=True)
    (reports / "quick" / "claims" / "c.json").write_text(json.dumps(s))
    (results / "quick" / "claims").mkdir(parents=True)
    for claim in ("c", "late", "elsewhere"):  # a design: the claim's runs made records
        (results / "quick" / "claims" / f"{claim}.json").write_text("{}")
    assert report.unjudged(results, "quick", ["c"], ["c", "late"]) == ["late"]
    text = report.build(reports, "quick", claims=["c", "late"]).read_text()  # results/ beside reports/
    head, rest = text.split("## How to read this report")
    assert "## Claims with records but no verdict" in head and "1 more with records but no verdict" in head
    assert "- `late`: `python -m harness verdict late --budget quick`" in head and "elsewhere" not in text
    assert "## Claims with records but no verdict" not in report.build(reports, "quick", claims=["c"]).read_text()


def test_metric_csv_has_the_trend_coordinate():
    s = summary({"axis": "pool", "metrics": {"final_return": "increasing"}, "blocks": "seed", "scale": "ordinal"},
                noisy({4: 0.0, 16: 1.0, "unlimited": 2.0}))
    assert sorted(set(report.metric_frame(s, "final_return")["x"])) == [0.0, 1.0, 2.0]
    s = summary({"axis": "w", "metrics": {"final_return": "increasing"}, "blocks": "seed"},
                noisy({0.5: 0.0, 2: 1.0, 8: 2.0}))
    assert sorted(set(report.metric_frame(s, "final_return")["x"])) == [-1.0, 1.0, 3.0]


def legends(fig) -> tuple[list[str], list[str]]:
    """The titles and entries of a figure's legends."""
    return ([leg.get_title().get_text().replace("\n", " ") for leg in fig.legends],
            [t.get_text().replace("\n", " ") for leg in fig.legends for t in leg.get_texts()])


@pytest.fixture
def drawn(monkeypatch, tmp_path):
    """Draw a summary's figures with every warning an error; returns file name -> figure."""
    figs: dict = {}
    monkeypatch.setattr(report, "_save", lambda fig, path: figs.__setitem__(Path(path).name, fig))

    def draw(s):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            report._claim_figures(s, tmp_path)
            for fig in figs.values():  # what savefig would do: lay out and render
                fig.canvas.draw()
        return figs
    yield draw
    report._pyplot().close("all")


def test_figures_say_what_they_draw(drawn):
    s = summary({"axis": "width", "metrics": {"final_return": "non_increasing"}, "margin": 0.05, "blocks": "seed",
                 "controls": [32]}, noisy({32: 0.0, 64: 0.0, 128: 0.0, 256: 0.0}))
    figs = drawn({**s, "claim": "nogain"})
    fig = figs["nogain__final_return.png"]
    ax = fig.axes[0]
    assert ax.get_xlabel() == "width (log scale)" and ax.get_ylabel() == "final_return (raw)"
    titles, entries = legends(fig)
    assert "mean over seeds" in entries and "one seed" in entries
    assert "95% CI of the mean (bootstrap over seeds)" in entries
    assert any(e.startswith("margin: the largest gain that still counts as none (+0.05 per doubling)")
               for e in entries)
    assert "control level (not in the trend test)" in entries
    curves = figs["nogain__curves.png"]
    titles, entries = legends(curves)
    assert "width" in titles and "level_id" not in titles and "32 (control)" in entries
    assert "lowest to highest seed" in entries and curves.axes[0].get_ylabel() == "evaluation return (raw)"


def test_figures_of_a_threshold_and_of_compute_budgets(drawn):
    from harness.result import curve_metrics
    design, lookups = make({"axis": "size", "metrics": {"steps_to_threshold": "decreasing"}, "reach": 1.5,
                            "blocks": "seed"}, noisy({1: 1.0, 2: 2.0, 4: 3.0}))
    for lk in lookups.values():
        for mem in lk.record.result.members:
            mem.curve_steps = [0, 1000, 2000]
            mem.metrics = curve_metrics(mem.curve_returns)
    figs = drawn({**assess_claim(design, lookups, alpha=0.05), "claim": "reach"})
    ax = figs["reach__steps_to_threshold.png"].axes[0]
    assert ax.get_ylabel() == "env steps to an evaluation return of 1.5"
    assert any("censored at 2001" in e for e in legends(figs["reach__steps_to_threshold.png"])[1])
    assert any(e.startswith("reach 1.5: the return that steps_to_threshold counts")
               for e in legends(figs["reach__curves.png"])[1])

    values = {(c, w): list(np.random.default_rng(c).normal(0.1 * c, 0.05, 5)) for c in (1, 2) for w in (16, 32)}
    s = summary({"axis": "width", "metrics": {"final_return": "increasing"}, "blocks": "seed",
                 "contrast": "compute"}, values)
    s = {**s, "claim": "grid", "spec": {**s["spec"], "contrast": None, "over": "compute", "derive": "compute_optimal"}}
    for m in s["metrics"]:
        m["stats"].pop("law", None)
    figs = drawn(s)
    titles, entries = legends(figs["grid__final_return.png"])
    assert "compute (multiple of the base budget)" in titles and {"×1", "×2"} <= set(entries)
    titles, entries = legends(figs["grid__curves.png"])
    assert titles[0] == "width, compute (multiple of the base budget)" and "16, ×1" in entries


def test_each_claim_says_where_and_at_what_precision_its_runs_ran(tmp_path):
    design, lookups = make({"axis": "w", "metrics": {"final_return": "increasing"}, "blocks": "seed"},
                           noisy({1: 0.0, 2: 1.0, 4: 2.0}))
    lookups[next(iter(lookups))].record.config["precision"] = "bf16"  # one unit in bf16, the others without
    s = assess_claim(design, lookups, alpha=0.05)
    assert s["provenance"]["devices"] == ["cpu"] and s["provenance"]["precisions"] == ["bf16", "fp32"]
    text = report.build(tmp_path, "quick", summaries=[s], results_dir=tmp_path).read_text()
    assert "- Ran on: cpu, precision bf16, fp32 (harness/compute.py)" in text
