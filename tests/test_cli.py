"""``python -m harness`` on bad input, in a temporary toy project: an error paragraph naming the file and the fix,
the exit status that says whether the command did its job, and the same behaviour from any directory of the
project. Every command runs as a subprocess, as a user runs it.

The toy project: tests/toy/params.yaml (claims toy_trend and toy_compute_optimal) and only the claim file
claims/test_toy_trend.py; ``recorded`` adds toy_trend's records and design (``pytest claims --no-verdicts``,
made once and copied into each test).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

TOY = Path(__file__).resolve().parent / "toy"
RESULTS = Path("results") / "quick"
DESIGN = RESULTS / "claims" / "toy_trend.json"
SUMMARY = Path("reports") / "quick" / "claims" / "toy_trend.json"


def harness(cwd: Path, *args: str, debug: bool = False) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("HARNESS_DEBUG", "HARNESS_DATA")}
    if debug:
        env["HARNESS_DEBUG"] = "1"
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=120)


def failed(r: subprocess.CompletedProcess, code: int = 2) -> str:
    """The output of a command that must fail with ``code`` and no traceback."""
    out = r.stdout + r.stderr
    assert r.returncode == code, out
    assert "Traceback" not in out, out
    return out


def error(r: subprocess.CompletedProcess) -> str:
    """The one-paragraph error of a command that refused bad input (exit status 2)."""
    failed(r, 2)
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    return lines[0]


def toy(root: Path) -> Path:
    (root / "claims").mkdir(parents=True)
    shutil.copy(TOY / "claims" / "test_toy_trend.py", root / "claims")
    shutil.copy(TOY / "params.yaml", root / "params.yaml")
    return root


@pytest.fixture
def bare(tmp_path: Path) -> Path:
    """The toy project without records."""
    return toy(tmp_path / "bare")


@pytest.fixture(scope="module")
def _recorded(tmp_path_factory) -> Path:
    root = toy(tmp_path_factory.mktemp("recorded") / "project")
    r = subprocess.run([sys.executable, "-m", "pytest", "claims", "-q", "-p", "no:cacheprovider", "--no-verdicts"],
                       cwd=root, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (root / DESIGN).is_file()
    return root


@pytest.fixture
def project(_recorded: Path, tmp_path: Path) -> Path:
    """The toy project with toy_trend's records and design (no verdict summary yet)."""
    return Path(shutil.copytree(_recorded, tmp_path / "project"))


def record_path(root: Path, i: int = 0) -> Path:
    return root / "results" / json.loads((root / DESIGN).read_text())["units"][i]["path"]


# --- 1. verdict ------------------------------------------------------------------------------------------------

def test_verdict_of_an_unknown_claim(bare: Path):
    e = error(harness(bare, "verdict", "nosuch"))
    assert "unknown claim 'nosuch'; claims in params.yaml: toy_trend, toy_compute_optimal" in e


def test_verdict_without_a_design_says_what_to_run_and_exits_1(bare: Path):
    out = failed(harness(bare, "verdict", "toy_trend"), 1)
    assert "run `pytest claims/test_toy_trend.py --budget quick`" in out
    assert "no verdict summary computed" in out
    assert not (bare / "reports").exists()


def test_verdict_exits_0_when_one_claim_was_computed_and_the_rest_kept(project: Path):
    r = harness(project, "verdict")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "toy_trend: auc_return: CONTRADICTED" in r.stdout
    assert "toy_compute_optimal: no design" in r.stdout and "keeping its committed summary" in r.stdout
    assert (project / SUMMARY).is_file()


# --- 2. report -------------------------------------------------------------------------------------------------

def test_report_without_summaries_exits_1_and_writes_nothing(project: Path):
    out = failed(harness(project, "report"), 1)
    assert "run `python -m harness verdict` (or `dvc repro`) first" in out
    assert "toy_trend has records but no verdict summary: run `python -m harness verdict toy_trend`" in out
    assert not (project / "reports" / "quick" / "report.md").exists()
    assert not (project / "reports" / "quick" / "verdicts.json").exists()


