"""harness.agents.dreamer: DreamerV3's pieces one by one, the world model on a tiny deterministic stream,
presets, determinism and divergence; a CartPole canary (CI) and the `slow` validation on CartPole."""
import dataclasses
import math
import multiprocessing
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

import numpy as np
import pytest
import torch

from harness.agents import dreamer
from patching import skip_first_evaluation

torch.set_num_threads(1)


def test_symlog_and_symexp_are_inverses():
    x = torch.tensor([-1e6, -300.0, -1.0, -1e-3, 0.0, 1e-3, 0.5, 1.0, 300.0, 1e6], dtype=torch.float64)
    torch.testing.assert_close(dreamer.symexp(dreamer.symlog(x)), x)
    torch.testing.assert_close(dreamer.symlog(dreamer.symexp(x.clamp(-20, 20))), x.clamp(-20, 20))


def test_twohot_round_trips_and_puts_its_weight_on_two_neighbouring_bins():
    b = dreamer.bins()
    y = torch.tensor([-1234.5, -3.0, 0.0, 0.3, 1.0, 17.0, 5e4])
    enc = dreamer.twohot(y, b)
    torch.testing.assert_close(enc.sum(-1), torch.ones(len(y)))
    assert ((enc > 0).sum(-1) <= 2).all()
    nz = [torch.nonzero(row).flatten() for row in enc]
    assert all(len(i) == 1 or i[1] - i[0] == 1 for i in nz)
    torch.testing.assert_close(dreamer.symexp((enc * b).sum(-1)), y, rtol=1e-4, atol=1e-4)
    # logits that put the two-hot weights' probability mass decode to y too
    torch.testing.assert_close(dreamer.twohot_mean(torch.log(enc + 1e-12), b), y, rtol=1e-3, atol=1e-3)


def test_unimix_floor_holds():
    logits = torch.tensor([[100.0, -100.0, -100.0, -100.0], [0.0, 0.0, 0.0, 0.0]])
    p = dreamer.unimix_probs(logits, 0.01)
    assert (p >= 0.01 / 4 - 1e-9).all()
    torch.testing.assert_close(p.sum(-1), torch.ones(2))
    wm = dreamer.WorldModel(4, 2, dreamer.PRESETS["XS"], 0.01)
    probs = wm.probs(torch.randn(3, 8 * 8) * 50)
    assert probs.shape == (3, 8, 8) and (probs >= 0.01 / 8 - 1e-9).all()


def test_free_bits_clamp_each_kl_at_one_nat_and_balance_the_gradients():
    torch.manual_seed(0)
    same = torch.full((2, 4, 3), 1 / 3)
    dyn, rep = dreamer.kl_losses(same, same.clone(), 1.0)
    assert dyn.tolist() == [1.0, 1.0] and rep.tolist() == [1.0, 1.0]  # KL 0 is clamped to the free nat
    post = torch.randn(2, 4, 3).mul(3).softmax(-1).requires_grad_()
    prior = torch.randn(2, 4, 3).softmax(-1).requires_grad_()
    dyn, rep = dreamer.kl_losses(post, prior, 0.0)
    torch.testing.assert_close(dyn, dreamer.categorical_kl(post, prior))
    dyn.sum().backward()
    assert post.grad is None and prior.grad.abs().sum() > 0  # dyn trains the prior only
    post.grad = prior.grad = None
    dreamer.kl_losses(post, prior, 0.0)[1].sum().backward()
    assert prior.grad is None and post.grad.abs().sum() > 0  # rep trains the posterior only


def test_percentile_return_normalization_matches_a_direct_computation():
    rng = np.random.default_rng(0)
    norm = dreamer.ReturnNorm(0.99)
    batches = [rng.normal(0, s, 500) for s in (10.0, 20.0, 0.1)]
    expected = None
    for r in batches:
        spread = np.percentile(r, 95) - np.percentile(r, 5)
        expected = spread if expected is None else 0.99 * expected + 0.01 * spread
        got = norm.update(torch.tensor(r))
        assert got == pytest.approx(max(1.0, expected), rel=1e-5)
    assert dreamer.ReturnNorm(0.99).update(torch.zeros(10)) == 1.0  # small spreads never amplify advantages


