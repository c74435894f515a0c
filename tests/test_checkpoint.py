"""Resumable units (harness/checkpoint.py): an interrupted unit resumes from its checkpoint and returns, bit
for bit, the record an uninterrupted run returns; the store writes atomically and never trusts a bad file.

Per agent that resumes (``RESUMABLE``), a worker process is killed with SIGKILL at a random moment after its
first checkpoint, and the run is resumed here; through the harness, the toy claim is killed mid-run and run
again: it says it resumes, its records equal an uninterrupted run's, and no checkpoint is left behind.
"""
import json
import os
import pickle
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from harness import checkpoint, offline
from harness import lm
from harness.agents import ada, alphazero, dqn, dreamer, dt, muzero, ppo, rlhf, rlhf_ppo, sac, toy
from test_execute import command, environ, project, records, set_sleep, wait_for  # noqa: F401 - project: a fixture

ROOT = Path(__file__).resolve().parents[1]

# Each agent that saves checkpoints, with a config that trains in a few seconds: (module, config, seeds).
RESUMABLE = {
    "ada": (ada, ada.Config(task="bandits", arms=8, pool=4, steps=24 * 8 * 20, num_envs=8, rollout=20, width=16,
                            heads=2, context=6, eval_every=8 * 8 * 20, eval_tasks=20), [0, 1]),
    "alphazero": (alphazero, alphazero.Config(width=8, iterations=6, games_per_iteration=16, simulations=8,
                                              updates_per_iteration=10, eval_every=3, eval_games=8,
                                              anchor_rollout_sims=(8,), anchor_solver=False, ladder_games=20),
                  [0]),  # one seed here; a unit of several seeds resumed in its first seed: the test below
    "dqn": (dqn, dqn.Config(env_id="MinAtar/Breakout-v1", steps=1500, learning_starts=100, eps_decay=300,
                            target_update=50, eval_every=300, eval_episodes=2, width=32, max_episode_steps=200),
            [0, 1]),
    "dreamer": (dreamer, dreamer.Config(size="XS", steps=600, prefill=100, batch=4, seq_len=16, train_ratio=16,
                                        eval_every=200, eval_episodes=1, max_episode_steps=100), [0, 1]),
    "dt": (dt, dt.Config(size="XS", steps=400, batch=8, context=4, eval_episodes=1,
                         data=offline.DataConfig(games=("Breakout", "Freeway"), transitions=300, expert_steps=1024,
                                                 medium_steps=1024, max_episode_steps=60)),
           [0, 1]),  # seeds one after another (harness/resume.py)
    "muzero": (muzero, muzero.Config(steps=640, envs=16, simulations=8, batch_size=32, updates_per_step=2,
                                     learning_starts=160, eval_every=320, eval_episodes=2, width=16, reanalyse=0.25),
               [0, 1]),
    "ppo": (ppo, ppo.Config(env_id="MinAtar/Breakout-v1", steps=8192, num_envs=4, rollout=64, eval_every=2048,
                            eval_episodes=2, width=16, max_episode_steps=200), [0, 1]),
    "rlhf": (rlhf, rlhf.Config(policy="XS", rm_size="XS", pretrain=lm.Config(steps=50, batch=16, documents=2000,
                                                                          val_documents=100),
                               pairs=320, val_pairs=50, rm_epochs=2, rm_batch=16, pool=500, max_n=64), [0, 1]),
    "rlhf_ppo": (rlhf_ppo, rlhf_ppo.Config(proxy=rlhf.Config(policy="XS", rm_size="XS", pretrain=lm.Config(
        steps=50, batch=16, documents=2000, val_documents=100), pairs=160, val_pairs=50, rm_epochs=1, rm_batch=16,
        pool=500, max_n=64), iterations=6, batch=32, minibatches=2), [0, 1]),
    "sac": (sac, sac.Config(env_id="InvertedDoublePendulum-v5", steps=1500, learning_starts=200, eval_every=500,
                            eval_episodes=2, batch_size=32, critic_width=32, actor_width=32), [0, 1]),
    "toy": (toy, toy.Config(size=4, sleep=2.0), [0, 1, 2]),
}


