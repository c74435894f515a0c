"""Task families for in-context adaptation (AdA in miniature): many tasks, several trials per episode,
memory kept across trials, held-out tasks for evaluation. Numpy-vectorized gymnasium ``VectorEnv``s.

``TaskPool``: the training distribution. A finite pool of N tasks drawn once from the family's training
split (its seed fixes them), or ``None`` for an unlimited pool (a fresh task every episode). Held-out
tasks come from a separate split (a separate RNG stream, and for families with finitely many tasks a
disjoint set of them), so they are never trained on.
"""
from __future__ import annotations

from typing import Callable

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv


class TaskPool:
    """Draws training tasks: ``sample(rng, n)`` makes n tasks of a family's training split; a pool of
    ``size`` tasks is drawn once (from ``seed``) and episodes pick from it uniformly."""

    def __init__(self, sample: Callable[[np.random.Generator, int], np.ndarray], size: int | None, seed: int):
        if size is not None and size < 1:
            raise ValueError(f"a task pool needs at least 1 task (or None for unlimited), got {size}")
        self.sample, self.size = sample, size
        self.tasks = None if size is None else sample(np.random.default_rng([seed, 0x9001]), size)

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        if self.tasks is None:
            return self.sample(rng, n)
        return self.tasks[rng.integers(0, len(self.tasks), n)]


class EpisodicEnv(VectorEnv):
    """``num_envs`` episodes of one family, each on its own task; same-step autoreset (the step that ends an
    episode returns the next episode's first observation, and ``info["final"]`` marks it). Subclasses
    define ``_new(mask)`` (a new task and episode where mask is True) and ``_obs()``."""

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP}

    def __init__(self, num_envs: int, obs_dim: int, actions: int, seed: int):
        self.num_envs = num_envs
        self.single_observation_space = gym.spaces.Box(0.0, 1.0, (obs_dim,), np.float32)
        self.single_action_space = gym.spaces.Discrete(actions)
        self.observation_space = gym.vector.utils.batch_space(self.single_observation_space, num_envs)
        self.action_space = gym.vector.utils.batch_space(self.single_action_space, num_envs)
        self.rng = np.random.default_rng(seed)

    def _new(self, idx: np.ndarray) -> None:
        raise NotImplementedError

    def _obs(self) -> np.ndarray:
        raise NotImplementedError

    def reset(self, *, seed: int | None = None, options=None):
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        self._new(np.ones(self.num_envs, dtype=bool))
        return self._obs(), {}
