"""The DVC pipeline and the report, end to end, in a temporary git repository with the toy claim.

The toy claim (tests/toy) says the score increases with size; its synthetic data fall with size, so the
true verdict is CONTRADICTED. The real dvc.yaml and harness are copied; nothing touches claims/.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
TOY = ROOT / "tests" / "toy"


def sh(cwd: Path, *cmd: str) -> str:
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    assert r.returncode == 0, f"{' '.join(cmd)} failed:\n{r.stdout}\n{r.stderr}"
    return r.stdout + r.stderr


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    if shutil.which("dvc") is None or shutil.which("git") is None:
        pytest.fail("dvc and git are required (pip install -e '.[dev]' installs dvc)")
    repo = tmp_path_factory.mktemp("pipeline")
    shutil.copytree(ROOT / "harness", repo / "harness", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "dvc.yaml", repo / "dvc.yaml")
    (repo / "claims").mkdir()
    shutil.copy(TOY / "claims" / "test_toy_trend.py", repo / "claims")
    params = yaml.safe_load((TOY / "params.yaml").read_text())
    params["claims"] = {"toy_trend": {**params["claims"]["toy_trend"], "agent": "toy"}}
    (repo / "params.yaml").write_text(yaml.safe_dump(params))
    (repo / ".gitignore").write_text("/results/smoke/\n__pycache__/\n")
    sh(repo, "git", "init", "-q")
    sh(repo, "git", "config", "user.email", "ci@example.invalid")
    sh(repo, "git", "config", "user.name", "ci")
    sh(repo, "dvc", "init", "-q")
    sh(repo, "dvc", "config", "core.analytics", "false")
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "commit", "-qm", "toy project")
    return repo


def verdicts(repo: Path) -> dict:
    return json.loads((repo / "reports" / "quick" / "verdicts.json").read_text())


def test_pipeline(repo: Path):
    out = sh(repo, "dvc", "repro")
    assert "Running stage 'run@toy_trend'" in out and "Running stage 'report'" in out
    v = verdicts(repo)["toy_trend"]["auc_return"]
    assert v["verdict"] == "CONTRADICTED" and v["code"] == -1
    report = (repo / "reports" / "quick" / "report.md").read_text()
    assert "**CONTRADICTED**" in report and "Toy claim: the score increases with size" in report
    summary = json.loads((repo / "reports" / "quick" / "claims" / "toy_trend.json").read_text())
    assert len(summary["observations"]) == 16

    # the figure's CSV: one row per level x seed
    csv = pd.read_csv(repo / "reports" / "quick" / "figures" / "toy_trend__auc_return.csv")
    assert len(csv) == 4 * 4 and set(csv["level"]) == {1, 2, 4, 8} and set(csv["seed"]) == {0, 1, 2, 3}
    assert (repo / "reports" / "quick" / "figures" / "toy_trend__auc_return.png").stat().st_size > 1000

    # DVC's own views: dvc.yaml's plots give every figure CSV its columns (DVC warns of a missing one) and
    # show the PNGs as images; verdicts.json is the metrics, with the verdict as a number
    out = sh(repo, "dvc", "plots", "show", "-o", str(repo.parent / "dvc_plots"))
    assert "could not find" not in out.lower() and "warning" not in out.lower(), out
    html = (repo.parent / "dvc_plots" / "index.html").read_text()
    for name in ("figures/toy_trend__auc_return.csv", "figures/curves/toy_trend.csv", "toy_trend__auc_return.png",
                 "toy_trend__curves.png"):
        assert name in html, name
    assert '"field": "x"' in html and '"field": "env_steps"' in html
    shown = subprocess.run(["dvc", "metrics", "show", "--json"], cwd=repo, capture_output=True, text=True, check=True)
    metrics = json.loads(shown.stdout)[""]["data"]["reports/quick/verdicts.json"]["data"]
    assert metrics["toy_trend"]["auc_return"]["code"] == -1 and 0 <= metrics["toy_trend"]["auc_return"]["p"] < 0.05

    # nothing changed: nothing runs
    out = sh(repo, "dvc", "repro")
    assert "Running stage" not in out, out

    # a new level re-runs only its stage's missing units; the other records stay untouched
    results = repo / "results" / "quick" / "runs" / "toy"
    before = {p.name: p.stat().st_mtime_ns for p in results.glob("*.json")}
    claim = repo / "claims" / "test_toy_trend.py"
    claim.write_text(claim.read_text().replace("[1, 2, 4, 8]", "[1, 2, 4, 8, 16]"))
    out = sh(repo, "dvc", "repro")
    assert "Running stage 'run@toy_trend'" in out and "2 units ran, 8 reused" in out
    after = {p.name: p.stat().st_mtime_ns for p in results.glob("*.json")}
    assert {k: after[k] for k in before} == before and len(after) == 10
    assert len(pd.read_csv(repo / "reports" / "quick" / "figures" / "toy_trend__auc_return.csv")) == 5 * 4

    # an edited record cannot flip a verdict: its digest no longer matches, so it counts as no record
    design = json.loads((repo / "results" / "quick" / "claims" / "toy_trend.json").read_text())
    edited = repo / "results" / design["units"][-1]["path"]
    rec = json.loads(edited.read_text())
    for m in rec["result"]["members"]:
        m["metrics"]["auc_return"] = 100.0
    edited.write_text(json.dumps(rec))
    out = sh(repo, "dvc", "repro")
    assert "Running stage 'verdict@toy_trend'" in out
    assert verdicts(repo)["toy_trend"]["auc_return"]["verdict"] == "INCONCLUSIVE"
    assert "1 units ran, 9 reused" in sh(repo, "python", "-m", "pytest", "claims", "-q", "-p", "no:cacheprovider",
                                         "--no-verdicts")
    sh(repo, "dvc", "repro")
    assert verdicts(repo)["toy_trend"]["auc_return"]["verdict"] == "CONTRADICTED"

    # a spec edited after records existed: the runs are reused (they did not change), the verdict is
    # recomputed, and the report says the rules changed after the data
    claim.write_text(claim.read_text().replace('blocks="seed")', 'blocks="seed", threshold=0.01)'))
    out = sh(repo, "dvc", "repro")
    assert "0 units ran, 10 reused" in out
    assert "Spec changed after the first records" in (repo / "reports" / "quick" / "report.md").read_text()

    # records are committed: a fresh clone is up to date and reproduces the report byte for byte
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "commit", "-qm", "results")
    clone = repo.parent / "clone"
    sh(repo.parent, "git", "clone", "-q", str(repo), str(clone))
    assert "up to date" in sh(clone, "dvc", "status").lower()
    out = sh(clone, "dvc", "repro")
    assert "Running stage" not in out, out
    assert (clone / "reports" / "quick" / "report.md").read_bytes() == (repo / "reports" / "quick" / "report.md").read_bytes()
    out = sh(clone, "python", "-m", "harness", "verify", "--minutes", "1", "--seed", "0")
    assert "MATCH" in out and "MISMATCH" not in out


def test_cli_list_and_show(repo: Path):
    sh(repo, "dvc", "repro")
    out = sh(repo, "python", "-m", "harness", "list")
    assert "toy_trend" in out and "units recorded" in out
    out = sh(repo, "python", "-m", "harness", "show", "toy_trend")
    assert "size1" in out and "auc_return" in out
    out = sh(repo, "python", "-m", "harness", "status")
    assert "toy_trend" in out and "total: 0 runs to compute" in out and "current" in out


def test_report_names_a_claim_with_records_but_no_verdict(repo: Path, tmp_path: Path):
    sh(repo, "dvc", "repro")
    copy = tmp_path / "project"
    shutil.copytree(repo, copy, ignore=shutil.ignore_patterns(".dvc", ".git"))
    params = yaml.safe_load((copy / "params.yaml").read_text())
    params["claims"]["toy_late"] = params["claims"]["toy_trend"]
    (copy / "params.yaml").write_text(yaml.safe_dump(params))
    claims = copy / "results" / "quick" / "claims"
    shutil.copy(claims / "toy_trend.json", claims / "toy_late.json")  # its runs made, its verdict never computed
    r = subprocess.run([sys.executable, "-m", "harness", "report"], cwd=copy, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "warning: toy_late has records but no verdict summary" in r.stderr
    report = (copy / "reports" / "quick" / "report.md").read_text()
    assert "## Claims with records but no verdict" in report
    assert "- `toy_late`: `python -m harness verdict toy_late --budget quick`" in report
    assert "**CONTRADICTED**" in report  # the judged claim is still reported


def test_exp_run_with_another_budget(repo: Path):
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "commit", "-qm", "state", "--allow-empty")
    sh(repo, "dvc", "exp", "run", "-S", "budget=smoke")
    v = json.loads((repo / "reports" / "smoke" / "verdicts.json").read_text())
    assert v["toy_trend"]["auc_return"]["verdict"] == "PLUMBING"
