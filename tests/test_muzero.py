"""harness.agents.muzero: the value support, the batched search over a learned model, replay and n-step targets,
Reanalyse, and training (determinism, divergence, a learning canary; resuming is in tests/test_checkpoint.py).
Fast tests (well under a minute in all on one core) plus one `slow` validation test on CartPole-v1."""
import dataclasses
import math

import numpy as np
import pytest
import torch

from harness.agents import muzero as mz
from harness.result import RunResult

torch.set_num_threads(1)

# about a second: 20 steps of 16 CartPole envs, 8 simulations, updates from env step 160
TINY = mz.Config(steps=320, envs=16, simulations=8, batch_size=32, updates_per_step=2, learning_starts=160,
                 eval_every=160, eval_episodes=2, width=16)


def _strip(res: RunResult) -> list[dict]:
    return [{k: v for k, v in m.items() if k != "wall_time"} for m in res.to_dict()["members"]]


# --- configuration and sizes --------------------------------------------------------------------------------

@pytest.mark.parametrize("change, field", [
    ({"steps": 0}, "steps"), ({"width": 0}, "width"), ({"simulations": 0}, "simulations"),
    ({"reanalyse": 1.5}, "reanalyse"), ({"reanalyse": -0.1}, "reanalyse"), ({"lr": -1.0}, "lr"),
    ({"steps": 1000}, "steps"), ({"eval_every": 1000}, "eval_every"), ({"discount": 0.0}, "discount"),
    ({"temperatures": (1.0,)}, "temperatures"), ({"temperature_steps": (5, 1)}, "temperature_steps"),
    ({"buffer_size": 160}, "buffer_size"), ({"max_episode_steps": 0}, "max_episode_steps"),
    ({"noise_fraction": 2.0}, "noise_fraction"),
])
def test_invalid_configs_are_refused_naming_the_field(change, field):
    mz.Config()  # the defaults are valid
    with pytest.raises(ValueError, match=field):
        dataclasses.replace(TINY, **change)


def test_the_width_ladder_spans_more_than_16x_in_parameters_with_all_else_fixed():
    counts = [mz.parameters(dataclasses.replace(TINY, width=w)) for w in mz.WIDTHS]
    assert counts == sorted(counts) and counts[-1] >= 16 * counts[0], counts
    net = mz.make_net(TINY, 4, 2, 0, torch.device("cpu"))
    p = net.params()
    assert p["total"] == p["representation"] + p["dynamics"] + p["prediction"] == counts[0]
    assert mz.parameters(dataclasses.replace(TINY, env_id="MinAtar/Breakout-v1")) > counts[0]  # 400 inputs


def test_a_bad_task_is_refused():
    with pytest.raises(ValueError, match="Unknown gymnasium env id"):
        mz.spaces("CartPole-v9")
    with pytest.raises(ValueError, match="discrete actions"):
        mz.spaces("Pendulum-v1")


# --- values on the support ----------------------------------------------------------------------------------

def test_the_transform_inverts_and_two_hot_vectors_decode_to_their_value():
    x = torch.tensor([-300.0, -7.3, -1.0, 0.0, 0.4, 1.0, 12.5, 99.0, 400.0], dtype=torch.float64)
    assert torch.allclose(mz.h_inverse(mz.h_transform(x)), x, atol=1e-9)
    two_hot = mz.to_support(x, 20)
    assert torch.allclose(two_hot.sum(-1), torch.ones_like(x)) and (two_hot >= 0).all()
    assert ((two_hot > 0).sum(-1) <= 2).all()
    assert torch.allclose(mz.from_support(two_hot.clamp_min(1e-30).log(), 20), x, atol=1e-6)
    assert mz.from_support(torch.zeros(3, 41), 20).abs().max() < 1e-4  # zero logits: value 0 (to rounding)


# --- the search ---------------------------------------------------------------------------------------------

def _chain_model(rewards_first: tuple[float, float]):
    """A hand-made model with states one-hot in 4 units: from the root (0), action 0 gives rewards_first[0] and
    leads to a dead end (1), action 1 gives rewards_first[1] and leads to state 2, where every action gives 1
    and leads to a dead end (3). Dead ends give 0. Values 0, priors ``PRIOR`` everywhere."""
    def recurrent(latent, action):
        s = latent.argmax(1)
        nxt = np.where(s == 0, np.where(action == 0, 1, 2), np.where(s == 2, 3, s))
        r = np.where(s == 0, np.where(action == 0, rewards_first[0], rewards_first[1]), np.where(s == 2, 1.0, 0.0))
        return np.eye(4, dtype=np.float32)[nxt], r, np.tile(PRIOR, (len(s), 1)), np.zeros(len(s))
    return recurrent


PRIOR = np.array([0.7, 0.3])  # the prior favours action 0


