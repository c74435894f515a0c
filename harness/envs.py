"""Seeded gymnasium environments (one per ensemble member) and the evaluation protocol.

Seeding contract (ARCHITECTURE.md, "Seeds"): every random stream of a member derives from its seed
alone, through ``derive_seed(seed, stream)``, so member i behaves the same in any ensemble and at every
level of a sweep. Evaluation episodes use the stream "eval": the same seed therefore meets the same
evaluation start states at every level, which is what pairs seeds across levels.
"""
from __future__ import annotations

import difflib
import zlib
from typing import Callable, Sequence

import gymnasium as gym
import numpy as np


def derive_seed(seed: int, stream: str) -> int:
    """A 63-bit seed for the named stream ("init", "env", "replay", "explore", "eval", ...) of ``seed``."""
    ss = np.random.SeedSequence(entropy=int(seed), spawn_key=(zlib.crc32(stream.encode()),))
    return int(ss.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


def env_seed(env_id: str, seed: int) -> int:
    """The seed handed to ``env.reset``: 63-bit as derived, except for families whose RNG takes 32 bits
    (MinAtar seeds a legacy ``np.random.RandomState``), which get its low 32 bits."""
    return seed & 0xFFFF_FFFF if env_id.startswith("MinAtar/") else seed


def check_env_id(env_id: str) -> None:
    """Raise a ValueError naming close matches when ``env_id`` is not registered."""
    _register_optional()
    if env_id in gym.envs.registry:
        return
    close = difflib.get_close_matches(env_id, list(gym.envs.registry), n=3, cutoff=0.6)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise ValueError(f"Unknown gymnasium env id {env_id!r}.{hint} List ids with "
                     "`python -c 'import gymnasium; print(list(gymnasium.envs.registry))'`; MuJoCo tasks "
                     "need `pip install gymnasium[mujoco]`.")


def make_env(env_id: str, seed: int, stream: str = "env", **kwargs) -> gym.Env:
    """A new env, reset once with the member's ``stream`` seed so that its RNG is fixed."""
    check_env_id(env_id)
    env = gym.make(env_id, **kwargs)
    s = env_seed(env_id, derive_seed(seed, stream))
    env.reset(seed=s)
    env.action_space.seed(s)
    return env


def evaluate(act: Callable[[np.ndarray], np.ndarray], env_id: str, seeds: Sequence[int], episodes: int,
             max_episode_steps: int | None = None) -> np.ndarray:
    """Mean undiscounted return of ``episodes`` deterministic-policy episodes for each member.

    act: maps observations of shape (M, *obs_shape) -> actions (M, *act_shape) for the M = len(seeds)
         members at once (member i acts on row i). Finished members keep receiving their last
         observation; their actions are ignored.
    Episode k of member i starts from ``reset(seed=derive_seed(seeds[i], "eval") + k)``: evaluation
    envs are separate from training envs and their start states depend on the seed only, never on the
    level of a sweep. Returns shape (M,).
    """
    envs = [gym.make(env_id) for _ in seeds]
    totals = np.zeros((len(seeds), episodes))
    try:
        for k in range(episodes):
            obs = np.stack([e.reset(seed=env_seed(env_id, derive_seed(s, "eval") + k))[0]
                            for e, s in zip(envs, seeds)])
            done = np.zeros(len(seeds), dtype=bool)
            steps = 0
            while not done.all():
                actions = np.asarray(act(obs))
                for i, env in enumerate(envs):
                    if done[i]:
                        continue
                    o, r, term, trunc, _ = env.step(actions[i])
                    totals[i, k] += float(r)
                    obs[i] = o
                    done[i] = term or trunc
                steps += 1
                if max_episode_steps is not None and steps >= max_episode_steps:
                    break
    finally:
        for e in envs:
            e.close()
    return totals.mean(axis=1)


def random_score(env_id: str, episodes: int = 100, seed: int = 0) -> float:
    """Mean return of a uniformly random policy over ``episodes`` evaluation episodes (for claim markers)."""
    env = make_env(env_id, seed)
    def act(obs):
        return np.stack([env.action_space.sample() for _ in range(len(obs))])
    return float(evaluate(act, env_id, [seed], episodes).mean())


def _register_optional() -> None:
    """Register optional env families (MinAtar) when their package is installed."""
    try:
        import minatar.gym  # type: ignore

        if not any(k.startswith("MinAtar/") for k in gym.envs.registry):
            minatar.gym.register_envs()
    except Exception:  # pragma: no cover - optional dependency
        pass
