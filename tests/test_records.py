"""Records: round trip, corrupt and stale detection, cache keys, atomic writes, code identity."""
import json
from pathlib import Path

import pytest

from harness.records import (Record, atomic_write_json, code_identity, function_body_source, lookup,
                             record_path, unit_key, write_record)
from harness.result import MemberResult, RunResult, curve_metrics


def _result(seeds=(0, 1)):
    members = [MemberResult(seed=s, metrics=curve_metrics([1.0, 2.0, 3.0 + s]), curve_steps=[0, 5, 10],
                            curve_returns=[1.0, 2.0, 3.0 + s], env_steps=10, updates=7, params={"total": 3})
               for s in seeds]
    members[-1].metrics["auc_return"] = float("nan")
    members[-1].diverged, members[-1].diverged_step = True, 5
    return RunResult(members=members, config={"width": 64})


KEY = dict(claim="c", params={"width": 64}, settings={"steps": 10}, seeds=[0, 1], device="cpu",
           spec_hash="spec", code_hash="code")


def _record(key):
    return Record(key=key, claim="c", level_id="width64", params={"width": 64}, seeds=[0, 1], budget="quick",
                  device="cpu", settings={"steps": 10}, spec_hash="spec", code={"hash": "code"}, result=_result())


def test_round_trip(tmp_path):
    key = unit_key(**KEY)
    path = record_path(tmp_path, "quick", "c", "width64", [0, 1])
    assert path == tmp_path / "quick" / "c" / "width64__s0-1.json"
    write_record(path, _record(key))
    found = lookup(path, key)
    assert found.status == "ok"
    back = found.record.result
    assert back.members[0].metrics == _result().members[0].metrics
    assert back.members[1].diverged and back.members[1].diverged_step == 5
    assert back.members[1].metrics["auc_return"] != back.members[1].metrics["auc_return"]  # NaN survives
    json.loads(path.read_text())  # strict JSON: NaN stored as null


def test_truncated_record_is_corrupt(tmp_path):
    key = unit_key(**KEY)
    path = record_path(tmp_path, "quick", "c", "width64", [0, 1])
    write_record(path, _record(key))
    text = path.read_text()
    path.write_text(text[: len(text) // 2])
    found = lookup(path, key)
    assert found.status == "corrupt" and "JSONDecodeError" in found.detail
    path.write_text('{"format": 1}')
    assert lookup(path, key).status == "corrupt"


def test_missing_and_stale(tmp_path):
    key = unit_key(**KEY)
    path = record_path(tmp_path, "quick", "c", "width64", [0, 1])
    assert lookup(path, key).status == "missing"
    write_record(path, _record(key))
    assert lookup(path, unit_key(**{**KEY, "spec_hash": "other"})).status == "stale"


@pytest.mark.parametrize("field,value", [("params", {"width": 128}), ("settings", {"steps": 11}),
                                         ("seeds", [0, 2]), ("device", "cuda"), ("spec_hash", "s2"),
                                         ("code_hash", "c2")])
def test_key_changes_with_every_input(field, value):
    assert unit_key(**KEY) == unit_key(**dict(KEY))
    assert unit_key(**{**KEY, field: value}) != unit_key(**KEY)


def test_atomic_write_leaves_no_partial_file(tmp_path):
    path = tmp_path / "a.json"
    atomic_write_json(path, {"x": 1})
    with pytest.raises(TypeError):
        atomic_write_json(path, {"x": object()})
    assert json.loads(path.read_text()) == {"x": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_code_identity_tracks_body_and_imports_not_decorators(tmp_path):
    claim = tmp_path / "test_c.py"
    claim.write_text("import pytest\nfrom harness import envs\n\n@pytest.mark.parametrize('w', [1, 2])\n"
                     "def test_c(w, seeds, record):\n    return w\n")
    ident = code_identity(claim, "test_c")
    assert "harness/envs.py" in ident["files"] and "harness/result.py" not in ident["files"]
    claim.write_text(claim.read_text().replace("[1, 2]", "[1, 2, 4]"))
    assert code_identity(claim, "test_c")["hash"] == ident["hash"]  # levels are not code
    claim.write_text(claim.read_text().replace("return w", "return w + 1"))
    assert code_identity(claim, "test_c")["hash"] != ident["hash"]
    assert "@" not in function_body_source(claim, "test_c")


def test_agent_closure_is_transitive():
    root = Path(__file__).resolve().parents[1]
    claim = root / "tests" / "toy" / "claims" / "test_toy_trend.py"
    files = code_identity(claim, "test_toy_trend")["files"]
    assert set(files) == {"harness/result.py"}