def test_the_search_prefers_the_action_with_the_larger_reward():
    root = np.eye(4, dtype=np.float32)[[0]]
    visits, value = mz.search(root, PRIOR[None], _chain_model((0.0, 1.0)), 32, 1.25, 0.9)
    assert visits.sum() == 32 and visits[0, 1] > 3 * visits[0, 0]
    assert 0 < value[0] <= 1.0 + 0.9


def test_the_search_looks_ahead_past_a_smaller_immediate_reward():
    """Action 0 pays 0.5 at once and nothing after; action 1 pays 0 now and 1 one step later (0.9 discounted):
    only a search two levels deep sees that action 1 is better; against a prior that favours action 0 it takes
    more simulations (an unvisited edge scores the lowest Q)."""
    root, uniform = np.eye(4, dtype=np.float32)[[0]], np.array([[0.5, 0.5]])
    shallow, _ = mz.search(root, uniform, _chain_model((0.5, 0.0)), 2, 1.25, 0.9)
    assert shallow.tolist() == [[1.0, 1.0]]  # one simulation each: too shallow to see it
    visits, _ = mz.search(root, uniform, _chain_model((0.5, 0.0)), 32, 1.25, 0.9)
    assert visits[0, 1] > visits[0, 0], visits
    visits, _ = mz.search(root, PRIOR[None], _chain_model((0.5, 0.0)), 100, 1.25, 0.9)
    assert visits[0, 1] > visits[0, 0], visits


def _random_heads(net: mz.MuZeroNet, seed: int) -> mz.Model:
    """The search's view of ``net`` with its zero-initialized output heads drawn at random (so it has opinions)."""
    with torch.no_grad():
        for head in (net.policy_head, net.value_head, net.reward_head):
            head.weight.normal_(0.0, 0.5, generator=torch.Generator().manual_seed(seed))
    return mz.Model(net, TINY.support_size, torch.device("cpu"))


def test_a_batched_search_equals_one_search_per_root_and_its_noise_follows_its_generator():
    net = mz.make_net(TINY, 4, 2, 3, torch.device("cpu"))
    model = _random_heads(net, 7)
    obs = np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32)
    latent, prior, _ = model.initial(obs)
    batched, value = mz.search(latent, prior, model.recurrent, 16, 1.25, 0.99)
    single = [mz.search(latent[i:i + 1], prior[i:i + 1], model.recurrent, 16, 1.25, 0.99) for i in range(6)]
    assert np.array_equal(batched, np.concatenate([v for v, _ in single]))
    assert np.allclose(value, np.concatenate([v for _, v in single]), rtol=1e-5)
    noisy = [mz.search(latent, prior, model.recurrent, 16, 1.25, 0.99, np.random.default_rng(5), (0.25, 0.25))[0]
             for _ in range(2)]
    assert np.array_equal(noisy[0], noisy[1]) and (noisy[0].sum(1) == 16).all()


def test_acting_follows_the_visit_counts_and_temperature_zero_is_greedy():
    rng = np.random.default_rng(0)
    visits = np.tile([[2.0, 6.0, 0.0]], (4000, 1))
    freq = np.bincount(mz.sample_actions(visits, 1.0, rng), minlength=3) / 4000
    assert abs(freq[1] - 0.75) < 0.03 and freq[2] == 0
    assert (mz.sample_actions(visits, 0.0, rng) == 1).all()
    assert TINY.temperature(0) == 1.0 and TINY.temperature(100_000) == 0.5 and TINY.temperature(10**6) == 0.25


# --- replay and targets ---------------------------------------------------------------------------------------

K, N, GAMMA = 3, 3, 0.5  # unroll, n-step, discount of the hand computations: windows of K + N + 1 = 7 slots


def _window(final_at: int | None = None, terminated: bool = True, end_value: float = 0.0) -> dict:
    j = K + N + 1
    win = {"action": np.array([[1, 0, 1, 1, 0, 1, 0]]), "reward": np.arange(1.0, j + 1)[None],
           "value": 10.0 * np.arange(1.0, j + 1)[None], "final": np.zeros((1, j), dtype=bool),
           "terminated": np.zeros((1, j), dtype=bool),
           "policy": np.tile([0.3, 0.7], (1, j, 1))}  # no multiple of 1/8: a search's visits always differ
    if final_at is not None:  # what Replay.add_final writes
        win["final"][0, final_at], win["terminated"][0, final_at] = True, terminated
        win["reward"][0, final_at], win["value"][0, final_at], win["action"][0, final_at] = 0.0, end_value, 0
        win["policy"][0, final_at] = 0.0
    return win


RANDOM = np.array([[7, 8, 9]])  # stand-ins past an episode's end, recognizable