def test_report_names_a_claim_with_records_but_no_summary(project: Path):
    assert harness(project, "verdict", "toy_trend").returncode == 0
    # a design for toy_compute_optimal (its runs made, its verdict never computed)
    shutil.copy(project / DESIGN, project / RESULTS / "claims" / "toy_compute_optimal.json")
    r = harness(project, "report")
    assert r.returncode == 0, r.stdout + r.stderr
    assert ("toy_compute_optimal has records but no verdict summary: run `python -m harness verdict "
            "toy_compute_optimal`") in r.stderr
    assert "toy_trend has" not in r.stderr
    assert "report: reports/quick/report.md" in r.stdout
    assert "**CONTRADICTED**" in (project / "reports" / "quick" / "report.md").read_text()


# --- 3. show ---------------------------------------------------------------------------------------------------

def test_show_of_an_unknown_claim(bare: Path):
    e = error(harness(bare, "show", "nosuch"))
    assert "unknown claim 'nosuch'" in e and "toy_trend, toy_compute_optimal" in e


def test_show_without_a_summary(project: Path):
    e = error(harness(project, "show", "toy_trend"))
    assert "no summary reports/quick/claims/toy_trend.json" in e
    assert "run `python -m harness verdict toy_trend --budget quick`" in e


# --- 4. damaged files ------------------------------------------------------------------------------------------

DESIGN_FIX = "Delete it and rerun `pytest claims/test_toy_trend.py --budget quick`"


@pytest.mark.parametrize("command", [["list"], ["verdict"], ["report"], ["status"], ["gc", "--dry-run"],
                                     ["verify", "--minutes", "1"], ["plan", "toy_trend", "--sd", "0.1"]])
