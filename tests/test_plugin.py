"""The pytest plugin, exercised with pytester on the toy claim in tests/toy (never in claims/)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import scipy.stats  # noqa: F401 - imported before pytester snapshots sys.modules: these cannot be re-imported
import torch  # noqa: F401
import yaml

from processes import alive

pytest_plugins = ["pytester"]

TOY = Path(__file__).parent / "toy"
CLAIM = (TOY / "claims" / "test_toy_trend.py").read_text()


PLUGINS: list[str] = []


@pytest.fixture
def project(pytester: pytest.Pytester, pytestconfig: pytest.Config) -> pytest.Pytester:
    if not pytestconfig.pluginmanager.has_plugin("claims"):  # not installed with its entry point
        PLUGINS[:] = ["harness.plugin"]
    (pytester.path / "claims").mkdir()
    (pytester.path / "claims" / "test_toy_trend.py").write_text(CLAIM)
    (pytester.path / "params.yaml").write_text((TOY / "params.yaml").read_text())
    return pytester


def run(p: pytest.Pytester, *args: str) -> pytest.RunResult:
    return p.runpytest(*args, plugins=PLUGINS)


def edit_params(p: pytest.Pytester, fn) -> None:
    path = p.path / "params.yaml"
    data = yaml.safe_load(path.read_text())
    fn(data)
    path.write_text(yaml.safe_dump(data))


def edit_claim(p: pytest.Pytester, old: str, new: str) -> None:
    path = p.path / "claims" / "test_toy_trend.py"
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new))


def test_points_verdict_ids_header_and_summary(project):
    r = run(project, "claims", "-v")
    r.assert_outcomes(passed=8, failed=1)
    out = r.stdout.str()
    assert "claims: budget=quick (seeds 4, 2 per unit, levels all)" in out
    for size in (1, 2, 4, 8):
        for shard in ("s0_1", "s2_3"):
            assert f"test_toy_trend[size{size}-{shard}] PASSED" in out
    assert "test_toy_trend[verdict-auc_return] FAILED" in out
    r.stdout.fnmatch_lines(["*claim verdicts*", "toy_trend*auc_return increasing*CONTRADICTED*p=*slope=*MDE=*"])
    assert "CONTRADICTED" in out and "8 units ran, 0 reused" in out
    records = sorted(p.name for p in (project.path / "results" / "quick" / "toy_trend").glob("*.json"))
    assert records == sorted([f"size{s}__s{a}-{b}.json" for s in (1, 2, 4, 8) for a, b in ((0, 1), (2, 3))]
                             + ["design.json"])
    again = run(project, "claims")
    again.assert_outcomes(passed=8, failed=1)
    assert "0 units ran, 8 reused" in again.stdout.str()


def test_reproduced_and_inconclusive(project):
    edit_params(project, lambda d: d["claims"]["toy_trend"]["quick"].update(slope=1.0))
    run(project, "claims").assert_outcomes(passed=9)
    edit_params(project, lambda d: d["claims"]["toy_trend"]["quick"].update(slope=0.0, noise=1.0))
    r = run(project, "claims", "-rs")
    r.assert_outcomes(passed=8, skipped=1)
    r.stdout.fnmatch_lines(["*INCONCLUSIVE*"])


def test_smoke_budget_thins_levels_and_asserts_no_verdict(project):
    r = run(project, "claims", "--budget", "smoke", "-v")
    r.assert_outcomes(passed=3, deselected=2)
    out = r.stdout.str()
    assert "test_toy_trend[size1] PASSED" in out and "test_toy_trend[size8] PASSED" in out
    assert "size2" not in out.split("deselected")[0].split("collected")[-1] or "[size2]" not in out
    assert "PLUMBING" in out


def test_a_claim_can_set_its_own_seeds_per_unit(project):
    edit_params(project, lambda d: d["claims"]["toy_trend"]["quick"].update(seeds_per_unit=1))
    r = run(project, "claims", "-v")
    r.assert_outcomes(passed=16, failed=1)
    assert "test_toy_trend[size8-s3_3] PASSED" in r.stdout.str()
    records = {p.name for p in (project.path / "results" / "quick" / "toy_trend").glob("size1__*.json")}
    assert records == {f"size1__s{i}-{i}.json" for i in range(4)}
    edit_params(project, lambda d: d["claims"]["toy_trend"]["quick"].update(seeds_per_unit=4))
    r = run(project, "claims", "-v")
    r.assert_outcomes(passed=4, failed=1)
    assert "test_toy_trend[size8] PASSED" in r.stdout.str()
    edit_params(project, lambda d: d["claims"]["toy_trend"]["quick"].update(seeds_per_unit=0))
    assert "seeds_per_unit must be an integer >= 1" in run(project, "claims").stdout.str()


def test_a_claim_can_set_its_own_seeds_and_levels(project):
    edit_params(project, lambda d: d["claims"]["toy_trend"]["quick"].update(seeds=3, seeds_per_unit=1,
                                                                             levels=[1, 2, 8]))
    r = run(project, "claims", "--no-verdicts", "-v")
    r.assert_outcomes(passed=9, deselected=3)
    assert "test_toy_trend[size8-s2_2] PASSED" in r.stdout.str() and "[size4" not in r.stdout.str()
    design = json.loads((project.path / "results" / "quick" / "toy_trend" / "design.json").read_text())
    assert design["seeds"] == [0, 1, 2] and [lv["value"] for lv in design["levels"]] == [1, 2, 8]
    edit_params(project, lambda d: d["claims"]["toy_trend"]["quick"].update(levels=[1, 3]))
    out = run(project, "claims").stdout.str()
    assert "claims.toy_trend.quick.levels names ['3'], which are not parametrized levels" in out
    edit_params(project, lambda d: d["claims"]["toy_trend"]["quick"].update(levels="some", seeds=0))
    assert "seeds must be an integer >= 1" in run(project, "claims").stdout.str()


def test_no_verdicts_and_k_selection(project):
    r = run(project, "claims", "--no-verdicts")
    r.assert_outcomes(passed=8)
    r = run(project, "claims", "-k", "size2", "-v")
    r.assert_outcomes(passed=2, deselected=7)
    r = run(project, "claims", "-k", "size2 and s0_1")
    r.assert_outcomes(passed=1, deselected=8)


def test_verdict_alone_from_records_and_incomplete(project):
    r = run(project, "claims", "-k", "verdict", "-rs")
    r.assert_outcomes(skipped=1, deselected=8)
    r.stdout.fnmatch_lines(["*INCONCLUSIVE*8 of 8 units have no valid record*"])
    run(project, "claims", "--no-verdicts").assert_outcomes(passed=8)
    run(project, "claims", "-k", "verdict").assert_outcomes(failed=1, deselected=8)


def test_device_option(project):
    r = run(project, "claims", "--device", "cpu", "--no-verdicts")
    r.assert_outcomes(passed=8)
    rec = json.loads(next((project.path / "results" / "quick" / "toy_trend").glob("size1__*.json")).read_text())
    assert rec["device"] == "cpu"
    assert run(project, "claims", "--device", "tpu").ret == pytest.ExitCode.USAGE_ERROR


def test_results_option(project):
    run(project, "claims", "--results", "elsewhere", "--no-verdicts").assert_outcomes(
        passed=8)
    assert (project.path / "elsewhere" / "quick" / "toy_trend" / "design.json").exists()
    assert not (project.path / "results").exists()


@pytest.mark.parametrize("old,new,message", [
    ('metrics={"auc_return": "increasing"}', 'metrics={"auc_return": "up"}', "use one of increasing"),
    ('axis="size"', 'axis="width"', "axis='width' is not a parametrized argument"),
    ('blocks="seed"', 'blocks="seed", colour=1', "unknown claim marker argument(s) ['colour']"),
    ('blocks="seed"', 'blocks="seed", margin=0.1', "margin applies to non_increasing"),
    ('blocks="seed"', 'blocks="seed", random_score=0.0', "give both random_score and reference_score"),
    ('blocks="seed"', 'blocks="seed", scale="linear"', "scale must be 'log'"),
    ('[1, 2, 4, 8]', '["s", "m", "l"]', "scale='log' needs positive numeric levels"),
    ('blocks="seed"', 'blocks="task"', "blocks='task' is not a parametrized argument"),
    ("def test_toy_trend(size, seeds, settings, record):", "def test_toy_trend(size, seeds, settings, record, tmp_path):",
     "asks for ['tmp_path']"),
    ("def test_toy_trend(size, seeds, settings, record):", "def test_toy_trend(size, settings, record):",
     "must take `seeds`"),
    ("def test_toy_trend(", "def test_other_name(", "rename test_other_name"),
])
def test_marker_validation_errors(project, old, new, message):
    edit_claim(project, old, new)
    r = run(project, "claims")
    assert r.ret == pytest.ExitCode.INTERRUPTED, r.stdout.str()
    assert message in r.stdout.str()


@pytest.mark.parametrize("edit,message", [
    (lambda d: d["claims"].pop("toy_trend"), "claim 'toy_trend' is not in the claims list"),
    (lambda d: d["claims"]["toy_trend"].pop("quick"), "missing `claims.toy_trend.quick`"),
    (lambda d: d["budgets"]["quick"].pop("seeds"), "missing `budgets.quick.seeds`"),
    (lambda d: d.update(budget="huge"), "unknown budget 'huge'"),
])
def test_params_errors(project, edit, message):
    edit_params(project, edit)
    r = run(project, "claims")
    assert r.ret != pytest.ExitCode.OK
    assert message in r.stdout.str() + r.stderr.str()


def test_design_that_cannot_reach_alpha_is_rejected_except_for_smoke(project):
    edit_params(project, lambda d: d["budgets"]["quick"].update(seeds=1, seeds_per_unit=1))
    edit_claim(project, "[1, 2, 4, 8]", "[1, 2, 4]")  # 3! = 6 orderings: p >= 1/6
    r = run(project, "claims")
    assert r.ret == pytest.ExitCode.INTERRUPTED
    r.stdout.fnmatch_lines(["*smallest achievable p is 0.167 >= alpha=0.05*Add seeds*"])
    edit_params(project, lambda d: d["budgets"]["smoke"].update(seeds=1, seeds_per_unit=1))
    run(project, "claims", "--budget", "smoke").assert_outcomes(passed=3, deselected=1)


def test_missing_setting_fails_the_point_with_the_key_to_add(project):
    edit_params(project, lambda d: d["claims"]["toy_trend"]["quick"].pop("noise"))
    r = run(project, "claims", "--no-verdicts")
    r.assert_outcomes(failed=8)
    r.stdout.fnmatch_lines(["*claims.toy_trend.quick has no 'noise'; add `noise: <value>`*"])


def test_unreported_nan_and_missing_metric_fail_the_point(project):
    edit_claim(project, "members.append(", "returns[-1] = float('nan')\n        members.append(")
    r = run(project, "claims", "--no-verdicts")
    r.assert_outcomes(failed=8)
    r.stdout.fnmatch_lines(["*unreported NaN*"])
    assert not list((project.path / "results" / "quick" / "toy_trend").glob("size*.json"))
    edit_claim(project, "returns[-1] = float('nan')", "returns[-1] = 0.0")
    edit_claim(project, "metrics=curve_metrics(returns)", "metrics={'final_return': 1.0}")
    r = run(project, "claims", "--no-verdicts")
    r.assert_outcomes(failed=8)
    r.stdout.fnmatch_lines(["*metric 'auc_return' missing*"])


def test_reported_divergence_is_an_outcome(project):
    edit_claim(project, "members.append(",
               "div = size == 8 and seed == 0\n        if div:\n            returns[-1] = float('nan')\n"
               "        members.append(")
    edit_claim(project, "params={\"total\": size})", "params={\"total\": size}, diverged=div, diverged_step=8 if div else None)")
    r = run(project, "claims")
    r.assert_outcomes(passed=8, failed=1)


def test_spec_or_code_change_is_a_cache_miss_level_edit_is_not(project):
    run(project, "claims", "--no-verdicts").assert_outcomes(passed=8)
    edit_claim(project, "[1, 2, 4, 8]", "[1, 2, 4, 8, 16]")
    r = run(project, "claims", "--no-verdicts")
    assert "2 units ran, 8 reused" in r.stdout.str()
    edit_claim(project, 'blocks="seed"', 'blocks="seed", threshold=0.01')
    r = run(project, "claims", "--no-verdicts")
    assert "10 units ran, 0 reused" in r.stdout.str()
    edit_claim(project, "level * (i + 1)", "level * (i + 1.0)")
    r = run(project, "claims", "--no-verdicts")
    assert "10 units ran, 0 reused" in r.stdout.str()


def test_corrupt_record_is_reported_and_recomputed(project):
    run(project, "claims", "--no-verdicts").assert_outcomes(passed=8)
    rec = project.path / "results" / "quick" / "toy_trend" / "size4__s2-3.json"
    rec.write_text(rec.read_text()[:100])
    r = run(project, "claims", "--no-verdicts", "-s")
    assert "1 units ran, 7 reused" in r.stdout.str()
    assert "corrupt record" in r.stdout.str() + r.stderr.str()
    json.loads(rec.read_text())


def test_sigkill_after_first_record_then_resume_runs_only_missing(project):
    edit_params(project, lambda d: d["claims"]["toy_trend"]["quick"].update(sleep=0.6))
    counter, pids = project.path / "counter.txt", project.path / "pids.txt"
    env = {**os.environ, "TOY_COUNTER": str(counter), "TOY_PIDS": str(pids),
           "PYTHONPATH": str(Path(__file__).parents[1])}
    cmd = [sys.executable, "-m", "pytest", "claims", "--no-verdicts", "-q", "-p", "no:cacheprovider",
           *(["-p", p] for p in PLUGINS)]
    cmd = [c for part in cmd for c in (part if isinstance(part, list) else [part])]
    proc = subprocess.Popen(cmd, cwd=project.path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results = project.path / "results" / "quick" / "toy_trend"
    deadline = time.time() + 60
    while time.time() < deadline and not list(results.glob("size*.json")):
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # The driver's worker processes (default: a pool of one per core) exit with it, mid-unit or not.
    deadline = time.time() + 10
    while time.time() < deadline and any(alive(int(pid)) for pid in pids.read_text().split()):
        time.sleep(0.05)
    assert not any(alive(int(pid)) for pid in pids.read_text().split()), "a worker outlived its killed driver"
    done = {p.name for p in results.glob("size*.json")}
    assert 1 <= len(done) < 8
    assert not list(results.glob(".*.tmp"))
    before = counter.read_text().splitlines()
    subprocess.run(cmd, cwd=project.path, env=env, check=True, capture_output=True)
    after = counter.read_text().splitlines()[len(before):]
    assert len(after) == 8 - len(done)
    assert len(list(results.glob("size*.json"))) == 8


def test_progress_line_on_a_terminal_only(monkeypatch):
    from harness import plugin

    class TR:
        isatty = True
        def __init__(self):
            self.text = ""
        def write(self, s, **kw):
            self.text += s

    class Config:
        class pluginmanager:
            tr = TR()
            @classmethod
            def get_plugin(cls, name):
                return cls.tr

    monkeypatch.delenv("CI", raising=False)
    prog = plugin._Progress(Config, "claims/test_x.py::test_x[width64]")
    prog(500, 1000, -150.0)
    prog.clear()
    assert "test_x[width64]: 500/1000 env steps  return    -150.0" in Config.pluginmanager.tr.text
    assert "steps/s  ETA" in Config.pluginmanager.tr.text
    monkeypatch.setenv("CI", "true")
    Config.pluginmanager.tr = TR()
    prog = plugin._Progress(Config, "x")
    prog(1, 2)
    assert Config.pluginmanager.tr.text == ""
