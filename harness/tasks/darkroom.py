"""Dark room: a partially observed gridworld with a hidden goal, several trials per episode.

A task is a (goal cell, start cell) pair of a ``size`` x ``size`` grid (default 5 x 5), goal != start. The
agent sees its own position (one-hot) and not the goal; reward 1 when it steps onto the goal, 0 otherwise.
A trial starts at the task's start cell and ends when the goal is reached or after ``steps`` steps
(default 12); an episode is ``trials`` trials on one task (default 4), so an agent that remembers where the
goal was can walk straight to it in later trials. Actions: stay, up, down, left, right (moves into a wall
keep the agent in place). Observation (float32, size*size + 1): [one-hot position, trial_start]. The
trial index is left out on purpose: an agent with memory can count trials, and a memoryless agent that
saw it could play a different search path in each trial and show a "gain" without adapting (measured
with it: a memoryless agent's held-out trials scored 0.37, 0.55, 0.41, 0.48).

Train / held-out split: the 600 (goal, start) pairs are split once by a fixed permutation; ``held_out``
(default 20%) are never trained on. Every goal cell and every start cell still occurs in training (with
other partners), so a held-out task is new without lying outside the training distribution's support: a
split by goal cell would hold out goals that a meta-learner is right never to look for (found: with 5
held-out goal cells of 24, a 1M-step agent solved 88% of training trials and 20% of held-out first trials).
A training pool of N tasks draws N of the training pairs (with replacement beyond 480); unlimited draws
uniformly among them every episode.
"""
from __future__ import annotations

from functools import partial

import numpy as np

from harness.tasks import EpisodicEnv, TaskPool

SIZE, STEPS, TRIALS, HELD_OUT = 5, 12, 4, 0.2
MOVES = np.array([[0, 0], [-1, 0], [1, 0], [0, -1], [0, 1]])


def split(size: int = SIZE, held_out: float = HELD_OUT) -> tuple[np.ndarray, np.ndarray]:
    """(training tasks, held-out tasks) as (n, 4) arrays of [goal row, goal col, start row, start col]."""
    cells = [(r, c) for r in range(size) for c in range(size)]
    tasks = np.array([(*g, *s) for g in cells for s in cells if g != s])
    tasks = tasks[np.random.default_rng(0xDA2C).permutation(len(tasks))]
    n = round(held_out * len(tasks))
    return tasks[n:], tasks[:n]


def _draw(tasks: np.ndarray, rng: np.random.Generator, k: int) -> np.ndarray:
    return tasks[rng.integers(0, len(tasks), k)]


def training_pool(n: int | None, seed: int = 0, size: int = SIZE) -> TaskPool:
    """A pool of ``n`` training tasks (None: unlimited); it pickles (a checkpoint keeps it)."""
    return TaskPool(partial(_draw, split(size)[0]), n, seed)


class DarkRoom(EpisodicEnv):
    """``num_envs`` dark-room episodes; same-step autoreset (``info["final"]`` marks an episode's end)."""

    def __init__(self, num_envs: int, pool: TaskPool | None = None, size: int = SIZE, steps: int = STEPS,
                 trials: int = TRIALS, tasks: np.ndarray | None = None, seed: int = 0):
        super().__init__(num_envs, obs_dim=size * size + 1, actions=len(MOVES), seed=seed)
        self.size, self.steps, self.trials = size, steps, trials
        self.pool = pool or training_pool(None, seed, size)
        self.fixed = tasks
        self.task = np.zeros((num_envs, 4), dtype=np.int64)  # goal row, goal col, start row, start col
        self.pos = np.zeros((num_envs, 2), dtype=np.int64)
        self.t = np.zeros(num_envs, dtype=np.int64)  # step within the trial
        self.trial = np.zeros(num_envs, dtype=np.int64)

    def _new(self, idx: np.ndarray) -> None:
        self.task[idx] = self.fixed[idx] if self.fixed is not None else self.pool.draw(self.rng, int(idx.sum()))
        self.trial[idx] = 0
        self._start_trial(idx)

    def _start_trial(self, idx: np.ndarray) -> None:
        self.pos[idx] = self.task[idx, 2:]
        self.t[idx] = 0

    def _obs(self) -> np.ndarray:
        obs = np.zeros((self.num_envs, self.size * self.size + 1), dtype=np.float32)
        obs[np.arange(self.num_envs), self.pos[:, 0] * self.size + self.pos[:, 1]] = 1.0
        obs[:, -1] = self.t == 0
        return obs

    def step(self, actions):
        a = np.asarray(actions, dtype=np.int64)
        self.pos = np.clip(self.pos + MOVES[a], 0, self.size - 1)
        self.t += 1
        reward = (self.pos == self.task[:, :2]).all(1).astype(np.float32)
        info = {"trial": self.trial.copy()}
        trial_over = (reward > 0) | (self.t >= self.steps)
        self.trial += trial_over
        done = self.trial >= self.trials
        info["final"] = done.copy()
        if trial_over.any():
            self._start_trial(trial_over)
        if done.any():
            self._new(done)
        return self._obs(), reward, done, np.zeros(self.num_envs, dtype=bool), info
