"""Bernoulli k-armed bandits with several trials per episode, and the reference policies.

A task is k arm means drawn iid from the prior Uniform(0, 1) (Beta(1, 1)); training and held-out tasks
come from separate RNG streams. An episode plays one task for ``trials`` trials of ``pulls`` pulls; the
arm means stay fixed across the episode, so what the agent learns in trial 1 pays in the later trials.
Pulling arm a gives reward 1 with probability mean[a], else 0. Defaults: k = 5, 10 pulls per trial, 4
trials (40 pulls). Observation (float32, 3): [trial_start, pull index / pulls, trial index / trials].

Scores are expected rewards: a pull scores the mean of the pulled arm (the agent still sees the sampled
0/1 reward). This removes the Bernoulli noise from evaluation, so per-task adaptation gains are continuous
rather than lumpy counts, and it does not change any policy's expected score.

Reference policies (``reference_scores``) are computed by the harness itself on the same held-out tasks
with the same trials: random; UCB1 (Auer et al. 2002: each arm once, then argmax mean + sqrt(2 ln t / n));
Thompson sampling with the Beta(1, 1) prior; and greedy-after-one-pull (each arm once, then the best
empirical mean), which is strong at short horizons.
"""
from __future__ import annotations

from functools import partial
from typing import Callable

import numpy as np

from harness.tasks import EpisodicEnv, TaskPool

K, PULLS, TRIALS = 5, 10, 4


def sample_tasks(rng: np.random.Generator, n: int, k: int = K) -> np.ndarray:
    """n tasks: (n, k) arm means from Uniform(0, 1)."""
    return rng.random((n, k))


def held_out_tasks(n: int, k: int = K, seed: int = 0) -> np.ndarray:
    """n held-out tasks from their own stream (never the training pool's)."""
    return sample_tasks(np.random.default_rng([seed, 0xE7A1]), n, k)


class Bandits(EpisodicEnv):
    """``num_envs`` bandit episodes in parallel; same-step autoreset (the step that ends an episode returns
    the next episode's first observation; ``info["final"]`` marks it)."""

    def __init__(self, num_envs: int, pool: TaskPool | None = None, k: int = K, pulls: int = PULLS,
                 trials: int = TRIALS, tasks: np.ndarray | None = None, seed: int = 0):
        super().__init__(num_envs, obs_dim=3, actions=k, seed=seed)
        self.k, self.pulls, self.trials = k, pulls, trials
        self.pool = pool or TaskPool(partial(sample_tasks, k=k), None, seed)
        self.fixed = tasks  # held-out evaluation: env i plays tasks[i] every episode
        self.means = np.zeros((num_envs, k))
        self.t = np.zeros(num_envs, dtype=np.int64)

    def _new(self, idx: np.ndarray) -> None:
        self.means[idx] = self.fixed[idx] if self.fixed is not None else self.pool.draw(self.rng, int(idx.sum()))
        self.t[idx] = 0

    def _obs(self) -> np.ndarray:
        pull, trial = self.t % self.pulls, self.t // self.pulls
        return np.stack([(pull == 0).astype(np.float32), pull / self.pulls, trial / self.trials], 1).astype(np.float32)

    def step(self, actions):
        a = np.asarray(actions, dtype=np.int64)
        reward = (self.rng.random(self.num_envs) < self.means[np.arange(self.num_envs), a]).astype(np.float32)
        trial = self.t // self.pulls
        self.t += 1
        done = self.t >= self.pulls * self.trials
        info = {"trial": trial, "final": done.copy()}
        if done.any():
            self._new(done)
        return self._obs(), reward, done, np.zeros(self.num_envs, dtype=bool), info


# --- reference policies: each maps (counts, successes, t, rng) -> actions for n tasks at once ----------------

def _random(counts, wins, t, rng):
    return rng.integers(0, counts.shape[1], counts.shape[0])


def _ucb1(counts, wins, t, rng):
    untried = counts == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        ucb = wins / counts + np.sqrt(2 * np.log(max(t, 1)) / counts)
    return np.where(untried.any(1), untried.argmax(1), np.nan_to_num(ucb, nan=np.inf).argmax(1))


def _thompson(counts, wins, t, rng):
    return rng.beta(1 + wins, 1 + counts - wins).argmax(1)


def _greedy_after_one(counts, wins, t, rng):
    untried = counts == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.nan_to_num(wins / counts, nan=-1.0)
    return np.where(untried.any(1), untried.argmax(1), mean.argmax(1))


REFERENCES: dict[str, Callable] = {"random": _random, "ucb1": _ucb1, "thompson": _thompson,
                                   "greedy_after_one_pull": _greedy_after_one}


def play(policy: Callable, tasks: np.ndarray, pulls: int = PULLS, trials: int = TRIALS, seed: int = 0) -> np.ndarray:
    """Score per trial of ``policy`` on each task: (n_tasks, trials), the expected reward per pull (the mean
    of the pulled arm; the policy sees the sampled rewards). One episode per task; what the policy counted
    carries over between trials."""
    rng = np.random.default_rng([seed, 0x5EED])
    n, k = tasks.shape
    counts, wins = np.zeros((n, k)), np.zeros((n, k))
    out = np.zeros((n, trials))
    for t in range(pulls * trials):
        a = policy(counts, wins, t, rng)
        r = (rng.random(n) < tasks[np.arange(n), a]).astype(float)
        counts[np.arange(n), a] += 1
        wins[np.arange(n), a] += r
        out[:, t // pulls] += tasks[np.arange(n), a] / pulls
    return out


def reference_scores(tasks: np.ndarray, pulls: int = PULLS, trials: int = TRIALS, seed: int = 0) -> dict[str, float]:
    """Expected reward per pull of each reference policy over the tasks (all trials)."""
    return {name: float(play(p, tasks, pulls, trials, seed).mean()) for name, p in REFERENCES.items()}


def normalized_score(agent: float, refs: dict[str, float]) -> float:
    """(agent - random) / (best reference - random)."""
    best = max(v for k, v in refs.items() if k != "random")
    return (agent - refs["random"]) / (best - refs["random"])