def test_slow_critic_is_an_ema_with_the_stated_rate():
    cfg = dreamer.Config(size="XS")
    agent = dreamer.Agent(cfg, 4, 2, "cpu", torch.Generator().manual_seed(0))
    before = [p.clone() for p in agent.slow.parameters()]
    with torch.no_grad():
        for p in agent.ac.parameters():
            p.add_(1.0)
    dreamer.ema_(agent.slow, agent.ac, cfg.slow_rate)
    for old, new, src in zip(before, agent.slow.parameters(), agent.ac.parameters()):
        torch.testing.assert_close(new, (1 - cfg.slow_rate) * old + cfg.slow_rate * src)
    assert cfg.slow_rate == 0.02


def test_lambda_returns_match_the_recursion_written_out():
    r, v = torch.tensor([[0.0], [1.0], [2.0]]), torch.tensor([[5.0], [6.0], [7.0]])
    d = torch.tensor([[0.9], [0.9], [0.5]])
    lam = 0.8
    r1 = 2.0 + 0.5 * 7.0  # R_1 = r_2 + d_2 v_2
    r0 = 1.0 + 0.9 * ((1 - lam) * 6.0 + lam * r1)
    torch.testing.assert_close(dreamer.lambda_returns(r, v, d, lam), torch.tensor([[r0], [r1]]))


def test_presets_span_at_least_16x_in_parameters_and_grow_monotonically():
    counts = [dreamer.parameters(dreamer.Config(size=s)) for s in dreamer.PRESETS]
    assert counts == sorted(counts) and counts[-1] / counts[0] >= 16, counts


def stream(n=600):
    """A deterministic stream: a 6-cell ring walked left or right; reward 1 on entering cell 5."""
    rng = np.random.default_rng(0)
    rep = dreamer.Replay(n, 6, 2)
    pos = 0
    for t in range(n):
        a = int(rng.integers(2))
        new = (pos + (1 if a else -1)) % 6
        rep.add(np.eye(6)[pos], 1.0 if (t and pos == 5) else 0.0, 1.0, t == 0)
        rep.action[t] = np.eye(2)[a]
        pos = new
    return rep


def test_world_model_learns_a_deterministic_stream_within_a_few_hundred_updates():
    cfg = dreamer.Config(size="XS", batch=8, seq_len=16, prefill=16, horizon=5, model_lr=1e-3)
    torch.manual_seed(0)
    agent = dreamer.Agent(cfg, 6, 2, "cpu", torch.Generator().manual_seed(0))
    rep, rng = stream(), np.random.default_rng(1)
    for _ in range(300):
        agent.update(rep.sample(rng, cfg.batch, cfg.seq_len, "cpu"))
    batch = rep.sample(np.random.default_rng(2), 64, cfg.seq_len, "cpu")
    with torch.no_grad():
        feats, _, _ = agent.wm.observe(batch["obs"], batch["action"], batch["first"], agent.gen)
        recon = (agent.wm.decoder(feats) - dreamer.symlog(batch["obs"])).square().sum(-1).mean()
        reward = dreamer.twohot_mean(agent.wm.reward(feats), agent.bins)
    target = dreamer.symlog(batch["obs"])
    recon_base = (target - target.mean((0, 1))).square().sum(-1).mean()
    reward_mse = (reward - batch["reward"]).square().mean()
    reward_base = batch["reward"].var(unbiased=False)
    assert recon < 0.1 * recon_base, (float(recon), float(recon_base))
    assert reward_mse < 0.1 * reward_base, (float(reward_mse), float(reward_base))


TINY = dreamer.Config(size="XS", steps=300, prefill=200, batch=4, seq_len=16, train_ratio=8, eval_every=150,
                      eval_episodes=1)


def test_runs_are_deterministic_for_a_seed_and_count_what_they_did():
    a, _ = dreamer.train_one(TINY, 1)
    b, _ = dreamer.train_one(TINY, 1)
    assert a.curve_returns == b.curve_returns and a.extra["final_losses"] == b.extra["final_losses"]
    assert a.env_steps == 300 and a.updates == (300 - 200 + 1) // 8 and a.curve_steps == [0, 150, 300]
    assert a.params["total"] == dreamer.parameters(TINY)
    assert a.params["total"] == a.params["world_model"] + a.params["actor_critic"]
    # the untrained agent at step 0; the curve metrics are of the evaluations after it
    assert a.metrics["initial_return"] == a.curve_returns[0]
    assert a.metrics["auc_return"] == np.mean(a.curve_returns[1:])
    assert a.initial == {"final_return": a.curve_returns[0], "auc_return": a.curve_returns[0]}
    # 6N: world model on batch x seq_len replayed steps, actor-critic on batch x seq_len x horizon imagined states
    b, t = TINY.batch, TINY.seq_len
    assert a.flops == 6 * a.updates * b * t * (a.params["world_model"] + TINY.horizon * a.params["actor_critic"])


