"""harness.agents.sac: seed-vectorized SAC. Fast tests (< ~40 s in all) plus one `slow` validation test."""
import dataclasses
import json
import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from harness import nn as enn
from harness.agents import sac
from harness.result import RunResult
from patching import skip_first_evaluation

torch.set_num_threads(1)

# A tiny configuration: 300 updates per member in about a second.
TINY = sac.Config(env_id="Pendulum-v1", steps=400, eval_every=100, eval_episodes=2, learning_starts=100,
                  batch_size=64, critic_width=32, actor_width=32)
BLOCKS = ["mlp", "simba"]


def _tiny(block: str, **kw) -> sac.Config:
    return dataclasses.replace(TINY, block=block, **kw)


def _same_state(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module", params=BLOCKS)
def reference(request):
    """Four members trained without any injected fault (shared by several tests)."""
    return request.param, sac.train_agent(_tiny(request.param), [0, 1, 2, 3])


@pytest.mark.parametrize("block", BLOCKS)
def test_member_of_an_ensemble_matches_a_single_run_with_its_seed(block):
    """Member 1 of a 3-member ensemble vs a 1-member run with the same seed, after 300 updates.

    Tolerance: parameters within 1e-4 absolute and evaluation returns within 1e-3 relative. The runs
    are not bit-identical (batched matmuls over 3 vs 1 members round differently); measured here:
    max parameter difference 3e-7 (mlp) and 1.2e-6 (simba), returns equal to 1e-7 relative.
    """
    res3, agent3 = sac.train_agent(_tiny(block), [0, 1, 2])
    res1, agent1 = sac.train_agent(_tiny(block), [1])
    s3, s1 = enn.member_state(agent3, 1, 3), enn.member_state(agent1, 0, 1)
    assert s3.keys() == s1.keys()
    for name in s1:
        torch.testing.assert_close(s3[name], s1[name], rtol=0, atol=1e-4, msg=name)
    np.testing.assert_allclose(res3.members[1].curve_returns, res1.members[0].curve_returns, rtol=1e-3)
    assert res3.members[1].updates == res1.members[0].updates == 300


def test_nan_in_member_2_freezes_it_and_leaves_the_others_bit_identical(reference):
    block, (clean, clean_agent) = reference
    cfg = _tiny(block, _inject_nan_at=(2, 150))  # update 150 happens at env step 100 + 150 = 250
    faulty, faulty_agent = sac.train_agent(cfg, [0, 1, 2, 3])

    bad = faulty.members[2]
    assert bad.diverged and bad.diverged_step == 250
    assert bad.env_steps == 250 and bad.updates == 149  # its env stopped; update 150 was never applied
    assert bad.curve_steps == [0, 100, 200, 300, 400]  # step 0 (untrained), then evaluations at 100, 200
    assert np.isfinite(bad.curve_returns[:3]).all() and np.isnan(bad.curve_returns[3:]).all()
    assert math.isnan(bad.metrics["final_return"]) and bad.initial["final_return"] == bad.curve_returns[0]
    assert bad.curve_returns[:3] == clean.members[2].curve_returns[:3]

    for i in (0, 1, 3):
        assert not faulty.members[i].diverged
        assert faulty.members[i].curve_returns == clean.members[i].curve_returns
        assert _same_state(enn.member_state(faulty_agent, i, 4), enn.member_state(clean_agent, i, 4))

    # The frozen member's own state stays exactly as it was when it froze (optimizer moments included).
    at_freeze = sac.train_agent(dataclasses.replace(cfg, steps=250), [0, 1, 2, 3])[1]
    later, then = enn.member_state(faulty_agent, 2, 4), enn.member_state(at_freeze, 2, 4)
    for name in then:
        torch.testing.assert_close(later[name], then[name], rtol=0, atol=0, equal_nan=True, msg=name)


def test_runs_are_deterministic_on_cpu(reference):
    block, (first, first_agent) = reference
    again, again_agent = sac.train_agent(_tiny(block), [0, 1, 2, 3])
    strip = lambda r: [{k: v for k, v in m.items() if k != "wall_time"} for m in r.to_dict()["members"]]
    assert strip(first) == strip(again)
    for i in range(4):
        assert _same_state(enn.member_state(first_agent, i, 4), enn.member_state(again_agent, i, 4))


def test_result_fields_and_json_round_trip(reference):
    block, (res, agent) = reference
    assert [m.seed for m in res.members] == [0, 1, 2, 3] and res.device == "cpu"
    obs, act, w = 3, 1, 32
    for m in res.members:
        assert m.env_steps == 400 and m.updates == 300 and not m.diverged
        assert m.curve_steps == [0, 100, 200, 300, 400] and len(m.curve_returns) == 5
        assert m.metrics["initial_return"] == m.curve_returns[0]  # the untrained policy
        assert m.metrics["final_return"] == pytest.approx(np.mean(m.curve_returns[-2:]))
        assert m.metrics["auc_return"] == pytest.approx(np.mean(m.curve_returns[1:]))
        assert m.initial == {"final_return": m.curve_returns[0], "auc_return": m.curve_returns[0]}
        if block == "mlp":  # no update before step 100 (learning_starts), and the same evaluation protocol
            assert m.curve_returns[0] == m.curve_returns[1]
        assert m.params["total"] == m.params["actor"] + m.params["critic"]
        assert m.flops == 6.0 * m.params["total"] * TINY.batch_size * m.updates
        assert m.wall_time > 0 and m.extra["alpha"] > 0
    if block == "mlp":  # SB3 MlpPolicy: [w, w] bodies; actor mean and log_std heads; two Q-networks
        body = lambda d_in: d_in * w + w + w * w + w
        assert res.members[0].params == {"actor": body(obs) + 2 * (w * act + act),
                                         "critic": 2 * (body(obs + act) + w + 1),
                                         "total": body(obs) + 2 * (w * act + act) + 2 * (body(obs + act) + w + 1)}
    back = RunResult.from_dict(json.loads(json.dumps(res.to_dict())))
    assert back.members[0].curve_returns == res.members[0].curve_returns
    assert back.config["block"] == block


def test_the_step_0_evaluation_leaves_training_unchanged(reference, monkeypatch):
    """The same run with the step-0 evaluation skipped (not run at all): every later evaluation and every
    member's final state are bit-identical, so evaluating the untrained policy draws from no training stream."""
    block, (clean, clean_agent) = reference
    calls = skip_first_evaluation(monkeypatch, sac, lambda act, env_id, seeds, episodes: np.zeros(len(seeds)))
    res, agent = sac.train_agent(_tiny(block), [0, 1, 2, 3])
    assert len(calls) == 5
    for i in range(4):
        assert res.members[i].curve_returns[1:] == clean.members[i].curve_returns[1:]
        assert _same_state(enn.member_state(agent, i, 4), enn.member_state(clean_agent, i, 4))


def test_critic_target_is_min_of_twin_targets_minus_alpha_logp_and_bootstraps_unless_terminated():
    torch.manual_seed(0)
    cfg, m, b, obs_dim, act_dim = sac.Config(critic_width=16, actor_width=16, init_alpha=0.3), 2, 8, 3, 2
    agent = sac.Agent(cfg, [0, 1], obs_dim, act_dim)
    opt = sac.Optimizers(*(enn.EnsembleAdam(p, m) for p in
                           (agent.actor.parameters(), agent.critic.parameters(), [agent.log_alpha])))
    obs, next_obs = torch.randn(m, b, obs_dim), torch.randn(m, b, obs_dim)
    act, rew = torch.rand(m, b, act_dim) * 2 - 1, torch.randn(m, b)
    term = (torch.arange(b) % 2).float().expand(m, b)  # every other transition terminal
    noise = torch.randn(m, 2, b, act_dim)

    with torch.no_grad():  # an independent computation with torch.distributions
        mean, log_std = agent.actor(next_obs)
        dist = torch.distributions.TransformedDistribution(
            torch.distributions.Normal(mean, log_std.exp()), [torch.distributions.TanhTransform(cache_size=1)])
        u = mean + log_std.exp() * noise[:, 1]
        a_next = torch.tanh(u)
        logp = dist.log_prob(a_next).sum(-1)
        q_next = torch.minimum(*agent.critic_target(next_obs, a_next).unbind(1))
        target = rew + cfg.gamma * (1 - term) * (q_next - 0.3 * logp)
        q1, q2 = agent.critic(obs, act).unbind(1)
        expected = 0.5 * ((q1 - target).square().mean(1) + (q2 - target).square().mean(1))
    loss = sac.update(agent, opt, (obs, act, rew, term, next_obs), noise, cfg, -2.0, [], lambda l: None)
    torch.testing.assert_close(loss, expected, rtol=1e-4, atol=1e-4)


def test_time_limit_truncation_is_not_terminal_and_keeps_the_true_next_observation():
    envs = [gym.make("Pendulum-v1")]  # truncated after 200 steps, never terminates
    obs = envs[0].reset(seed=0)[0][None].astype(np.float32)
    episode_return = np.zeros(1)
    for t in range(200):
        next_obs, reward, terminated, obs_after, finished = sac.step_envs(
            envs, np.zeros((1, 1)), obs, [0], episode_return)
        assert terminated[0] == 0.0
        if t < 199:
            assert np.array_equal(obs_after, next_obs) and not finished
        obs = obs_after
    assert list(finished) == [0] and finished[0] < 0  # the episode ended by truncation ...
    assert not np.array_equal(obs_after, next_obs)  # ... the env was reset, and the stored successor
    assert episode_return[0] == 0.0  # is the last real observation, not the reset one


def test_progress_is_reported():
    calls = []
    sac.train(_tiny("mlp", steps=500, eval_every=500, eval_episodes=1), [0],
              progress=lambda done, total, ret: calls.append((done, total, ret)))
    assert [c[0] for c in calls] == [250, 500] and all(c[1] == 500 for c in calls)
    assert calls[-1][2] is not None and calls[-1][2] < 0  # Pendulum returns are negative


@pytest.mark.parametrize("bad, match", [
    (dict(block="resnet"), "block"), (dict(critic_depth=0), "critic_depth"), (dict(tau=0.0), "tau"),
    (dict(env_id="Pendulum-v9"), "Pendulum-v1"), (dict(env_id="CartPole-v1"), "Box"),
])
def test_config_errors_say_what_is_wrong(bad, match):
    with pytest.raises(ValueError, match=match):
        sac.train(dataclasses.replace(TINY, **bad), [0])


def test_bf16_changes_the_arithmetic_but_keeps_weights_and_optimizer_state_in_float32():
    fp32, _ = sac.train_agent(_tiny("mlp"), [0, 1])
    bf16, agent = sac.train_agent(_tiny("mlp", precision="bf16"), [0, 1])
    assert bf16.config["precision"] == "bf16"
    assert all(p.dtype == torch.float32 for p in agent.parameters())
    assert all(np.isfinite(m.curve_returns).all() for m in bf16.members)
    assert [m.curve_returns for m in bf16.members] != [m.curve_returns for m in fp32.members]


def _roll(env: gym.Env, actions: np.ndarray) -> list[np.ndarray]:
    out = []
    for a in actions:
        obs, _, term, trunc, _ = env.step(a)
        out.append(obs)
        if term or trunc:
            out.append(env.reset()[0])
    return out


@pytest.mark.parametrize("env_id", ["InvertedDoublePendulum-v5", "Pendulum-v1"])
def test_an_env_snapshot_continues_bit_for_bit_in_a_fresh_env(env_id):
    """A MuJoCo env pickles without its physics (EzPickle), so SAC's checkpoint keeps its integration state,
    time-limit counter and random generators; a classic-control env is pickled whole."""
    import pickle

    from harness.envs import make_env
    env = make_env(env_id, 3)
    rng = np.random.default_rng(0)
    _roll(env, rng.uniform(-1, 1, (40, *env.action_space.shape)))
    snapshot = pickle.loads(pickle.dumps(sac.env_snapshot(env)))
    actions = rng.uniform(-1, 1, (60, *env.action_space.shape))
    expected, sampled = _roll(env, actions), env.action_space.sample()
    fresh = sac.restore_env(make_env(env_id, 99), snapshot)
    assert all(np.array_equal(a, b) for a, b in zip(_roll(fresh, actions), expected))
    assert np.array_equal(fresh.action_space.sample(), sampled)


def test_an_env_that_pickles_without_its_state_is_not_checkpointed():
    class Stateful(gym.Env, gym.utils.EzPickle):
        observation_space = action_space = gym.spaces.Box(-1, 1, (1,))

    assert sac.env_snapshot(Stateful()) is None


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_trains_on_cuda():
    res = sac.train(_tiny("simba", steps=300, eval_every=300), [0, 1], device="cuda")
    assert res.device == "cuda" and all(np.isfinite(m.curve_returns).all() for m in res.members)


# The canary's numbers (seeds 0 and 1, 10 evaluation episodes each): a random policy scores -1216
# (harness.envs.random_score, mean of the two seeds); this validated version reaches -169 (-177, -162)
# in about 15 s on the 2-core build machine. The bar is halfway between.
CANARY_RANDOM, CANARY_VALIDATED = -1216.0, -169.0


def test_canary_pendulum_learns():
    """CI canary (< 30 s): two members, width 64, 4k steps, lr 1e-3, batch 128 on Pendulum-v1.

    Random policy: -1216. Validated version: -169 (members -177 and -162). Threshold: halfway, -692.5.
    Catches sign errors and broken targets that only the slow test would otherwise find.
    """
    cfg = sac.Config(env_id="Pendulum-v1", steps=4000, eval_every=4000, eval_episodes=10, batch_size=128,
                     critic_width=64, actor_width=64, actor_lr=1e-3, critic_lr=1e-3, alpha_lr=1e-3)
    res = sac.train(cfg, [0, 1])
    score = float(np.mean([m.metrics["final_return"] for m in res.members]))
    assert score > (CANARY_RANDOM + CANARY_VALIDATED) / 2, f"canary return {score:.0f}"


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_pendulum_width_256_solves_on_4_of_5_seeds(precision):
    """Pendulum-v1, width 256, 15k env steps (SB3 defaults, learning_starts 100), 5 seeds as one ensemble:
    on at least 4 of 5 seeds the mean of the last two evaluations (10 deterministic episodes each, at
    12.5k and 15k steps) is -250 or better.

    Measured with this version (fused Adam; seeds 0-4, 1335 s on the 2-core build machine beside a claim sweep, one
    thread): -140.1, -144.9, -143.5, -153.1, -177.3 (5 of 5 pass; the foreach-Adam version gave -141.0, -145.8,
    -143.6, -153.7, -176.3 in 815 s). In bf16 (2026-12-04, beside a benchmark): -140.6, -145.3, -143.2, -153.3,
    -375.8 (4 of 5 pass) in 500 s.
    """
    cfg = sac.Config(env_id="Pendulum-v1", steps=15_000, eval_every=2_500, eval_episodes=10,
                     critic_width=256, actor_width=256, precision=precision)
    res = sac.train(cfg, [0, 1, 2, 3, 4])
    finals = [m.metrics["final_return"] for m in res.members]
    print("final returns:", [round(f, 1) for f in finals])
    assert sum(f >= -250 for f in finals) >= 4, finals
