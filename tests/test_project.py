"""The project's own wiring: the claims list in params.yaml, the claim files and the DVC pipeline agree."""
from pathlib import Path

import yaml

from harness.budget import Params

ROOT = Path(__file__).resolve().parents[1]


def test_claims_list_matches_claim_files():
    params = Params.load(ROOT / "params.yaml")
    files = {p.stem[len("test_"):] for p in (ROOT / "claims").glob("test_*.py")}
    listed = set(params.claims)
    assert files == listed, (f"claims/ has {sorted(files - listed)} not in params.yaml claims:, and params.yaml "
                             f"lists {sorted(listed - files)} without a claims/test_<id>.py")


def test_every_claim_has_an_agent_file_and_settings_for_every_budget():
    params = Params.load(ROOT / "params.yaml")
    budgets = list(params.data["budgets"])
    for claim in params.claims:
        entry = params.claim_entry(claim)
        assert (ROOT / "harness" / "agents" / f"{entry['agent']}.py").exists(), claim
        for b in budgets:
            params.settings(claim, b)  # raises a ParamsError naming the missing key
        params.budget()  # the active budget exists


def test_dvc_stages_follow_the_one_name_rule():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    assert stages["run"]["do"]["cmd"].startswith("python -m pytest claims/test_${key}.py")
    assert "--no-verdicts" in stages["run"]["do"]["cmd"]
    assert stages["run"]["do"]["outs"] == [{"results/${budget}/claims/${key}.json": {"persist": True, "cache": False}}]
    assert stages["verdict"]["do"]["outs"] == [{"reports/${budget}/claims/${key}.json": {"cache": False,
                                                                                         "persist": True}}]


def _covered(files, deps) -> list[str]:
    """The files not covered by a list of DVC deps (a dep may name a directory)."""
    return [f for f in files if not any(f == d or f.startswith(d.rstrip("/") + "/") for d in deps)]


def test_every_run_stage_depends_on_its_agents_training_closure():
    from harness.identity import training_files
    params = Params.load(ROOT / "params.yaml")
    stage = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["run"]["do"]
    for claim in params.claims:
        agent = params.claim_entry(claim)["agent"]
        deps = [d.replace("${item.agent}", agent).replace("${key}", claim) for d in stage["deps"]]
        missing = _covered(training_files(f"harness.agents.{agent}"), deps)
        assert not missing, f"run@{claim} in dvc.yaml misses {missing} (harness.identity.training_files)"


def test_offline_data_stage_depends_on_the_datasets_code():
    from harness.identity import training_files
    deps = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["offline_data"]["deps"]
    assert not _covered(training_files("harness.offline"), deps)


def test_pretrained_lms_stage_depends_on_the_models_code():
    from harness.identity import training_files
    deps = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["pretrained_lms"]["deps"]
    assert not _covered(training_files("harness.lm"), deps)


def test_verdict_and_report_stages_depend_on_the_statistics_they_call():
    from harness.identity import closure
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    for stage, module in ((stages["verdict"]["do"], "verdict"), (stages["report"], "report")):
        files = [p.relative_to(ROOT).as_posix() for p in closure(ROOT / "harness" / f"{module}.py")]
        files = [f for f in files if f not in ("harness/__init__.py", "harness/records.py", "harness/result.py",
                                               "harness/identity.py")]  # record reading: no verdict logic
        assert not _covered(files, stage["deps"]), (module, _covered(files, stage["deps"]))


def test_every_claim_states_its_gates_and_paper_effect():
    """The verdict gates of every claim are pre-registered in its marker and explained in its docstring."""
    from harness import design
    params = Params.load(ROOT / "params.yaml")
    for claim in params.claims:
        fn = design.load_claim(ROOT / "claims" / f"test_{claim}.py")
        kwargs = design.claim_mark(fn).kwargs
        assert "paper_effect" in kwargs, f"{claim}: give paper_effect= (a number in the claim's units, or 'unknown')"
        assert "Gates:" in (fn.__module__ and __import__("sys").modules[fn.__module__].__doc__), (
            f"{claim}: its docstring needs a 'Gates:' paragraph saying where its gates and paper effect come from")


def test_committed_results_match_the_code():
    """What `dvc status` would say for the claims that have committed results: each committed design plans the
    runs the code plans now (else the records are stale: rerun the claim and commit results/), and each record
    it names is there, whole and unedited, with the digest the design pinned."""
    import json

    from harness import design
    from harness.records import file_digest, lookup
    params = Params.load(ROOT / "params.yaml")
    for budget in ("quick", "full"):
        committed = {p.stem: json.loads(p.read_text()) for p in (ROOT / "results" / budget / "claims").glob("*.json")}
        if not committed:
            continue
        planned = design.build_all(params, params.budget(budget), "cpu", sorted(committed), root=ROOT)
        for claim, d in committed.items():
            now = {u.key for u in planned[claim].units}
            assert {u["key"] for u in d["units"]} == now, (
                f"results/{budget}/claims/{claim}.json is stale: the code or params.yaml now plan other runs; "
                f"run `pytest claims/test_{claim}.py --budget {budget}` and commit results/ and dvc.lock")
            for u in d["units"]:
                path = ROOT / "results" / u["path"]
                assert lookup(path, u["key"]).status == "ok", f"{claim}: {u['path']} is missing or corrupt"
                assert file_digest(path) == u["digest"], f"{claim}: {u['path']} differs from its design's digest"
