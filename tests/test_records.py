"""Records: round trip, digest, corrupt detection, run keys, atomic writes."""
import json
from dataclasses import dataclass

import pytest

from harness.records import Record, atomic_write_json, lookup, record_path, run_key, write_record
from harness.result import MemberResult, Plan, RunResult, curve_metrics, untrained_metrics


@dataclass(frozen=True)
class Cfg:
    width: int = 64
    steps: int = 10


def _result(seeds=(0, 1)):
    members = [MemberResult(seed=s, metrics=curve_metrics([0.5, 2.0, 3.0 + s]), curve_steps=[0, 5, 10],
                            curve_returns=[0.5, 2.0, 3.0 + s], initial=untrained_metrics([0.5]), env_steps=10,
                            updates=7, params={"total": 3}) for s in seeds]
    members[-1].metrics["auc_return"] = float("nan")
    members[-1].diverged, members[-1].diverged_step = True, 5
    return RunResult(members=members)


PLAN = Plan("harness.agents.toy", Cfg(), (0, 1), "cpu")


def _record(key):
    return Record(key=key, agent=PLAN.agent, config={"width": 64, "steps": 10}, seeds=[0, 1], device="cpu",
                  code={"hash": "code"}, result=_result(), provenance={"made_for": ["c width64"]})


def test_round_trip(tmp_path):
    key = run_key(PLAN, "code")
    path = tmp_path / record_path("quick", PLAN.agent, key)
    assert path == tmp_path / "quick" / "runs" / "toy" / f"{key}.json"
    write_record(path, _record(key))
    found = lookup(path, key)
    assert found.status == "ok"
    back = found.record.result
    assert back.members[0].metrics == _result().members[0].metrics
    assert back.members[0].initial == {"final_return": 0.5, "auc_return": 0.5}
    assert back.members[1].diverged and back.members[1].diverged_step == 5
    assert back.members[1].metrics["auc_return"] != back.members[1].metrics["auc_return"]  # NaN survives
    json.loads(path.read_text())  # strict JSON: NaN stored as null


def test_truncated_record_is_corrupt(tmp_path):
    key = run_key(PLAN, "code")
    path = tmp_path / "r.json"
    write_record(path, _record(key))
    text = path.read_text()
    path.write_text(text[: len(text) // 2])
    found = lookup(path, key)
    assert found.status == "corrupt" and "JSONDecodeError" in found.detail
    for junk in ('{"format": 2}', "[]", "null", '"x"'):
        path.write_text(junk)
        assert lookup(path, key).status == "corrupt", junk


def test_an_edited_metric_breaks_the_digest(tmp_path):
    key = run_key(PLAN, "code")
    path = tmp_path / "r.json"
    write_record(path, _record(key))
    d = json.loads(path.read_text())
    d["result"]["members"][0]["metrics"]["final_return"] = 99.0  # still valid JSON, still a record's shape
    path.write_text(json.dumps(d))
    found = lookup(path, key)
    assert found.status == "corrupt" and "digest" in found.detail


def test_missing_and_a_record_of_another_run(tmp_path):
    key = run_key(PLAN, "code")
    path = tmp_path / "r.json"
    assert lookup(path, key).status == "missing"
    write_record(path, _record(key))
    assert lookup(path, run_key(PLAN, "other")).status == "corrupt"


@pytest.mark.parametrize("change", [dict(agent="harness.agents.sac"), dict(config=Cfg(width=128)),
                                    dict(seeds=(0, 2)), dict(device="cuda")])
def test_key_changes_with_every_input(change):
    assert run_key(PLAN, "code") == run_key(Plan(**{**PLAN.__dict__}), "code")
    assert run_key(Plan(**{**PLAN.__dict__, **change}), "code") != run_key(PLAN, "code")
    assert run_key(PLAN, "code2") != run_key(PLAN, "code")


def test_atomic_write_leaves_no_partial_file(tmp_path):
    path = tmp_path / "a.json"
    atomic_write_json(path, {"x": 1})
    with pytest.raises(TypeError):
        atomic_write_json(path, {"x": object()})
    assert json.loads(path.read_text()) == {"x": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_a_records_provenance_names_the_cpu_kind_that_made_it():
    from harness.records import cpu_kind, provenance
    kind = cpu_kind()
    assert "; torch " in kind and provenance(1.0, [])["cpu"] == kind
