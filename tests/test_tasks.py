"""harness.tasks: the in-context task families (bandits, dark room), their splits and reference policies."""
import numpy as np
import pytest

from harness.tasks import TaskPool, bandits, darkroom


def test_bandit_reference_policies_rank_as_known_at_a_short_horizon():
    refs = bandits.reference_scores(bandits.held_out_tasks(2000))
    assert refs["random"] == pytest.approx(0.5, abs=0.01)
    assert refs["greedy_after_one_pull"] > refs["thompson"] > refs["ucb1"] > refs["random"] + 0.08
    assert bandits.normalized_score(refs["random"], refs) == 0.0
    assert bandits.normalized_score(refs["greedy_after_one_pull"], refs) == 1.0


def test_references_adapt_across_trials():
    per_trial = bandits.play(bandits.REFERENCES["thompson"], bandits.held_out_tasks(2000)).mean(0)
    assert per_trial[-1] - per_trial[0] > 0.1


def test_bandit_episodes_last_pulls_times_trials_and_keep_their_task():
    env = bandits.Bandits(3, pulls=2, trials=3)
    obs, _ = env.reset(seed=0)
    assert obs[:, 0].tolist() == [1, 1, 1]  # a trial starts
    means = env.means.copy()
    for t in range(5):
        obs, r, done, trunc, info = env.step(np.zeros(3, dtype=int))
        assert not done.any() and np.array_equal(env.means, means)
        assert info["trial"].tolist() == [t // 2] * 3
    obs, r, done, trunc, info = env.step(np.zeros(3, dtype=int))
    assert done.all() and info["final"].all() and not np.array_equal(env.means, means)


def test_a_finite_pool_holds_n_tasks_and_held_out_tasks_are_not_among_them():
    pool = TaskPool(bandits.sample_tasks, 3, seed=7)
    drawn = pool.draw(np.random.default_rng(0), 500)
    assert len(np.unique(drawn, axis=0)) == 3
    held = bandits.held_out_tasks(100, seed=7)
    assert not any((held == t).all(1).any() for t in pool.tasks)
    with pytest.raises(ValueError, match="at least 1 task"):
        TaskPool(bandits.sample_tasks, 0, seed=0)


def test_envs_are_deterministic_for_a_seed():
    def rollout():
        env = darkroom.DarkRoom(8, pool=darkroom.training_pool(None, seed=1))
        env.reset(seed=3)
        acts = np.random.default_rng(0).integers(0, 5, (100, 8))
        return [env.step(a)[1].tolist() for a in acts]
    assert rollout() == rollout()


def test_darkroom_held_out_tasks_are_never_trained_on_but_their_cells_are():
    train, held = darkroom.split()
    assert len(train) + len(held) == 25 * 24 and len(held) == 120
    assert not any((train == h).all(1).any() for h in held)
    drawn = darkroom.training_pool(None, seed=0).draw(np.random.default_rng(0), 5000)
    assert not any((drawn == h).all(1).any() for h in held)
    for cols in (slice(0, 2), slice(2, 4)):  # every goal and every start cell occurs in training
        assert {tuple(c) for c in held[:, cols]} <= {tuple(c) for c in train[:, cols]}
    assert not (train[:, :2] == train[:, 2:]).all(1).any()


def test_darkroom_oracle_scores_every_trial_and_walls_hold():
    # goal (r, c), start (r, c)
    env = darkroom.DarkRoom(4, tasks=np.array([[0, 0, 2, 2], [4, 4, 2, 2], [2, 0, 0, 4], [0, 2, 4, 0]]))
    obs, _ = env.reset(seed=0)
    assert obs[:, :25].argmax(1).tolist() == [12, 12, 4, 20]  # the start cells
    total, ended = np.zeros(4), np.zeros(4, bool)
    for _ in range(4 * 6):  # 4 trials of at most 6 steps
        d = env.task[:, :2] - env.pos  # the oracle knows the goal: rows first, then columns
        a = np.where(d[:, 0] < 0, 1, np.where(d[:, 0] > 0, 2, np.where(d[:, 1] < 0, 3, 4)))
        obs, r, done, _, _ = env.step(a)
        total += r * ~ended
        ended |= done
    assert total.tolist() == [4, 4, 4, 4] and ended.all()
    env = darkroom.DarkRoom(4, tasks=np.array([[4, 4, 2, 2]] * 4))
    env.reset(seed=0)
    for _ in range(3):
        env.step(np.full(4, 1))  # up, into the wall
    assert env.pos[:, 0].tolist() == [0, 0, 0, 0]
