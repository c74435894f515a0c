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
    assert stages["run"]["do"]["outs"] == [{"results/${budget}/${key}": {"persist": True, "cache": False}}]
    assert stages["verdict"]["do"]["outs"] == [{"reports/${budget}/claims/${key}.json": {"cache": False,
                                                                                         "persist": True}}]
