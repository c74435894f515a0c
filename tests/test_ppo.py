"""harness.agents.ppo: seed-vectorized PPO. Fast tests (about 30 s in all) plus one `slow` validation test."""
import dataclasses
import math

import numpy as np
import pytest
import torch

from harness import nn as enn
from harness.agents import ppo
from harness.agents.common import gae
from harness.result import RunResult
from patching import skip_first_evaluation

torch.set_num_threads(1)

# Two updates of 4 envs x 64 steps per member: about a second.
TINY = ppo.Config(env_id="CartPole-v1", steps=512, num_envs=4, rollout=64, eval_every=256, eval_episodes=2, width=32)


@pytest.fixture(scope="module")
def reference():
    """Three members trained without any injected fault (shared by several tests)."""
    return ppo.train_agent(TINY, [0, 1, 2])


def _same_state(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_runs_are_deterministic_on_cpu(reference):
    res, agent = reference
    again, agent2 = ppo.train_agent(TINY, [0, 1, 2])
    assert res.to_dict()["members"] == [
        {**m, "wall_time": a["wall_time"]} for m, a in zip(again.to_dict()["members"], res.to_dict()["members"])]
    assert _same_state(enn.member_state(agent, 0, 3), enn.member_state(agent2, 0, 3))


def test_member_of_an_ensemble_matches_a_single_run_with_its_seed(reference):
    """Member 1 of 3 vs a 1-member run of seed 1. Not bit-identical (batched matmuls over 3 vs 1 members
    round differently): parameters within 1e-4 absolute, losses within 1e-3 relative."""
    res3, agent3 = reference
    res1, agent1 = ppo.train_agent(TINY, [1])
    s3, s1 = enn.member_state(agent3, 1, 3), enn.member_state(agent1, 0, 1)
    for name in s1:
        torch.testing.assert_close(s3[name], s1[name], rtol=0, atol=1e-4, msg=name)
    for k, v in res1.members[0].extra["last_losses"].items():
        assert res3.members[1].extra["last_losses"][k] == pytest.approx(v, rel=1e-3, abs=1e-6), k
    assert res3.members[1].curve_returns == pytest.approx(res1.members[0].curve_returns, rel=1e-3)


def test_nan_in_member_1_freezes_it_and_leaves_the_others_bit_identical(reference):
    clean, clean_agent = reference
    faulty, faulty_agent = ppo.train_agent(dataclasses.replace(TINY, _inject_nan_at=(1, 2)), [0, 1, 2])
    bad = faulty.members[1]
    assert bad.diverged and bad.diverged_step == 512  # detected in update 2, after its second rollout
    assert math.isnan(bad.metrics["final_return"]) and math.isnan(bad.curve_returns[-1])
    assert bad.curve_returns[:2] == clean.members[1].curve_returns[:2]  # step 0 and 256: before it diverged
    assert bad.initial["final_return"] == bad.curve_returns[0] and math.isfinite(bad.curve_returns[0])
    assert bad.env_steps == 512 and all(torch.isfinite(p).all() for p in enn.member_state(faulty_agent, 1, 3).values())
    for i in (0, 2):
        assert faulty.members[i].curve_returns == clean.members[i].curve_returns
        assert not faulty.members[i].diverged
        assert _same_state(enn.member_state(faulty_agent, i, 3), enn.member_state(clean_agent, i, 3))


def test_result_fields_and_json_round_trip(reference):
    res, _ = reference
    m = res.members[0]
    assert m.env_steps == 512 and m.updates == 2 * TINY.epochs * TINY.minibatches
    assert m.curve_steps == [0, 256, 512] and m.params["total"] == m.params["actor"] + m.params["critic"]
    assert m.metrics["initial_return"] == m.curve_returns[0]  # the untrained policy
    assert m.metrics["auc_return"] == pytest.approx(np.mean(m.curve_returns[1:]))
    assert m.initial == {"final_return": m.curve_returns[0], "auc_return": m.curve_returns[0]}
    # actor 4->32->32->2 and critic 4->32->32->1, weights and biases
    assert m.params["actor"] == (4 * 32 + 32) + (32 * 32 + 32) + (32 * 2 + 2)
    assert m.flops == (2 + 6 * TINY.epochs) * m.params["total"] * 512
    assert RunResult.from_dict(res.to_dict()).to_dict() == res.to_dict()


def test_the_step_0_evaluation_leaves_training_unchanged(reference, monkeypatch):
    """The same run with the step-0 evaluation skipped (not run at all): the later evaluations, the losses and
    the final weights are bit-identical, so evaluating the untrained policy draws from no training stream."""
    clean, clean_agent = reference
    calls = skip_first_evaluation(monkeypatch, ppo, lambda act, env_id, seeds, episodes: np.zeros(len(seeds)))
    res, agent = ppo.train_agent(TINY, [0, 1, 2])
    assert len(calls) == 3
    for i in range(3):
        assert res.members[i].curve_returns[1:] == clean.members[i].curve_returns[1:]
        assert res.members[i].extra == clean.members[i].extra
        assert _same_state(enn.member_state(agent, i, 3), enn.member_state(clean_agent, i, 3))


def test_gae_matches_a_direct_sum_and_stops_at_episode_ends():
    gamma, lam = 0.9, 0.8
    r = torch.tensor([1.0, 2.0, 3.0, 4.0])
    v = torch.tensor([0.5, 0.1, -0.2, 0.3])
    d = torch.tensor([0.0, 1.0, 0.0, 0.0])  # the episode ends after step 1
    nv = torch.tensor(0.7)
    adv = gae(r, v, d, nv, gamma, lam)
    deltas = [r[0] + gamma * v[1] - v[0], r[1] - v[1], r[2] + gamma * v[3] - v[2], r[3] + gamma * nv - v[3]]
    expect = [deltas[0] + gamma * lam * deltas[1], deltas[1],
              deltas[2] + gamma * lam * deltas[3], deltas[3]]
    torch.testing.assert_close(adv, torch.stack(expect))


def test_the_episode_limit_applies_to_evaluation():
    cfg = dataclasses.replace(TINY, max_episode_steps=5, steps=256, num_envs=2, rollout=128)
    assert ppo.train(cfg, [0]).members[0].curve_returns == [5.0, 5.0]  # step 0 and the end


def test_continuous_actions_train_and_stay_finite():
    res = ppo.train(ppo.Config(env_id="Pendulum-v1", steps=512, num_envs=2, rollout=128, eval_every=512,
                               eval_episodes=1, width=16), [0, 1])
    assert all(math.isfinite(m.metrics["final_return"]) for m in res.members)
    assert res.members[0].params["actor"] == (3 * 16 + 16) + (16 * 16 + 16) + (16 + 1) + 1  # + log_std


def test_minatar_observations_are_flattened_and_seeded():
    cfg = ppo.Config(env_id="MinAtar/Breakout-v1", steps=256, num_envs=2, rollout=128, eval_every=256,
                     eval_episodes=1, width=16, max_episode_steps=200)
    a, b = ppo.train(cfg, [3]), ppo.train(cfg, [3])
    assert a.members[0].params["actor"] == 400 * 16 + 16 + 16 * 16 + 16 + 16 * 3 + 3
    assert a.members[0].curve_returns == b.members[0].curve_returns


@pytest.mark.parametrize("bad, match", [(dict(minibatches=3), "divisible"), (dict(width=0), "width")])
def test_config_errors_say_what_is_wrong(bad, match):
    with pytest.raises(ValueError, match=match):
        dataclasses.replace(TINY, **bad)


# Random CartPole-v1 scores 22 (harness.envs.random_score, 100 episodes). The validated commit reaches
# CANARY_VALIDATED with CANARY on seeds 0 and 1; the margin is halfway between the two.
CANARY = ppo.Config(env_id="CartPole-v1", steps=20_480, eval_every=10_240, eval_episodes=5)
CANARY_RANDOM, CANARY_VALIDATED = 22.0, 117.0  # validated: 82.8 and 151.5


def test_canary_cartpole_learns():
    res = ppo.train(CANARY, [0, 1])
    final = np.mean([m.metrics["final_return"] for m in res.members])
    assert final >= (CANARY_RANDOM + CANARY_VALIDATED) / 2, final


@pytest.mark.slow
def test_cartpole_reaches_475_within_100k_steps_on_4_of_5_seeds():
    """The validation config: the defaults (CleanRL's) with 100k env steps, evaluated every 10k steps on 10
    episodes; a seed passes when its final evaluations (mean of the last two) reach 475.

    Measured with this version (seeds 0-4, 31 s on the 2-core build machine, one thread):
    384.9, 500.0, 481.9, 479.6, 497.9 (4 of 5 pass).
    """
    res = ppo.train(ppo.Config(env_id="CartPole-v1", steps=100_000, eval_every=10_000, eval_episodes=10), range(5))
    finals = [m.metrics["final_return"] for m in res.members]
    assert sum(f >= 475 for f in finals) >= 4, finals
