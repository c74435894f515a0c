"""harness.budget: params.yaml validated by its schema (every bad value named by its dotted location), the lazy
"missing" errors, and check_config on agent Configs."""
from __future__ import annotations

import copy
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from harness.budget import HARNESS_KEYS, LEVEL_MODES, Budget, Params, ParamsError, Settings, check_config

ROOT = Path(__file__).parents[1]
TOY = Path(__file__).parent / "toy"


def write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def toy(**top) -> dict:
    data = yaml.safe_load((TOY / "params.yaml").read_text())
    data.update(top)
    return data


def load_edited(tmp_path: Path, edit) -> Params:
    data = toy(execution={"executor": "local"})
    edit(data)
    return Params.load(write(tmp_path, data))


# --- bad values: one ParamsError naming the dotted location, what was found, what is expected, an example ----

def _set(*keys, value):
    def edit(d):
        node = d
        for k in keys[:-1]:
            node = node.setdefault(k, {})
        node[keys[-1]] = value
    return edit


BAD = [
    (_set("budgets", "smoke", "seeds", value="two"),
     "budgets.smoke.seeds is 'two'; seeds must be an integer >= 1, e.g. `seeds: 2`"),
    (_set("budgets", "smoke", "seeds", value=2.9), "budgets.smoke.seeds is 2.9; seeds must be an integer >= 1"),
    (_set("budgets", "smoke", "seeds", value=True), "budgets.smoke.seeds is True; seeds must be an integer >= 1"),
    (_set("budgets", "smoke", "seeds_per_unit", value=0), "budgets.smoke.seeds_per_unit is 0; seeds_per_unit must"),
    (_set("budgets", "smoke", "plumbing_only", value="false"),
     "budgets.smoke.plumbing_only is 'false' (a string: write it without quotes); plumbing_only must be true or false"),
    (_set("budgets", "smoke", "levels", value="some"), "budgets.smoke.levels is 'some'; levels must be 'all' or "
                                                       "'extremes', e.g. `levels: all`"),
    (_set("budgets", "smoke", "colour", value=3), "budgets.smoke.colour is not a key of budgets.smoke (found "
                                                  "`colour: 3`); the keys there are seeds, seeds_per_unit"),
    (_set("budgets", "smoke", value=None), "budgets.smoke is null; budgets.<name> must be a mapping"),
    (_set("claims", "toy_trend", "quick", "seeds_per_unit", value=0),
     "claims.toy_trend.quick.seeds_per_unit is 0; seeds_per_unit must be an integer >= 1"),
    (_set("claims", "toy_trend", "quick", "seeds", value=1.5),
     "claims.toy_trend.quick.seeds is 1.5; seeds must be an integer >= 1"),
    (_set("claims", "toy_trend", "quick", "levels", value="some"),
     "claims.toy_trend.quick.levels is 'some'; levels must be 'all', 'extremes' or a list of at least 2 axis values"),
    (_set("claims", "toy_trend", "quick", "levels", value=[1]), "claims.toy_trend.quick.levels is [1]; levels must"),
    (_set("claims", "toy_trend", "quick", "levels", value=4), "claims.toy_trend.quick.levels is 4; levels must"),
    (_set("claims", "toy_trend", "quick", "minutes", value="soon"),
     "claims.toy_trend.quick.minutes is 'soon'; minutes must be a number >= 0"),
    (_set("claims", "toy_trend", "quick", "minutes", value=-1), "claims.toy_trend.quick.minutes is -1; minutes must"),
    (_set("claims", "toy_trend", "quick", value=3), "claims.toy_trend.quick is 3; claims.<id>.<budget> must be a "
                                                     "mapping"),
    (_set("claims", "toy_trend", "agent", value=7), "claims.toy_trend.agent is 7; agent must be the name of a module"),
    (lambda d: d["claims"]["toy_trend"].pop("agent"), "missing `claims.toy_trend.agent`; add it, e.g. `agent: sac`"),
    (_set("verdict", "alpha", value=2), "verdict.alpha is 2; alpha must be a number strictly between 0 and 1, e.g. "
                                        "`alpha: 0.05`"),
    (_set("verdict", "alpha", value="0.05"), "verdict.alpha is '0.05' (a string: write it without quotes)"),
    (_set("verdict", "permutations", value=-1), "verdict.permutations is -1; permutations must be an integer >= 1"),
    (_set("verdict", "permutations", value=99.5), "verdict.permutations is 99.5; permutations must be an integer"),
    (_set("verdict", "colour", value=1), "verdict.colour is not a key of verdict"),
    (_set("execution", "workers", value=0), "execution.workers is 0; workers must be an integer >= 1"),
    (_set("execution", "workers", value="many"), "execution.workers is 'many'; workers must be an integer >= 1"),
    (_set("execution", "executor", value="slurm"), "execution.executor is 'slurm'; executor must be 'local' or "
                                                   "'ray', e.g. `executor: local`"),
    (_set("execution", "ray_address", value=5), "execution.ray_address is 5; ray_address must be a string"),
    (_set("budget", value=None), "budget is null; budget must be the name of a budget"),
    (_set("budgte", value="quick"), "budgte is not a key of params.yaml's top level"),
]