def test_n_step_value_targets_match_a_hand_computation():
    """Rewards u = 1, 2, ..., 7 after the actions of slots 0..6, search values nu = 10, 20, ..., 70."""
    t = mz.targets(_window(), RANDOM, K, N, GAMMA)
    # z_k = u_k + 0.5 u_{k+1} + 0.25 u_{k+2} + 0.125 nu_{k+3}
    assert t["value"][0].tolist() == [1 + 1 + 0.75 + 5, 2 + 1.5 + 1 + 6.25, 3 + 2 + 1.25 + 7.5, 4 + 2.5 + 1.5 + 8.75]
    assert t["reward"][0, 1:].tolist() == [1, 2, 3] and t["actions"][0].tolist() == [1, 0, 1]
    assert t["value_mask"].all() and t["reward_mask"][0, 1:].all() and t["policy_mask"].all()
    assert np.array_equal(t["policy"][0], np.tile([0.3, 0.7], (K + 1, 1)))


def test_targets_at_and_past_a_terminated_end_are_absorbing():
    t = mz.targets(_window(final_at=2), RANDOM, K, N, GAMMA)  # states 0, 1, then the episode terminated
    assert t["value"][0].tolist() == [1 + 0.5 * 2, 2, 0, 0] and t["value_mask"].all()
    assert t["reward"][0, 1:].tolist() == [1, 2, 0] and t["reward_mask"][0, 1:].all()
    assert t["actions"][0].tolist() == [1, 0, 9]  # past the end: the stand-in random action
    assert t["policy_mask"][0].tolist() == [1, 1, 0, 0] and t["policy"][0, 2:].sum() == 0


def test_a_truncated_end_bootstraps_from_its_final_value_and_masks_what_follows():
    t = mz.targets(_window(final_at=2, terminated=False, end_value=8.0), RANDOM, K, N, GAMMA)
    assert t["value"][0, :3].tolist() == [1 + 1 + 0.25 * 8, 2 + 0.5 * 8, 8]
    assert t["value_mask"][0].tolist() == [1, 1, 1, 0] and t["reward_mask"][0, 1:].tolist() == [1, 1, 0]


def test_only_slots_with_their_future_written_are_sampled():
    buf = mz.Replay(1, 20, (1,), np.float32, 2)
    pol = np.array([[0.5, 0.5]])
    for t in range(5):
        buf.add_steps(np.array([[t]], np.float32), np.array([0]), np.array([1.0]), pol, np.array([0.0]))
    assert buf.candidates(3).tolist() == [0, 1]  # slots 0 and 1 have 3 later slots written; 2..4 wait
    buf.add_final(np.array([0]), np.array([[5]], np.float32), np.array([0.0]), np.array([True]))
    assert buf.candidates(3).tolist() == [0, 1, 2, 3, 4]  # the episode ended: all its steps, not its final slot
    win = buf.window(np.array([3]), 4, ("obs", "final"))
    assert win["obs"][0, :3, 0].tolist() == [3, 4, 5] and win["final"][0].tolist() == [False, False, True, False]


# --- Reanalyse ----------------------------------------------------------------------------------------------

def test_reanalyse_recomputes_the_unrolled_policies_and_the_bootstrap_values_only():
    net = mz.make_net(TINY, 4, 2, 1, torch.device("cpu"))
    model = _random_heads(net, 2)
    cfg = dataclasses.replace(TINY, unroll=K, td_steps=N)
    a, b = _window(), _window(final_at=5)  # two samples: one running on, one ending in the window
    win = {k: np.concatenate([a[k], b[k]]).astype(np.float32 if k in ("policy", "value") else a[k].dtype) for k in a}
    win["obs"] = np.random.default_rng(0).normal(size=(2, K + N + 1, 4)).astype(np.float32)
    before = {k: v.copy() for k, v in win.items()}
    roots = mz.reanalyse_window(model, win, cfg, np.random.default_rng(0))
    # sample 0: policies of offsets 0..3, values of the bootstrap offsets 3..6; sample 1 ends (terminated) at 5:
    # policies 0..3, bootstrap offsets 3, 4 (from k = 0, 1) and its final slot 5 keeps its value 0
    assert roots == 7 + 5
    changed_pol = ~np.isclose(win["policy"], before["policy"]).all(-1)
    assert changed_pol[:, :K + 1].all() and not changed_pol[:, K + 1:].any()
    changed_val = win["value"] != before["value"]
    assert changed_val[0].tolist() == [False, False, False, True, True, True, True]
    assert changed_val[1].tolist() == [False, False, False, True, True, False, False] and win["value"][1, 5] == 0
    assert np.allclose(win["policy"][:, :K + 1].sum(-1), 1.0)