def test_the_step_0_evaluation_leaves_training_unchanged(monkeypatch):
    """The same run with the step-0 evaluation skipped (not run at all): the later evaluations and the losses
    are bit-identical. Evaluation samples latents from the training generator, so the step-0 evaluation must
    restore it."""
    clean, clean_agent = dreamer.train_one(TINY, 1)
    calls = skip_first_evaluation(monkeypatch, dreamer, lambda agent, cfg, seed: 0.0)
    m, agent = dreamer.train_one(TINY, 1)
    assert len(calls) == 3 and m.curve_returns[1:] == clean.curve_returns[1:]
    assert m.extra["final_losses"] == clean.extra["final_losses"]
    for net, clean_net in ((agent.wm, clean_agent.wm), (agent.ac, clean_agent.ac)):
        assert all(torch.equal(x, y) for x, y in zip(net.state_dict().values(), clean_net.state_dict().values()))


def test_a_non_finite_loss_is_recorded_as_divergence():
    m, _ = dreamer.train_one(dataclasses.replace(TINY, _inject_nan_at=3), 0)
    assert m.diverged and m.updates == 2 and math.isnan(m.metrics["final_return"])
    assert m.curve_steps[0] == 0 and math.isfinite(m.curve_returns[0]) and math.isnan(m.curve_returns[-1])
    assert m.initial["final_return"] == m.curve_returns[0]


def test_unsupported_spaces_and_sizes_are_clear_errors():
    with pytest.raises(ValueError, match="unknown dreamer size 'XXL'"):
        dreamer.Config(size="XXL")
    with pytest.raises(ValueError, match="Discrete action spaces only"):
        dreamer.train_one(dataclasses.replace(TINY, env_id="Pendulum-v1"), 0)


# The canary: the smallest preset with many small, fast updates (4 sequences of 16 steps, train ratio 16, lrs
# 10x the claim's) learns CartPole within seconds; it checks that the whole agent still learns, not the claim's
# settings. Validated with this version: final_return 66.0 (seed 0) and 142.0 (seed 1), about 20 s each.
CANARY = dreamer.Config(size="XS", batch=4, seq_len=16, train_ratio=16, prefill=256, steps=2000, model_lr=1e-3,
                        ac_lr=3e-4, eval_every=1000, eval_episodes=5)
CANARY_RANDOM, CANARY_VALIDATED = 22.0, 66.0  # a uniformly random policy; seed 0 of the validated version


def test_canary_cartpole_learns():
    member, _ = dreamer.train_one(CANARY, 0)
    assert member.metrics["final_return"] >= (CANARY_RANDOM + CANARY_VALIDATED) / 2, member.curve_returns


def _final_return(cfg: dreamer.Config, seed: int) -> float:
    torch.set_num_threads(1)
    return dreamer.train_one(cfg, seed)[0].metrics["final_return"]


@pytest.mark.slow
def test_cartpole_mid_preset_reaches_300_within_30k_steps_on_3_of_5_seeds():
    """The issue's validation: preset S (the middle of the quick ladder XS, S, M), train ratio 64 and every
    other default, 30k env steps; a seed passes when the mean of its last two evaluations (25k and 30k
    steps, 10 episodes each) is at least 300. Seeds run 2 at a time and the test stops once the outcome is
    decided (3 passes, or 3 failures).

    Measured with this version: see README (agents: dreamer).
    """
    cfg = dreamer.Config(size="S", steps=30_000)
    finals: dict[int, float] = {}
    pool = ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn"))
    try:
        pending = {pool.submit(_final_return, cfg, seed): seed for seed in range(5)}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for f in done:
                finals[pending.pop(f)] = f.result()
            passed = sum(v >= 300 for v in finals.values())
            if passed >= 3 or len(finals) - passed >= 3:
                break
    finally:
        running = list((pool._processes or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in running:  # a seed still running once the outcome is decided is not needed
            proc.terminate()
    print("final_return by seed:", finals)
    assert passed >= 3, finals