def _members(result) -> list[dict]:
    return [{k: v for k, v in m.items() if k != "wall_time"} for m in result.to_dict()["members"]]


# --- the store ------------------------------------------------------------------------------------------------

def test_outside_a_unit_nothing_is_saved_or_loaded(tmp_path):
    ck = checkpoint.current()
    assert ck.path is None and not ck.due() and ck.load() is None
    ck.save({"step": 1})  # a no-op
    assert not list(tmp_path.iterdir())


def test_a_saved_state_loads_with_its_shared_objects_and_random_streams(tmp_path):
    g = torch.Generator().manual_seed(3)
    net = torch.nn.Linear(2, 2)
    with checkpoint.saving(tmp_path / "u.ckpt", 0.0) as ck:
        assert ck.due()
        ck.save({"step": 7, "net": net, "params": list(net.parameters()), "gen": g})
        assert not ck.due() or ck.every_s == 0.0
    expected = torch.rand(3, generator=g)
    with checkpoint.saving(tmp_path / "u.ckpt", 60.0) as ck:
        state = ck.load()
        assert ck.resumed_step == 7 and not ck.due()
    assert state["params"][0] is state["net"].weight  # one pickle: what was shared stays shared
    assert torch.equal(torch.rand(3, generator=state["gen"]), expected)


def test_a_failed_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "u.ckpt"
    ck = checkpoint.Checkpoint(path, 0.0)
    ck.save({"step": 1})

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(checkpoint.pickle, "dump", full_disk)
    with pytest.raises(OSError):
        ck.save({"step": 2})
    assert [p.name for p in tmp_path.iterdir()] == ["u.ckpt"]  # no temporary file left
    assert checkpoint.Checkpoint(path).load()["step"] == 1


@pytest.mark.parametrize("content", [b"", b"\x80\x05truncated", pickle.dumps([1, 2]), pickle.dumps({"no": "step"})])
def test_an_unreadable_checkpoint_is_removed_and_the_unit_starts_afresh(tmp_path, capsys, content):
    path = tmp_path / "u.ckpt"
    path.write_bytes(content)
    ck = checkpoint.Checkpoint(path, 60.0)
    assert ck.load() is None and ck.resumed_step is None
    assert not path.exists()
    assert f"checkpoint {path} is unreadable" in capsys.readouterr().err


def test_a_negative_interval_is_refused():
    with pytest.raises(ValueError, match=">= 0 seconds"):
        checkpoint.Checkpoint("x.ckpt", -1.0)


# --- each agent: killed at a random moment, resumed bit for bit ------------------------------------------------

CHILD = """
import sys, torch
torch.set_num_threads(1)
from harness import checkpoint
from test_checkpoint import RESUMABLE
module, cfg, seeds = RESUMABLE[sys.argv[1]]
with checkpoint.saving(sys.argv[2], 0.05):
    module.train(cfg, seeds)
print("finished")
"""


