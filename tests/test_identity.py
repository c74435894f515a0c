"""Code identity (harness/identity.py): what a record's key depends on, and what it must not depend on.

The edits run on a copy of the harness package in a temporary directory (imported first through
PYTHONPATH), planning the toy claims and the real ones without training anything.
"""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.identity import STATISTICS, code_text, training_files

ROOT = Path(__file__).resolve().parents[1]
AGENTS = ["sac", "ppo", "ada", "dreamer", "dt", "dqn", "alphazero", "muzero", "toy"]

KEYS = r"""
import json, sys
from harness import design
from harness.budget import Params
from harness.offline import DataConfig
keys = {}
for name, b in (("toy", "quick"), ("real", "smoke")):
    params = Params.load(sys.argv[1] if name == "toy" else sys.argv[2])
    for claim, d in design.build_all(params, params.budget(b), "cpu", root=Path(sys.argv[3 if name == "toy" else 4])).items():
        keys[claim] = [u.key for u in d.units]
keys["offline"] = DataConfig(games=("Breakout",)).key
print(json.dumps(keys))
""".replace("import json, sys", "import json, sys\nfrom pathlib import Path")


@pytest.mark.parametrize("agent", AGENTS)
def test_no_statistics_module_is_in_a_training_closure(agent):
    files = training_files(f"harness.agents.{agent}")
    assert f"harness/agents/{agent}.py" in files
    assert not [f for f in files if Path(f).stem in STATISTICS and Path(f).parent.name == "harness"], files


@pytest.fixture(scope="module")
def copy(tmp_path_factory):
    root = tmp_path_factory.mktemp("identity")
    shutil.copytree(ROOT / "harness", root / "harness", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "tests" / "toy", root / "toy")
    (root / "real").mkdir()
    shutil.copytree(ROOT / "claims", root / "real" / "claims", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "params.yaml", root / "real" / "params.yaml")
    return root


def keys(root: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", KEYS, str(root / "toy" / "params.yaml"),
                          str(root / "real" / "params.yaml"), str(root / "toy"), str(root / "real")],
                         env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True,
                         cwd=root, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def edit(root: Path, rel: str, text: str) -> str:
    path = root / rel
    old = path.read_text()
    path.write_text(old + text)
    return old


def test_statistics_edits_keep_every_key_and_training_edits_change_them(copy):
    before = keys(copy)
    assert len(before["toy_trend"]) == 8 and len(before["sac_width"]) >= 2
    originals = {m: edit(copy, f"harness/{m}.py", "\n\ndef _edited():\n    return 1\n")
                 for m in ("trend", "scaling", "verdict", "report", "cli", "plugin", "claim")}
    assert keys(copy) == before, "a statistics or presentation module is part of a record's identity"
    for m, text in originals.items():
        (copy / "harness" / f"{m}.py").write_text(text)
    old = edit(copy, "harness/agents/sac.py", "\n# a comment\n")
    assert keys(copy) == before, "a comment changed a record key"
    (copy / "harness" / "agents" / "sac.py").write_text(old)
    old = edit(copy, "harness/nn.py", "\n\nEDITED = 1\n")
    after = keys(copy)
    (copy / "harness" / "nn.py").write_text(old)
    assert after["offline"] != before["offline"], "an nn.py edit must give a new offline dataset"
    assert after["sac_width"] != before["sac_width"] and after["mgdt_size"] != before["mgdt_size"]
    assert after["ada_size"] == before["ada_size"], "ada does not import nn.py"
    assert after["toy_trend"] == before["toy_trend"]


def test_code_text_drops_docstrings_and_comments_only(tmp_path):
    a, b = tmp_path / "a.py", tmp_path / "b.py"
    a.write_text('"""Module."""\nx = 1  # one\n\n\ndef f():\n    """Doc."""\n    return "s"\n')
    b.write_text('"""Other words."""\nx = 1\ndef f():\n    return "s"\n')
    assert code_text(a) == code_text(b)
    b.write_text('x = 2\ndef f():\n    return "s"\n')
    assert code_text(a) != code_text(b)