@pytest.mark.parametrize("edit,message", BAD, ids=[m.split(" ")[0] + f"-{i}" for i, (_, m) in enumerate(BAD)])
def test_bad_values_name_their_location(tmp_path, edit, message):
    with pytest.raises(ParamsError) as e:
        load_edited(tmp_path, edit)
    text = str(e.value)
    assert message in text, text
    assert text.startswith(f"{tmp_path / 'params.yaml'}: "), text
    assert "\n\n" not in text, f"one problem, one paragraph: {text}"


def test_every_problem_is_reported_once_in_its_own_paragraph(tmp_path):
    def edit(d):
        d["budgets"]["smoke"]["seeds"] = "two"
        d["verdict"]["alpha"] = 2
        d["claims"]["toy_trend"]["quick"].update(levels="some", seeds=0)
    with pytest.raises(ParamsError) as e:
        load_edited(tmp_path, edit)
    paragraphs = str(e.value).split("\n\n")
    assert [p.split(": ", 1)[1].split(" ", 1)[0] for p in paragraphs] == [
        "verdict.alpha", "budgets.smoke.seeds", "claims.toy_trend.quick.seeds", "claims.toy_trend.quick.levels"]


def test_agent_settings_are_free(tmp_path):
    """Keys of claims.<id>.<budget> other than the harness keys are the agent's: any value passes here."""
    params = load_edited(tmp_path, _set("claims", "toy_trend", "quick", "colour", value={"any": ["thing", 1.5]}))
    settings = params.settings("toy_trend", "quick")
    assert settings.to_dict()["colour"] == {"any": ["thing", 1.5]}
    assert "colour" in settings and "nothing" not in settings  # `in` asks, it does not raise


def test_harness_keys_accept_null_as_unset(tmp_path):
    params = load_edited(tmp_path, lambda d: d["claims"]["toy_trend"]["quick"].update(
        seeds=None, seeds_per_unit=None, levels=None, minutes=None))
    quick = params.budget("quick")
    assert params.claim_budget("toy_trend", quick) == quick
    assert params.expected_minutes("toy_trend", "quick") is None


# --- the messages tests/test_plugin.py relies on -------------------------------------------------------------

@pytest.mark.parametrize("edit,call,message", [
    (lambda d: d["claims"].pop("toy_trend"), lambda p: p.settings("toy_trend", "quick"),
     "claim 'toy_trend' is not in the claims list"),
    (lambda d: d["claims"]["toy_trend"].pop("quick"), lambda p: p.settings("toy_trend", "quick"),
     "missing `claims.toy_trend.quick`"),
    (lambda d: d["budgets"]["quick"].pop("seeds"), lambda p: p.budget("quick"), "missing `budgets.quick.seeds`"),
    (lambda d: d.update(budget="huge"), lambda p: p.budget(), "unknown budget 'huge'"),
    (lambda d: d["claims"]["toy_trend"]["quick"].update(seeds_per_unit=0), lambda p: p.budget(),
     "seeds_per_unit must be an integer >= 1"),
    (lambda d: d["claims"]["toy_trend"]["quick"].update(levels="some", seeds=0), lambda p: p.budget(),
     "seeds must be an integer >= 1"),
])
def test_messages_that_other_tests_rely_on(tmp_path, edit, call, message):
    with pytest.raises(ParamsError, match=message.replace("(", r"\(")):
        call(load_edited(tmp_path, edit))