def test_a_truncated_design(project: Path, command: list[str]):
    if command == ["status"]:  # status plans every claim of params.yaml
        shutil.copy(TOY / "claims" / "test_toy_compute_optimal.py", project / "claims")
    text = (project / DESIGN).read_text()
    (project / DESIGN).write_text(text[: len(text) // 2])
    e = error(harness(project, *command))
    assert f"{DESIGN} is not valid JSON" in e and DESIGN_FIX in e


def _invalid_spec(text: str) -> str:
    design = json.loads(text)
    design["spec"] = {"metrics": {"auc_return": "increasing"}}
    return json.dumps(design)


@pytest.mark.parametrize("damage, problem", [
    (lambda text: "[]", "holds a JSON list, not a claim design"),
    (lambda text: '{"claim": "toy_trend"}', "lacks budget, spec"),
    (lambda text: "", "is empty"),
    (_invalid_spec, "holds a spec that is not valid (the claim marker")], ids=["list", "partial", "empty", "spec"])
def test_a_design_that_is_not_one(project: Path, damage, problem: str):
    (project / DESIGN).write_text(damage((project / DESIGN).read_text()))
    e = error(harness(project, "verdict", "toy_trend"))
    assert f"{DESIGN} {problem}" in e and DESIGN_FIX in e


SUMMARY_FIX = "Delete it and rerun `python -m harness verdict toy_trend --budget quick`"


TRUNCATED = ('{"claim": "toy_tr', "is not valid JSON")
LIST = ("[1, 2]", "holds a JSON list, not a verdict summary")
STRING = ('"text"', "holds a JSON str, not a verdict summary")


@pytest.mark.parametrize("command, content, problem", [
    (["show", "toy_trend"], *TRUNCATED), (["show", "toy_trend"], *LIST), (["show", "toy_trend"], *STRING),
    (["report"], *TRUNCATED), (["report"], *LIST), (["report"], *STRING), (["verdict"], *LIST)])
def test_a_damaged_summary(project: Path, command: list[str], content: str, problem: str):
    (project / SUMMARY).parent.mkdir(parents=True)
    (project / SUMMARY).write_text(content)
    e = error(harness(project, *command))
    assert f"{SUMMARY} {problem}" in e and SUMMARY_FIX in e
    assert (project / SUMMARY).read_text() == content  # verdict checks before it writes


VERIFY = ["verify", "--workers", "1", "--seed", "0"]


@pytest.mark.parametrize("damage, command", [("[]", ["list"]), ("null", ["list"]), ("[]", ["status"]),
                                             ("directory", ["list"]), ("directory", ["verdict"]),
                                             ("directory", VERIFY)])
def test_a_damaged_record_is_reported_as_corrupt(project: Path, command: list[str], damage: str):
    """A record that is not one counts as corrupt (the next run recomputes it): each command that reads records
    names it and the fix, keeps its usual exit status (verify: 1, a record it cannot compare) and never breaks."""
    if command == ["status"]:
        shutil.copy(TOY / "claims" / "test_toy_compute_optimal.py", project / "claims")
    rec = record_path(project)
    rec.unlink()
    rec.mkdir() if damage == "directory" else rec.write_text(damage)
    r = harness(project, *command)
    out = failed(r, 1 if command[0] == "verify" else 0)
    rel = rec.relative_to(project)
    assert f"corrupt record {rel}" in out and "rerun `pytest claims/test_toy_trend.py --budget quick`" in out
    assert ("remove it (rm -r)" if damage == "directory" else "delete it") in out
    if command == ["list"]:
        assert "7/8 units recorded" in out
    if command == ["verdict"]:
        assert "auc_return: INCONCLUSIVE" in out
    if command[0] == "verify":
        assert "NO RECORD (corrupt)" in out and "7 of 7 re-run units matched" in out


@pytest.mark.parametrize("command", [["list"], ["verdict"], ["report"], ["status"], ["gc"], ["verify"]])
def test_a_file_where_the_designs_directory_should_be(project: Path, command: list[str]):
    if command == ["status"]:
        shutil.copy(TOY / "claims" / "test_toy_compute_optimal.py", project / "claims")
    shutil.rmtree(project / RESULTS / "claims")
    (project / RESULTS / "claims").write_text("oops")
    before = sorted(p.name for p in (project / RESULTS / "runs" / "toy").iterdir())
    e = error(harness(project, *command))
    assert f"{RESULTS / 'claims'} is a file, but it must be a directory" in e
    assert "Move the file away (or delete it), then rerun `pytest claims --budget quick`" in e
    assert sorted(p.name for p in (project / RESULTS / "runs" / "toy").iterdir()) == before  # gc removed nothing


def test_a_file_where_the_summaries_directory_should_be(project: Path):
    (project / "reports" / "quick").mkdir(parents=True)
    (project / "reports" / "quick" / "claims").write_text("oops")
    e = error(harness(project, "show", "toy_trend"))
    assert "reports/quick/claims is a file, but it must be a directory" in e


# --- 5. any directory of the project ---------------------------------------------------------------------------

def test_commands_work_from_a_subdirectory(project: Path):
    at_root = harness(project, "list")
    assert at_root.returncode == 0 and at_root.stderr == "", at_root.stderr  # nothing extra at the root
    assert "8/8 units recorded" in at_root.stdout
    assert "MISSING FILE claims/test_toy_compute_optimal.py" in at_root.stdout
    sub = project / "claims"
    r = harness(sub, "list")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout == at_root.stdout
    r = harness(sub, "verdict", "toy_trend")
    assert r.returncode == 0, r.stdout + r.stderr
    assert (project / SUMMARY).is_file() and not (sub / "reports").exists()
    r = harness(sub, "show", "toy_trend")
    assert r.returncode == 0 and "size1" in r.stdout, r.stdout + r.stderr
    r = harness(sub, "data")  # the offline datasets' index (and datasets) at the root, too
    assert r.returncode == 0, r.stdout + r.stderr
    assert (project / "data" / "offline-quick.json").is_file() and not (sub / "data").exists()


def test_outside_any_project(tmp_path: Path):
    here = tmp_path / "elsewhere"
    here.mkdir()
    if any((d / "params.yaml").is_file() and (d / "claims").is_dir() for d in here.parents):
        pytest.skip("a parent of the temporary directory looks like a project")
    e = error(harness(here, "list"))
    assert "no params.yaml here or in any parent directory; run from the project root or pass --params" in e


# --- 6. unexpected exceptions ----------------------------------------------------------------------------------

def test_an_unexpected_exception(project: Path):
    design = json.loads((project / DESIGN).read_text())
    design["all_levels"] = "xy"  # a design of the right shape that the verdict cannot read
    (project / DESIGN).write_text(json.dumps(design))
    r = harness(project, "verdict", "toy_trend")
    lines = failed(r, 2).strip().splitlines()
    assert lines[-2].startswith("error: TypeError: ") and lines[-1] == "(run with HARNESS_DEBUG=1 for the traceback)"
    r = harness(project, "verdict", "toy_trend", debug=True)
    assert r.returncode == 1 and "Traceback (most recent call last)" in r.stderr and "TypeError" in r.stderr

