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
    """pytest in a fresh interpreter (as a user runs it): in-process runs share module state and worker pools
    with the test session and with each other."""
    return p.runpytest_subprocess(*args, *[a for plugin in PLUGINS for a in ("-p", plugin)], timeout=300)


def run_inprocess(p: pytest.Pytester, *args: str) -> pytest.RunResult:
    """pytest in this process: for the tests that monkeypatch the plugin."""
    return p.runpytest(*args, plugins=PLUGINS)


def edit_params(p: pytest.Pytester, fn) -> None:
    path = p.path / "params.yaml"
    data = yaml.safe_load(path.read_text())
    fn(data)
    path.write_text(yaml.safe_dump(data))


def records(p: pytest.Pytester, root: str = "results") -> list[Path]:
    return sorted((p.path / root / "quick" / "runs" / "toy").glob("*.json"))


def design(p: pytest.Pytester, claim: str = "toy_trend") -> dict:
    return json.loads((p.path / "results" / "quick" / "claims" / f"{claim}.json").read_text())


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
    d = design(project)
    assert sorted((u["level_id"], tuple(u["seeds"])) for u in d["units"]) == sorted(
        (f"size{s}", seeds) for s in (1, 2, 4, 8) for seeds in ((0, 1), (2, 3)))
    assert sorted(project.path / "results" / u["path"] for u in d["units"]) == records(project)
    assert all(u["digest"] for u in d["units"])
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
    assert sorted(tuple(u["seeds"]) for u in design(project)["units"] if u["level_id"] == "size1") == [
        (i,) for i in range(4)]
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
    d = design(project)
    assert d["seeds"] == [0, 1, 2] and [lv["value"] for lv in d["levels"]] == [1, 2, 8]
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


def test_the_expected_time_of_a_selection_is_its_share_of_the_claims_minutes(project):
    """8 units (4 sizes x 2 seed shards) in 8 minutes: one selected unit is expected to take 1 minute, not 8."""
    edit_params(project, lambda d: d["claims"]["toy_trend"]["quick"].update(minutes=8))
    r = run(project, "claims/test_toy_trend.py", "-k", "size2 and s0_1", "--collect-only")
    assert "1 runs (0 cached, 1 to run); expected time ~1m00s serial" in r.stdout.str(), r.stdout.str()
    r = run(project, "claims/test_toy_trend.py", "--collect-only")
    assert "8 runs (0 cached, 8 to run); expected time ~8m00s serial" in r.stdout.str(), r.stdout.str()


def test_verdict_alone_from_records_and_incomplete(project):
    r = run(project, "claims", "-k", "verdict", "-rs")
    r.assert_outcomes(skipped=1, deselected=8)
    r.stdout.fnmatch_lines(["*INCONCLUSIVE*8 of 8 units have no valid record*"])
    run(project, "claims", "--no-verdicts").assert_outcomes(passed=8)
    run(project, "claims", "-k", "verdict").assert_outcomes(failed=1, deselected=8)


def test_device_option(project):
    r = run(project, "claims", "--device", "cpu", "--no-verdicts")
    r.assert_outcomes(passed=8)
    rec = json.loads(records(project)[0].read_text())
    assert rec["device"] == "cpu"
    assert run(project, "claims", "--device", "tpu").ret == pytest.ExitCode.USAGE_ERROR