def test_missing_sections_fail_only_when_needed(tmp_path):
    params = Params.load(write(tmp_path, {"budget": "quick", "budgets": toy()["budgets"]}))
    assert params.budget() == Budget("quick", seeds=4, seeds_per_unit=2, levels="all", plumbing_only=False)
    assert params.permutations == 9999
    with pytest.raises(ParamsError, match=r"missing `verdict`"):
        params.alpha
    with pytest.raises(ParamsError, match=r"missing `claims`"):
        params.claims
    with pytest.raises(ParamsError, match=r"missing `claims`"):
        params.settings("toy_trend")
    params = Params.load(write(tmp_path, {"budgets": toy()["budgets"], "verdict": {"permutations": 99}}))
    with pytest.raises(ParamsError, match=r"missing `budget`"):
        params.budget()
    with pytest.raises(ParamsError, match=r"missing `verdict.alpha`"):
        params.alpha
    assert params.budget("smoke").plumbing_only is True and params.permutations == 99


# --- good params.yaml: loaded unchanged, the same values as before ------------------------------------------

def _old_budget(raw: dict, name: str) -> Budget:
    """What Params.budget returned before the schema (for a well-formed entry)."""
    b = raw["budgets"][name]
    return Budget(name=name, seeds=int(b["seeds"]), seeds_per_unit=int(b["seeds_per_unit"]),
                  levels=str(b.get("levels", "all")), plumbing_only=bool(b.get("plumbing_only", False)))


@pytest.mark.parametrize("source", [ROOT / "params.yaml", TOY / "params.yaml"], ids=["project", "toy"])
def test_good_params_load_unchanged(tmp_path, source):
    shutil.copy(source, tmp_path / "params.yaml")
    raw = yaml.safe_load(source.read_text())
    params = Params.load(tmp_path / "params.yaml")
    assert params.data == raw
    assert params.active_budget == raw["budget"]
    assert params.alpha == raw["verdict"]["alpha"] and params.permutations == raw["verdict"]["permutations"]
    assert params.claims == list(raw["claims"])
    for name in raw["budgets"]:
        budget = params.budget(name)
        assert budget == _old_budget(raw, name)
        for claim in raw["claims"]:
            entry = raw["claims"][claim].get(name)
            if entry is None:
                continue
            overrides = {k: entry[k] for k in ("seeds", "seeds_per_unit") if k in entry}
            if "levels" in entry:
                overrides["levels"] = tuple(entry["levels"]) if isinstance(entry["levels"], list) else entry["levels"]
            assert params.claim_budget(claim, budget) == Budget(**{**budget.__dict__, **overrides})
            assert params.settings(claim, name).to_dict() == {k: v for k, v in entry.items() if k not in HARNESS_KEYS}
            assert params.expected_minutes(claim, name) == entry.get("minutes")


def test_project_values():
    params = Params.load(ROOT / "params.yaml")
    assert params.budget("smoke") == Budget("smoke", 2, 2, "extremes", True)
    dreamer = params.claim_budget("dreamer_size", params.budget("quick"))
    assert dreamer == Budget("quick", seeds=3, seeds_per_unit=1, levels=("XS", "S", "M"), plumbing_only=False)
    assert params.claim_budget("ada_size", params.budget("quick")).seeds_per_unit == 1
    assert LEVEL_MODES == ("all", "extremes")


# --- check_config -------------------------------------------------------------------------------------------