def test_plain_muzero_and_reanalyse_both_train_and_reanalyse_changes_the_run():
    plain = mz.train(TINY, [0]).members[0]
    re = mz.train(dataclasses.replace(TINY, reanalyse=0.5), [0]).members[0]
    assert plain.extra["reanalysed_roots"] == 0 and re.extra["reanalysed_roots"] > 0
    assert plain.updates == re.updates > 0 and math.isfinite(plain.extra["mean_loss"])
    assert re.extra["mean_loss"] != plain.extra["mean_loss"]  # other targets, other losses
    assert re.flops > plain.flops  # the reanalyse searches are counted


# --- training -------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def reference():
    return mz.train(TINY, [0, 1])


def test_runs_are_deterministic_on_cpu(reference):
    again = mz.train(TINY, [0, 1])
    assert _strip(again) == _strip(reference)
    m = reference.members[0]
    assert m.curve_steps == [0, 160, 320] and m.env_steps == 320 and m.updates == 2 * 11
    assert set(mz.METRICS) <= set(m.metrics) and m.initial["final_return"] == m.curve_returns[0]
    assert m.flops > 0 and m.params["total"] == mz.parameters(TINY)
    assert reference.members[1].curve_returns != m.curve_returns or reference.members[1].extra != m.extra


def test_the_evaluations_leave_training_unchanged(reference, monkeypatch):
    """The same run with every evaluation replaced by a constant trains bit-identically."""
    monkeypatch.setattr(mz, "evaluate", lambda *args, **kwargs: 0.0)
    res = mz.train(TINY, [0, 1])
    for a, b in zip(res.members, reference.members):
        assert a.curve_returns == [0.0] * 3 and a.extra == b.extra and a.flops == b.flops


def test_a_nan_loss_stops_training_and_records_the_divergence():
    res = mz.train(dataclasses.replace(TINY, _inject_nan_at=5), [0]).members[0]
    # updates start at env step 160 (2 per step of the 16 envs): update 5 is in the step that ends at 192
    assert res.diverged and res.diverged_step == 192 and res.updates == 4
    assert res.curve_steps == [0, 160, 320] and math.isfinite(res.curve_returns[0])
    assert math.isnan(res.curve_returns[2]) and all(math.isnan(res.metrics[k]) for k in ("final_return", "auc_return"))
    assert math.isnan(res.extra["mean_loss"]) and not math.isnan(res.metrics["initial_return"])


CANARY = mz.Config(steps=6144, width=mz.WIDTHS[0], batch_size=128, learning_starts=512, eval_every=1536,
                   eval_episodes=5)


def test_canary_the_smallest_preset_learns_cartpole():
    """CANARY: the smallest width on CartPole-v1 for 6144 env steps (1412 updates of 128 samples), about 13 s
    on one core. Measured: untrained 18.0, then 9.4, 8.6, 84.8, 183.8 (final_return 134.3); with lr=0 the same
    run scores 18.0, 19.2, 31.8, 30.4, 22.0 (26.2), so the bar of 60 fails when nothing is learned."""
    m = mz.train(CANARY, [0]).members[0]
    assert m.curve_returns[0] < 30
    assert m.metrics["final_return"] >= 60, m.curve_returns


@pytest.mark.slow
def test_validation_the_smallest_preset_learns_to_balance_cartpole():
    """Validation (not in CI; about 10 min on one core): the smallest preset with the default settings
    (51,200 env steps, 12,552 updates of 256 samples) reaches a mean final_return (the last two greedy
    evaluations of 10 episodes) of 250 or more over seeds 0, 1, 2 on CartPole-v1 (maximum 500).

    Measured (2026-12-02, one core, one torch thread, nothing else running): final_return 276.5, 212.3, 389.3
    (mean 292.7; auc_return 250.7, 209.5, 394.9), 205 s, 164 s and 206 s. Every seed passed 165 within 10k env
    steps and two reached 467-500 at an evaluation, but none stays at 400: the smallest network plateaus
    between 200 and 400 at this budget. Curves (env steps: return):
      seed 0: 0: 21.2, 5120: 21.9, 10240: 500.0, 15360: 105.3, 20480: 225.3, 25600: 244.7, 30720: 268.7,
              35840: 327.8, 40960: 260.5, 46080: 269.0, 51200: 283.9
      seed 1: 0: 24.0, 5120: 165.9, 10240: 190.0, 15360: 208.5, 20480: 254.2, 25600: 219.3, 30720: 207.6,
              35840: 217.8, 40960: 207.0, 46080: 220.2, 51200: 204.3
      seed 2: 0: 22.7, 5120: 397.6, 10240: 467.2, 15360: 380.5, 20480: 377.3, 25600: 387.6, 30720: 391.8,
              35840: 384.8, 40960: 383.9, 46080: 389.6, 51200: 388.9
    """
    res = mz.train(mz.Config(width=mz.WIDTHS[0]), [0, 1, 2])
    final = [m.metrics["final_return"] for m in res.members]
    assert np.mean(final) >= 250, [m.curve_returns for m in res.members]
