"""harness.agents.rlhf_ppo: PPO with a KL penalty against a proxy reward model; its KL estimator."""
import itertools
import math

import numpy as np
import pytest
import torch

from harness import lm
from harness.agents import rlhf, rlhf_ppo

torch.set_num_threads(1)
PROXY = rlhf.Config(policy="XS", rm_size="XS",
                    pretrain=lm.Config(steps=300, batch=32, documents=20000, val_documents=500), pairs=600,
                    val_pairs=200, rm_epochs=1, pool=3000, max_n=256)
TINY = rlhf_ppo.Config(proxy=PROXY, iterations=10, batch=64, epochs=2, minibatches=4, lr=3e-4, kl_budget=1.0)


pytestmark = pytest.mark.usefixtures("lm_cache")  # tests/conftest.py


def test_the_kl_estimator_is_unbiased_against_the_exact_kl_of_two_tiny_autoregressive_models():
    """Vocabulary {a, b, <eos>}, at most 3 tokens: every sequence enumerated for the exact KL; the estimator
    averaged over sequences drawn from the first model."""
    rng = np.random.default_rng(0)
    def table():
        return {prefix: rng.dirichlet(np.ones(3)) for n in range(3) for prefix in itertools.product((0, 1), repeat=n)}
    p, q = table(), table()

    def sequences():
        for n in range(1, 4):  # n tokens, the last <eos> (2) unless the length limit ends it
            for body in itertools.product((0, 1), repeat=n - 1):
                yield body + (2,)
        yield from itertools.product((0, 1), repeat=3)

    def logp(table, seq):
        # p(token | prefix); at the length limit (3 tokens without <eos>) the sequence simply ends
        return [math.log(table[seq[:t]][seq[t]]) for t in range(len(seq))]
    exact = sum(math.exp(sum(logp(p, s))) * (sum(logp(p, s)) - sum(logp(q, s))) for s in sequences())
    assert sum(math.exp(sum(logp(p, s))) for s in sequences()) == pytest.approx(1.0)
    draws = []
    for _ in range(40000):
        seq: tuple = ()
        while len(seq) < 3 and (not seq or seq[-1] != 2):
            seq += (int(rng.choice(3, p=p[seq])),)
        draws.append(seq)
    lp = torch.zeros(len(draws), 3)
    lq = torch.zeros(len(draws), 3)
    mask = torch.zeros(len(draws), 3)
    for i, s in enumerate(draws):
        lp[i, :len(s)], lq[i, :len(s)], mask[i, :len(s)] = torch.tensor(logp(p, s)), torch.tensor(logp(q, s)), 1.0
    est = rlhf_ppo.sequence_kl(lp, lq, mask)
    assert abs(float(est.mean()) - exact) < 4 * float(est.std()) / math.sqrt(len(draws))
    assert exact > 0.05  # the two models differ: the test can fail


def test_crossing_interpolates_the_first_time_the_curve_reaches_the_budget():
    assert rlhf_ppo.crossing([0.0, 0.5, 1.5, 0.8, 3.0], [0.0, 1.0, 3.0, 9.0, 9.0], 1.0) == pytest.approx(2.0)
    assert math.isnan(rlhf_ppo.crossing([0.0, 0.2, 0.4], [0.0, 1.0, 2.0], 1.0))  # never reached: censored


def test_canary_ppo_raises_the_gold_reward_of_a_small_policy_within_its_kl_budget():
    m = rlhf_ppo.train(TINY, [0]).members[0]
    assert m.extra["kl"][0] == pytest.approx(0.0, abs=1e-6)  # the first samples come from the reference itself
    assert m.metrics["gold_gain_at_kl"] > 1.0 and m.metrics["final_kl"] > TINY.kl_budget
    assert m.curve_steps == list(range(TINY.iterations + 1))


def test_ppo_is_deterministic_and_records_a_nan_loss_as_divergence():
    a, b = rlhf_ppo.train(TINY, [1]).members[0], rlhf_ppo.train(TINY, [1]).members[0]
    assert a.metrics == b.metrics and a.extra["kl"] == b.extra["kl"]
    bad = rlhf_ppo.train(rlhf_ppo.Config(**{**TINY.__dict__, "_inject_nan_at": 5}), [1]).members[0]
    assert bad.diverged and bad.diverged_step == 5 and all(math.isnan(v) for v in bad.metrics.values())
    with pytest.raises(ValueError, match="divisible by minibatches"):
        rlhf_ppo.Config(batch=10, minibatches=4)
    with pytest.raises(ValueError, match="reward must be 'proxy' or 'gold'"):
        rlhf_ppo.Config(reward="human")


@pytest.mark.slow
def test_validation_ppo_on_the_gold_reward_raises_the_smallest_policy_by_one_within_four_nats():
    """The optimizer apart from any proxy's errors: at the quick LMs (pretrained once, then cached), policy XS
    optimized against the gold reward itself (`reward="gold"`) for 30 iterations at the defaults. For seeds 0 and
    1 the gold gain where the KL from the reference reaches 4 nats is at least 1.0 and at least a third of what
    best-of-n with the gold reward reaches at the same KL. Validation pilot (seed 100): 1.41 of 2.90, reached at
    iteration 19; no collapse over 60 iterations (gain 7.7 at KL 35, where the KL penalty holds it)."""
    proxy = rlhf.Config(policy="XS", rm_size="XS", pretrain=lm.Config(steps=2000, batch=64, documents=200_000,
                                                                      val_documents=2000),
                        pairs=4000, val_pairs=1000, rm_epochs=2, pool=20000, max_n=1024)
    cfg = rlhf_ppo.Config(proxy=proxy, iterations=30, kl_budget=4.0, reward="gold")
    for m in rlhf_ppo.train(cfg, [0, 1]).members:
        assert m.metrics["gold_gain_at_kl"] >= max(1.0, m.metrics["oracle_gain_at_kl"] / 3), m.metrics


def test_a_run_that_never_spends_its_kl_budget_is_read_at_its_last_iteration_and_gold_trains_no_proxy():
    m = rlhf_ppo.train(rlhf_ppo.Config(**{**TINY.__dict__, "kl_budget": 1000.0, "reward": "gold"}), [0]).members[0]
    assert m.extra["kl_budget_reached"] is False and not m.diverged
    assert m.metrics["gold_gain_at_kl"] == m.metrics["final_gold_gain"] == m.curve_returns[-1]
    assert m.metrics["gold_at_kl"] == pytest.approx(m.extra["gold"][-1])
    assert math.isnan(m.metrics["rm_accuracy"])  # the gold reward is the reward model: no proxy was trained