@dataclass
class C:
    steps: int = 1
    lr: float = 1e-3
    name: str = "x"
    tasks: tuple[str, ...] = ("a",)
    opt: int | None = None


@dataclass
class Outer:
    inner: C = field(default_factory=C)
    width: int = 4


def test_check_config_accepts_good_values():
    empty = Settings("claims.c.quick", {})
    for cfg in (C(), C(steps=10, lr=1, name="y", tasks=("a", "b"), opt=None), C(tasks=["a", "b"], opt=3),
                Outer(), Outer(inner=C(lr=2))):
        check_config(cfg, empty, "test_c.py::test_c")


@pytest.mark.parametrize("kwargs,message", [
    ({"steps": 2.0}, "C.steps is 2.0 (float), but it must be an int"),
    ({"steps": True}, "C.steps is True (bool), but it must be an int"),
    ({"lr": "0.1"}, "C.lr is '0.1' (str), but it must be a float"),
    ({"name": 3}, "C.name is 3 (int), but it must be a str"),
    ({"tasks": "ab"}, "C.tasks is 'ab' (str), but it must be a tuple[str, ...]"),
    ({"tasks": ("a", 1)}, "C.tasks is ('a', 1) (tuple), but it must be a tuple[str, ...]"),
    ({"opt": 1.5}, "C.opt is 1.5 (float), but it must be an int or None"),
])
def test_check_config_rejects_wrong_types(kwargs, message):
    with pytest.raises(ParamsError, match=r"^test_c\.py::test_c: test_budget\.C\.") as e:
        check_config(C(**kwargs), Settings("claims.c.quick", {}), "test_c.py::test_c")
    assert message in str(e.value)
    assert "params.yaml: " not in str(e.value), "no setting holds the value"


def test_check_config_names_the_setting_it_came_from():
    settings = Settings("claims.c.quick", {"steps": "ten", "rate": "1e-3", "tasks": ["a", 2]})
    with pytest.raises(ParamsError) as e:
        check_config(C(steps=settings.steps, lr=settings.rate, tasks=tuple(settings.tasks)), settings, "here")
    paragraphs = str(e.value).split("\n\n")
    assert paragraphs == [
        "here: params.yaml: claims.c.quick.steps is 'ten', but test_budget.C.steps is an int: write `steps: 1`",
        "here: params.yaml: claims.c.quick.rate is '1e-3' (a string: YAML reads a number like 1e-3 as text; write "
        "0.001 or 1.0e-3), but test_budget.C.lr is a float (an int will do): write `rate: 0.001`",
        "here: params.yaml: claims.c.quick.tasks is ('a', 2), but test_budget.C.tasks is a tuple[str, ...] (a list "
        "in params.yaml): write `tasks: [a]`",
    ]
    assert settings.unread() == [], "check_config reads no setting itself"


def test_check_config_nested_dataclass_and_nested_setting():
    settings = Settings("claims.c.quick", {"inner": {"steps": "ten"}, "steps": 5})
    with pytest.raises(ParamsError, match=r"params.yaml: claims\.c\.quick\.inner\.steps is 'ten', but "
                                          r"test_budget\.Outer\.inner\.steps is an int"):
        check_config(Outer(inner=C(**settings.inner)), settings, "here")
    with pytest.raises(ParamsError, match=r"Outer\.inner is \{'steps': 1\} \(dict\), but it must be a C"):
        check_config(Outer(inner={"steps": 1}), Settings("claims.c.quick", {}), "here")


def test_real_agent_configs_pass():
    """Every unit the project's claims plan at the quick budget has a Config that matches its annotations."""
    from harness.design import build_all
    params = Params.load(ROOT / "params.yaml")
    designs = build_all(params, params.budget("quick"), "cpu")
    configs = [u.plan.config for d in designs.values() for u in d.units]
    assert {type(c).__module__ for c in configs} >= {"harness.agents.sac", "harness.agents.ppo", "harness.agents.ada",
                                                     "harness.agents.dreamer", "harness.agents.dt"}
    for cfg in configs:
        check_config(cfg, Settings("", {}), "quick")