def test_results_option(project):
    run(project, "claims", "--results", "elsewhere", "--no-verdicts").assert_outcomes(
        passed=8)
    assert (project.path / "elsewhere" / "quick" / "claims" / "toy_trend.json").exists()
    assert len(records(project, "elsewhere")) == 8
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
    ("def test_toy_trend(size, seeds, settings, device, record):", "def test_toy_trend(size, seeds, settings, device, record, tmp_path):",
     "asks for ['tmp_path']"),
    ("def test_toy_trend(size, seeds, settings, device, record):", "def test_toy_trend(size, settings, device, record):",
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


def test_setting_mistakes_fail_at_collection_before_anything_trains(project):
    edit_params(project, lambda d: d["claims"]["toy_trend"]["quick"].pop("noise"))
    r = run(project, "claims", "--no-verdicts")
    assert r.ret == pytest.ExitCode.INTERRUPTED
    r.stdout.fnmatch_lines(["*claims.toy_trend.quick has no 'noise'; add `noise: <value>`*"])
    edit_params(project, lambda d: d["claims"]["toy_trend"]["quick"].update(noise=0.1, steps="ten"))
    r = run(project, "claims", "--no-verdicts")
    assert r.ret == pytest.ExitCode.INTERRUPTED
    r.stdout.fnmatch_lines(["*claims.toy_trend.quick.steps is 'ten', but *Config.steps is an int*"])
    edit_params(project, lambda d: d["claims"]["toy_trend"]["quick"].update(steps=8, colour=3))
    r = run(project, "claims", "--no-verdicts")
    assert r.ret == pytest.ExitCode.INTERRUPTED
    r.stdout.fnmatch_lines(["*claims.toy_trend.quick sets colour, but test_toy_trend never uses it*"])
    assert not records(project)


@pytest.mark.parametrize("old,new,message", [
    ("steps=settings.steps,", "steps=settings.steps, width=3,", "unexpected keyword argument 'width'"),
    ("record(toy.train(cfg, seeds, device))", "record(toy.train(cfg, seeds))", "trains on device 'cpu' while"),
    ("record(toy.train(cfg, seeds, device))", "toy.train(cfg, seeds, device)", "must call record() once"),
    ("record(toy.train(cfg, seeds, device))", "record(toy.train(cfg, seeds, device))\n    toy.train(cfg, seeds, device)",
     "called an agent's train 2 times"),
])
def test_claim_function_mistakes_fail_at_collection(project, old, new, message):
    edit_claim(project, old, new)
    r = run(project, "claims", "--device", "cuda" if "device 'cpu'" in message else "cpu")
    if "device 'cpu'" in message and r.ret == pytest.ExitCode.INTERRUPTED and "torch sees no GPU" in r.stdout.str():
        edit_claim(project, new, old.replace("device)", "'cpu')"))  # no GPU here: ask for cpu, train on cuda
        edit_claim(project, old.replace("device)", "'cpu')"), "record(toy.train(cfg, seeds, 'cuda'))")
        r = run(project, "claims", "--device", "cpu")
        message = "trains on device 'cuda' while"
    assert r.ret == pytest.ExitCode.INTERRUPTED, r.stdout.str()
    assert message in r.stdout.str()
    assert not records(project)


def test_a_misspelled_metric_fails_at_collection(project):
    """Agents that declare their metrics (``METRICS``) have a claim's metric names checked before training."""
    edit_claim(project, 'metrics={"auc_return": "increasing"}', 'metrics={"auc_retrun": "increasing"}')
    r = run(project, "claims", "--no-verdicts")
    assert r.ret == pytest.ExitCode.INTERRUPTED
    r.stdout.fnmatch_lines(["*metric 'auc_retrun' is not one that harness.agents.toy reports (initial_return, "
                            "final_return, auc_return); did you mean 'auc_return'?*"])
    assert not records(project)


@pytest.mark.parametrize("fault,message", [("unreported_nan", "unreported NaN"),
                                           ("missing_metric", "metric 'auc_return' missing")])
def test_unreported_nan_and_missing_metric_fail_the_point(project, fault, message):
    edit_params(project, lambda d: d["claims"]["toy_trend"]["quick"].update(fault=fault))
    r = run(project, "claims", "--no-verdicts")
    r.assert_outcomes(failed=8)
    r.stdout.fnmatch_lines([f"*{message}*"])
    if fault == "unreported_nan":  # an unsound run: nothing to keep
        assert not records(project)
        return
    assert len(records(project)) == 8  # a sound run the claim asks the wrong thing of: kept, and the point fails
    r = run(project, "claims", "--no-verdicts")
    r.assert_outcomes(failed=8)
    r.stdout.fnmatch_lines([f"*{message}*the record is kept*"])
    assert "0 units ran, 8 reused" in r.stdout.str()


def test_a_misspelled_metric_keeps_the_records_and_its_correction_reuses_them(project):
    edit_claim(project, '"auc_return"', '"auc_retrun"')
    edit_claim(project, "from harness.agents import toy", "from harness.agents import toy\ntoy.METRICS = None")
    r = run(project, "claims")
    r.assert_outcomes(failed=8, skipped=1)  # the verdict waits for its points
    r.stdout.fnmatch_lines(["*metric 'auc_retrun' missing (reported: *auc_return*the record is kept*"])
    edit_claim(project, '"auc_retrun"', '"auc_return"')
    r = run(project, "claims")
    r.assert_outcomes(passed=8, failed=1)  # the points, and the toy's CONTRADICTED verdict
    assert "0 units ran, 8 reused" in r.stdout.str() and "CONTRADICTED" in r.stdout.str()


def test_reported_divergence_is_an_outcome(project):
    edit_params(project, lambda d: d["claims"]["toy_trend"]["quick"].update(fault="diverge_seed0_size8"))
    r = run(project, "claims")
    r.assert_outcomes(passed=8, failed=1)


def test_records_are_addressed_by_the_run_not_by_the_claim(project):
    run(project, "claims", "--no-verdicts").assert_outcomes(passed=8)
    edit_claim(project, "[1, 2, 4, 8]", "[1, 2, 4, 8, 16]")
    r = run(project, "claims", "--no-verdicts")
    assert "2 units ran, 8 reused" in r.stdout.str()
    edit_claim(project, 'blocks="seed"', 'blocks="seed", threshold=0.01')  # the verdict's business only
    assert "0 units ran, 10 reused" in run(project, "claims", "--no-verdicts").stdout.str()
    edit_claim(project, "cfg = toy.Config(", "# the same run, written differently\n    cfg = toy.Config(")
    assert "0 units ran, 10 reused" in run(project, "claims", "--no-verdicts").stdout.str()
    edit_params(project, lambda d: d["claims"]["toy_trend"]["quick"].update(noise=0.2))
    assert "10 units ran, 0 reused" in run(project, "claims", "--no-verdicts").stdout.str()
    assert len(records(project)) == 20  # the old runs stay until `python -m harness gc`


def test_two_claims_that_plan_the_same_run_compute_it_once(project):
    counter = project.path / "counter.txt"
    other = CLAIM.replace("test_toy_trend(", "test_toy_again(").replace("[1, 2, 4, 8]", "[2, 4, 8, 16]")
    (project.path / "claims" / "test_toy_again.py").write_text(other)
    edit_params(project, lambda d: d["claims"].update(toy_again=d["claims"]["toy_trend"]))
    os.environ["TOY_COUNTER"] = str(counter)
    try:
        r = run(project, "claims", "--no-verdicts", "--workers", "1")
    finally:
        del os.environ["TOY_COUNTER"]
    r.assert_outcomes(passed=16)
    assert "16 points selected, 10 runs (0 cached, 10 to run, 6 shared between claims)" in r.stdout.str()
    assert len(counter.read_text().splitlines()) == 10 and len(records(project)) == 10
    shared = {u["key"] for u in design(project)["units"]} & {u["key"] for u in design(project, "toy_again")["units"]}
    assert len(shared) == 6
    rec = json.loads((project.path / "results" / design(project)["units"][-1]["path"]).read_text())
    assert rec["provenance"]["made_for"] == ["toy_again size8", "toy_trend size8"]


def test_collect_only_writes_no_design(project):
    run(project, "claims", "--collect-only")
    assert not (project.path / "results" / "quick" / "claims").exists()


def test_corrupt_record_is_reported_and_recomputed(project):
    run(project, "claims", "--no-verdicts").assert_outcomes(passed=8)
    rec = project.path / "results" / design(project)["units"][5]["path"]
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
    results = project.path / "results" / "quick" / "runs" / "toy"
    deadline = time.time() + 60
    while time.time() < deadline and not list(results.glob("*.json")):
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # The driver's worker processes (default: a pool of one per core) exit with it, mid-unit or not.
    deadline = time.time() + 10
    while time.time() < deadline and any(alive(int(pid)) for pid in pids.read_text().split()):
        time.sleep(0.05)
    assert not any(alive(int(pid)) for pid in pids.read_text().split()), "a worker outlived its killed driver"
    done = {p.name for p in results.glob("*.json")}
    assert 1 <= len(done) < 8
    assert not list(results.glob(".*.tmp"))
    before = counter.read_text().splitlines()
    subprocess.run(cmd, cwd=project.path, env=env, check=True, capture_output=True)
    after = counter.read_text().splitlines()[len(before):]
    assert len(after) == 8 - len(done)
    assert len(list(results.glob("*.json"))) == 8


def test_a_record_that_cannot_be_written_is_spilled_not_lost(project, monkeypatch, tmp_path):
    from harness import plugin, records
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(plugin.tempfile, "tempdir", None)
    calls = []

    def full_disk(path, rec):
        if "harness-spill" not in str(path):
            calls.append(path)
            raise OSError(28, "No space left on device")
        records.write_record(path, rec)
    monkeypatch.setattr(plugin, "write_record", full_disk)
    r = run_inprocess(project, "claims", "--no-verdicts", "-k", "size1", "--workers", "1")
    r.assert_outcomes(failed=2, deselected=6)
    r.stdout.fnmatch_lines(["*could not be written*No space left on device*the finished run was saved to*"
                            "harness-spill*copy it to*"])
    spilled = sorted((tmp_path / "harness-spill").rglob("*.json"))
    assert len(spilled) == 2 and len(calls) == 2
    monkeypatch.setattr(plugin, "write_record", records.write_record)  # (not undo(): pytester's chdir is one)
    for p in spilled:  # restoring them is a copy
        dest = project.path / "results" / p.relative_to(tmp_path / "harness-spill")
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(p.read_bytes())
    assert "0 units ran, 2 reused" in run_inprocess(project, "claims", "--no-verdicts", "-k", "size1").stdout.str()


def test_an_unwritable_results_directory_stops_before_training(project):
    (project.path / "results").write_text("a file where the results directory belongs")
    r = run(project, "claims", "--no-verdicts")
    assert r.ret == pytest.ExitCode.USAGE_ERROR
    assert "is not writable" in r.stderr.str() + r.stdout.str() and "nothing was trained" in r.stderr.str() + r.stdout.str()
