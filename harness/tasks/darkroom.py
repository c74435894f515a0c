"""Dark room: a partially observed gridworld with a hidden goal, several trials per episode.

A task is a goal cell of a ``size`` x ``size`` grid (default 5 x 5). The agent sees its own position (one-
hot) and not the goal; reward 1 when it steps onto the goal, 0 otherwise. A trial starts at the centre and
ends when the goal is reached or after ``steps`` steps (default 12); an episode is ``trials`` trials on
one task (default 4), so an agent that remembers where the goal was can walk straight to it in later
trials. Actions: stay, up, down, left, right (moves into a wall keep the agent in place).
Observation (float32, size*size + 2): [one-hot position, trial_start, trial index / trials].

Train / held-out split: the goal cells are split once by a fixed permutation, ``held_out`` cells (default
5 of the 24 non-centre cells) are never trained on; a training pool of N tasks draws N of the remaining
cells (with replacement when N exceeds them), or unlimited draws uniformly among them every episode.
"""
from __future__ import annotations

import numpy as np

from harness.tasks import EpisodicEnv, TaskPool

SIZE, STEPS, TRIALS, HELD_OUT = 5, 12, 4, 5
MOVES = np.array([[0, 0], [-1, 0], [1, 0], [0, -1], [0, 1]])


def split(size: int = SIZE, held_out: int = HELD_OUT) -> tuple[np.ndarray, np.ndarray]:
    """(training goal cells, held-out goal cells) as (n, 2) arrays; the centre is never a goal."""
    centre = size // 2
    cells = np.array([(r, c) for r in range(size) for c in range(size) if (r, c) != (centre, centre)])
    cells = cells[np.random.default_rng(0xDA2C).permutation(len(cells))]
    return cells[held_out:], cells[:held_out]


def training_pool(n: int | None, seed: int = 0, size: int = SIZE) -> TaskPool:
    train, _ = split(size)
    return TaskPool(lambda rng, k: train[rng.integers(0, len(train), k)], n, seed)


class DarkRoom(EpisodicEnv):
    """``num_envs`` dark-room episodes; same-step autoreset (``info["final"]`` marks an episode's end)."""

    def __init__(self, num_envs: int, pool: TaskPool | None = None, size: int = SIZE, steps: int = STEPS,
                 trials: int = TRIALS, tasks: np.ndarray | None = None, seed: int = 0):
        super().__init__(num_envs, obs_dim=size * size + 2, actions=len(MOVES), seed=seed)
        self.size, self.steps, self.trials = size, steps, trials
        self.pool = pool or training_pool(None, seed, size)
        self.fixed = tasks
        self.goal = np.zeros((num_envs, 2), dtype=np.int64)
        self.pos = np.zeros((num_envs, 2), dtype=np.int64)
        self.t = np.zeros(num_envs, dtype=np.int64)  # step within the trial
        self.trial = np.zeros(num_envs, dtype=np.int64)

    def _new(self, idx: np.ndarray) -> None:
        self.goal[idx] = self.fixed[idx] if self.fixed is not None else self.pool.draw(self.rng, int(idx.sum()))
        self.trial[idx] = 0
        self._start_trial(idx)

    def _start_trial(self, idx: np.ndarray) -> None:
        self.pos[idx] = self.size // 2
        self.t[idx] = 0

    def _obs(self) -> np.ndarray:
        obs = np.zeros((self.num_envs, self.size * self.size + 2), dtype=np.float32)
        obs[np.arange(self.num_envs), self.pos[:, 0] * self.size + self.pos[:, 1]] = 1.0
        obs[:, -2] = self.t == 0
        obs[:, -1] = self.trial / self.trials
        return obs

    def step(self, actions):
        a = np.asarray(actions, dtype=np.int64)
        self.pos = np.clip(self.pos + MOVES[a], 0, self.size - 1)
        self.t += 1
        reward = (self.pos == self.goal).all(1).astype(np.float32)
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