@pytest.mark.usefixtures("lm_cache")  # the RLHF agents' pretrained LMs, built once (tests/conftest.py)
@pytest.mark.parametrize("agent", sorted(RESUMABLE))
def test_a_unit_killed_at_a_random_moment_resumes_to_the_same_result(agent, tmp_path, monkeypatch):
    module, cfg, seeds = RESUMABLE[agent]
    monkeypatch.setenv("HARNESS_DATA", str(tmp_path / "data"))  # dt's dataset, built by the first run
    torch.set_num_threads(1)
    start = time.perf_counter()
    reference = module.train(cfg, seeds)
    duration = time.perf_counter() - start
    path = tmp_path / f"{agent}.ckpt"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")])}
    child = subprocess.Popen([sys.executable, "-c", CHILD, agent, str(path)], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    wait_for(lambda: path.exists() or child.poll() is not None, timeout=120)
    delay = random.Random().uniform(0.0, 0.6 * duration)  # a random moment after the first checkpoint
    time.sleep(delay)
    assert child.poll() is None, f"the run finished before the kill ({delay:.2f} s after its first checkpoint)"
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    with checkpoint.saving(path, 3600.0) as ck:
        resumed = module.train(cfg, seeds)
    assert ck.resumed_step is not None, "nothing was resumed"
    assert _members(resumed) == _members(reference), f"killed {delay:.2f} s after the first checkpoint, resumed " \
                                                     f"after step {ck.resumed_step}"


# the agents that train their seeds in turn
@pytest.mark.usefixtures("lm_cache")
@pytest.mark.parametrize("agent", ["ada", "alphazero", "dreamer", "dt", "muzero", "rlhf", "rlhf_ppo"])
def test_a_unit_of_several_seeds_resumed_in_its_first_seed_gives_the_same_result(agent, tmp_path, monkeypatch):
    module, cfg, _ = RESUMABLE[agent]
    monkeypatch.setenv("HARNESS_DATA", str(tmp_path / "data"))
    torch.set_num_threads(1)
    reference = module.train(cfg, [0, 1])
    path = tmp_path / f"{agent}.ckpt"
    with checkpoint.saving(path, 0.0):  # a checkpoint after every iteration; the last one is in seed 0's run
        module.train(cfg, [0])
    with checkpoint.saving(path, 3600.0) as ck:
        resumed = module.train(cfg, [0, 1])
    per_member = {"ada": lambda: cfg.updates, "rlhf": lambda: rlhf.proxy_steps(cfg),
                  "rlhf_ppo": lambda: rlhf_ppo.steps_per_member(cfg)}.get(
        agent, lambda: getattr(cfg, "iterations", getattr(cfg, "steps", None)))()
    assert ck.resumed_step == per_member - 1
    assert _members(resumed) == _members(reference)


# --- through the harness ------------------------------------------------------------------------------------

def test_an_interrupted_claim_resumes_its_units_and_leaves_no_checkpoint(project, tmp_path):
    set_sleep(project, 1.0)
    ckpts = project / "results" / "quick" / ".checkpoints"
    proc = subprocess.Popen(command("--workers", "1", "--no-verdicts", "--checkpoint-minutes", "0.005"),
                            cwd=project, env=environ(project), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    wait_for(lambda: any(ckpts.glob("*.ckpt")), timeout=120)
    os.killpg(proc.pid, signal.SIGKILL)  # the machine is lost: the driver and its unit at once
    proc.communicate(timeout=30)
    assert any(ckpts.glob("*.ckpt")) and not records(project)
    again = subprocess.run(command("--workers", "1", "--no-verdicts", "--checkpoint-minutes", "0.005"), cwd=project,
                           env=environ(project), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stdout
    assert "(resuming from its checkpoint of" in again.stdout + again.stderr
    assert not list(ckpts.glob("*")), "a checkpoint outlived its record"
    resumed = [json.loads(p.read_text())["provenance"].get("resumed_after_step")
               for p in sorted((project / "results" / "quick" / "runs" / "toy").glob("*.json"))]
    assert sum(r is not None for r in resumed) == 1
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    subprocess.run(command("--workers", "1", "--no-verdicts", "--results", str(fresh), "--checkpoint-minutes", "0"),
                   cwd=project, env=environ(project), capture_output=True, text=True, timeout=300, check=True)
    assert records(project) == records(project, str(fresh))


def test_checkpoint_minutes_must_be_a_number_of_at_least_zero(project):
    r = subprocess.run(command("--checkpoint-minutes", "-1"), cwd=project, env=environ(project), capture_output=True,
                       text=True, timeout=120)
    assert r.returncode != 0 and "--checkpoint-minutes must be a number >= 0" in r.stdout + r.stderr
