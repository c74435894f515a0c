"""Offline datasets generated here: MinAtar trajectories of mixed quality from the harness's own agents.

No dataset can be downloaded on the machines this project targets, and users should be able to regenerate
and extend the data, so the offline claims (``mgdt_size``, ``gato_size``) train on trajectories that this
module records. For each game of ``DataConfig.games`` it trains two PPO behaviour policies with
``harness.agents.ppo`` (expert: ``expert_steps`` env steps; medium: ``medium_steps``) and records
``transitions`` steps of each quality (expert, medium, random), sampling actions from the policy (uniformly
for random), in episodes of at most ``max_episode_steps``. Every game uses MinAtar's full action set of 6
(the ``-v0`` ids), so one action head serves every game, as MGDT shares Atari's 18 actions.

One cached function, ``dataset(cfg)``, builds or reuses the data; the DVC stage ``offline_data``
(``python -m harness data``), the offline agents and the tests all call it. The cache directory is named
by a hash of the config and of the code that makes the data (this file and every harness module it imports,
transitively: ``harness.identity``), so an edit to any of them builds a new dataset instead of reusing a
stale one. Building is deterministic for the
config's seed on CPU (the card's ``content_hash`` is the same on every build), written to a temporary
directory and renamed into place (an interrupted build leaves nothing half-written), and guarded by a
file lock so that parallel claim units build it once.

Layout of ``<root>/<key>/``:

- ``data.npz``: per game and quality, ``<game>/<quality>/obs`` (transitions, ceil(100 * C / 8)) uint8,
  the 10x10xC boolean grid bit-packed; ``action`` uint8; ``reward`` float32; ``episode_end`` bool (the
  episode's last transition, terminal or truncated). Loaded with ``allow_pickle=False``.
- ``card.json`` and ``card.md``: the dataset card (tasks, episodes, transitions, the return distribution
  per quality, the behaviour policies' training, the normalization scores, the content hash).
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import time
import warnings
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from harness.agents import ppo
from harness.envs import check_env_id, derive_seed, make_env

FORMAT = 1
QUALITIES = ("expert", "medium", "random")
ACTIONS = 6  # MinAtar's full action set (the -v0 ids)


@dataclass(frozen=True)
class DataConfig:
    """What an offline dataset holds and how its behaviour policies are trained."""

    games: tuple[str, ...] = ("Breakout", "SpaceInvaders", "Freeway")
    """MinAtar games (the ``MinAtar/<game>-v0`` ids)."""
    transitions: int = 50_000
    """Recorded transitions per game and quality (whole episodes: the last one may overshoot)."""
    expert_steps: int = 1_000_000
    """Env steps of PPO training for the expert behaviour policy."""
    medium_steps: int = 100_000
    """Env steps of PPO training for the medium behaviour policy."""
    ppo_width: int = 64
    """Hidden width of the behaviour policies (2 layers; PPO's other settings are its defaults)."""
    max_episode_steps: int = 1000
    """Time limit of recorded (and evaluation) episodes: a good MinAtar player can play forever."""
    envs: int = 8
    """Environments stepped side by side while recording."""
    seed: int = 0
    """Seed of the behaviour policies and of the recording; the data is a deterministic function of it."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "games", tuple(self.games))
        if not self.games:
            raise ValueError("DataConfig.games must name at least one MinAtar game, e.g. ('Breakout',)")
        for g in self.games:
            check_env_id(env_id(g))
        for name in ("transitions", "expert_steps", "medium_steps", "ppo_width", "max_episode_steps", "envs"):
            if getattr(self, name) < 1:
                raise ValueError(f"DataConfig.{name} must be >= 1, got {getattr(self, name)}")

    @property
    def key(self) -> str:
        """Hash of the config and of the code that makes the data: the cache directory's name."""
        from harness.identity import code_identity
        code = code_identity(__name__)["hash"]
        text = json.dumps({"format": FORMAT, "config": asdict(self), "code": code}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def env_id(game: str) -> str:
    return f"MinAtar/{game}-v0"


def make(game: str, seed: int | None = None, stream: str = "env", **kwargs: Any) -> gym.Env:
    """A game's env (full action set; gymnasium's note that -v0 is out of date silenced); with ``seed``, reset
    once from the member's ``stream`` as ``harness.envs.make_env`` does."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return gym.make(env_id(game), **kwargs) if seed is None else make_env(env_id(game), seed, stream, **kwargs)


@dataclass
class Episodes:
    """One game's transitions of one quality, episodes back to back."""

    obs: np.ndarray
    """(T, 10, 10, C) bool."""
    action: np.ndarray
    """(T,) int64 in [0, 6)."""
    reward: np.ndarray
    """(T,) float32."""
    episode_end: np.ndarray
    """(T,) bool: the last transition of an episode."""

    @property
    def starts(self) -> np.ndarray:
        """Index of each transition's episode start, (T,)."""
        begin = np.concatenate([[0], np.flatnonzero(self.episode_end)[:-1] + 1])
        return np.repeat(begin, np.diff(np.concatenate([begin, [len(self.action)]])))

    @property
    def returns(self) -> np.ndarray:
        """Undiscounted return of each episode."""
        ends = np.flatnonzero(self.episode_end)
        return np.add.reduceat(self.reward, np.concatenate([[0], ends[:-1] + 1])) if len(ends) else np.zeros(0)

    def returns_to_go(self) -> np.ndarray:
        """(T,) float32: the undiscounted reward from each step to the end of its episode (inclusive)."""
        rtg = np.zeros(len(self.reward), dtype=np.float64)
        acc = 0.0
        for t in range(len(self.reward) - 1, -1, -1):
            if self.episode_end[t]:
                acc = 0.0
            acc += float(self.reward[t])
            rtg[t] = acc
        return rtg.astype(np.float32)


@dataclass
class Dataset:
    """A loaded dataset: ``data[game][quality]`` and its card."""

    path: Path
    card: dict[str, Any]
    data: dict[str, dict[str, Episodes]] = field(repr=False)

    @property
    def games(self) -> list[str]:
        return list(self.card["config"]["games"])

    def normalize(self, game: str, episode_return: float) -> float:
        """(return - random) / (best behaviour policy - random), mean episode returns in the data (random = 0,
        best = 1; the denominator is at least 1 reward point)."""
        g = self.card["games"][game]
        return (episode_return - g["random_score"]) / g["score_scale"]


def root_dir() -> Path:
    """Where datasets live: ``$HARNESS_DATA`` or ``data/offline`` under the working directory."""
    return Path(os.environ.get("HARNESS_DATA", "data/offline"))


def dataset(cfg: DataConfig, root: str | Path | None = None) -> Dataset:
    """The dataset of ``cfg``: loaded from ``<root>/<cfg.key>`` if built, else built there first."""
    root = Path(root) if root is not None else root_dir()
    path = root / cfg.key
    if not (path / "card.json").exists():
        root.mkdir(parents=True, exist_ok=True)
        with open(root / f".{cfg.key}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be building it: wait, then reuse
            if not (path / "card.json").exists():
                _build(cfg, path)
    return load(path)


def load(path: str | Path) -> Dataset:
    """Read a built dataset (no pickle); a missing or damaged one, or one whose arrays do not match its card's
    ``content_hash``, is a clear error."""
    path = Path(path)
    try:
        card = json.loads((path / "card.json").read_text())
        with np.load(path / "data.npz", allow_pickle=False) as z:
            found = content_hash({k: z[k] for k in z.files})
            if found != card["content_hash"]:
                raise ValueError(f"its arrays hash to {found}, its card says {card['content_hash']}: the data was "
                                 "changed after it was built")
            data: dict[str, dict[str, Episodes]] = {}
            for game in card["config"]["games"]:
                c = card["games"][game]["channels"]
                data[game] = {}
                for q in QUALITIES:
                    n = card["games"][game]["qualities"][q]["transitions"]
                    bits = np.unpackbits(z[f"{game}/{q}/obs"], axis=1, count=100 * c)
                    data[game][q] = Episodes(obs=bits.reshape(n, 10, 10, c).astype(bool),
                                             action=z[f"{game}/{q}/action"].astype(np.int64),
                                             reward=z[f"{game}/{q}/reward"],
                                             episode_end=z[f"{game}/{q}/episode_end"])
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as e:  # JSONDecodeError is a ValueError
        raise ValueError(f"the offline dataset at {path} is missing or damaged ({type(e).__name__}: {e}); delete "
                         "that directory and it is rebuilt on next use (`python -m harness data`)") from e
    return Dataset(path=path, card=card, data=data)


def content_hash(arrays: dict[str, np.ndarray]) -> str:
    """The digest of a dataset's stored arrays (names and bytes, in name order), as its card records it."""
    digest = hashlib.sha256()
    for k in sorted(arrays):
        digest.update(k.encode())
        digest.update(np.ascontiguousarray(arrays[k]).tobytes())
    return digest.hexdigest()[:16]


# --- building ---------------------------------------------------------------------------------------------

def _build(cfg: DataConfig, path: Path) -> None:
    start = time.perf_counter()
    torch.set_num_threads(1)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}."))
    try:
        arrays: dict[str, np.ndarray] = {}
        games: dict[str, Any] = {}
        for game in cfg.games:
            games[game] = _build_game(cfg, game, derive_seed(cfg.seed, f"data/{game}"), arrays)
        np.savez(tmp / "data.npz", **arrays)
        card = {"format": FORMAT, "key": cfg.key, "config": asdict(cfg), "games": games,
                "transitions": sum(q["transitions"] for g in games.values() for q in g["qualities"].values()),
                "episodes": sum(q["episodes"] for g in games.values() for q in g["qualities"].values()),
                "bytes": (tmp / "data.npz").stat().st_size, "content_hash": content_hash(arrays),
                "build_seconds": round(time.perf_counter() - start, 1)}
        (tmp / "card.json").write_text(json.dumps(card, indent=1) + "\n")
        (tmp / "card.md").write_text(card_markdown(card))
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _build_game(cfg: DataConfig, game: str, seed: int, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    policies: dict[str, Any] = {}
    info: dict[str, Any] = {"env_id": env_id(game), "qualities": {}, "behaviour": {}}
    for q, steps in (("expert", cfg.expert_steps), ("medium", cfg.medium_steps)):
        pcfg = ppo.Config(env_id=env_id(game), steps=steps, width=cfg.ppo_width, depth=2,
                          eval_every=max(steps, 1), eval_episodes=10, max_episode_steps=cfg.max_episode_steps)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            res, ac = ppo.train_agent(pcfg, [derive_seed(seed, f"ppo/{q}") & 0xFFFF_FFFF])
        policies[q] = ac
        m = res.members[0]
        info["behaviour"][q] = {"ppo_env_steps": m.env_steps, "greedy_eval_return": m.curve_returns[-1],
                                "wall_s": round(m.wall_time, 1)}
    policies["random"] = None
    for q in QUALITIES:
        eps = _record(cfg, game, policies[q], derive_seed(seed, f"record/{q}"))
        prefix = f"{game}/{q}/"
        arrays[prefix + "obs"] = np.packbits(eps.obs.reshape(len(eps.action), -1), axis=1)
        arrays[prefix + "action"] = eps.action.astype(np.uint8)
        arrays[prefix + "reward"] = eps.reward.astype(np.float32)
        arrays[prefix + "episode_end"] = eps.episode_end
        r = eps.returns
        info["channels"] = int(eps.obs.shape[-1])
        info["qualities"][q] = {"episodes": int(len(r)), "transitions": int(len(eps.action)),
                                "return": {"mean": float(r.mean()), "std": float(r.std()), "min": float(r.min()),
                                           "p25": float(np.percentile(r, 25)), "median": float(np.median(r)),
                                           "p75": float(np.percentile(r, 75)), "max": float(r.max())}}
    means = {q: v["return"]["mean"] for q, v in info["qualities"].items()}
    info["random_score"] = means["random"]
    info["reference_score"] = max(means.values())
    # the normalizer's denominator, at least one reward point: behaviour policies that do not beat random
    # (the smoke dataset's few thousand PPO steps) still give finite scores
    info["score_scale"] = max(info["reference_score"] - info["random_score"], 1.0)
    info["max_return_to_go"] = max(v["return"]["max"] for v in info["qualities"].values())
    return info


def _record(cfg: DataConfig, game: str, policy: Any, seed: int) -> Episodes:
    """Whole episodes from ``cfg.envs`` envs until at least ``cfg.transitions`` transitions are recorded;
    actions sampled from the policy (uniform when ``policy`` is None)."""
    rng = np.random.default_rng(seed)
    envs = [make(game, seed, f"record/{j}", max_episode_steps=cfg.max_episode_steps) for j in range(cfg.envs)]
    obs = np.stack([e.reset(seed=derive_seed(seed, f"reset/{j}") & 0xFFFF_FFFF)[0] for j, e in enumerate(envs)])
    open_eps: list[list[tuple]] = [[] for _ in envs]
    done_eps: list[list[tuple]] = []
    total = 0
    while total < cfg.transitions:
        if policy is None:
            actions = rng.integers(0, ACTIONS, size=len(envs))
        else:
            with torch.no_grad():
                logits = policy.dist_params(torch.as_tensor(obs.reshape(1, len(envs), -1), dtype=torch.float32))
            p = torch.softmax(logits[0].double(), -1).numpy()
            u = rng.random(len(envs))[:, None]
            actions = np.minimum((u > np.cumsum(p, axis=1)).sum(1), ACTIONS - 1)
        for j, env in enumerate(envs):
            o, r, term, trunc, _ = env.step(int(actions[j]))
            open_eps[j].append((obs[j].copy(), int(actions[j]), float(r)))
            if term or trunc:
                if total < cfg.transitions:
                    done_eps.append(open_eps[j])
                    total += len(open_eps[j])
                open_eps[j] = []
                o, _ = env.reset()
            obs[j] = o
    for e in envs:
        e.close()
    flat = [t for ep in done_eps for t in ep]
    end = np.zeros(len(flat), dtype=bool)
    end[np.cumsum([len(ep) for ep in done_eps]) - 1] = True
    return Episodes(obs=np.stack([t[0] for t in flat]).astype(bool), action=np.array([t[1] for t in flat]),
                    reward=np.array([t[2] for t in flat], dtype=np.float32), episode_end=end)


def card_markdown(card: dict[str, Any]) -> str:
    """The dataset card as a markdown page."""
    c = card["config"]
    lines = [f"# Offline MinAtar dataset `{card['key']}`", "",
             f"{card['episodes']} episodes, {card['transitions']} transitions, {card['bytes'] / 2**20:.1f} MiB "
             f"(content hash `{card['content_hash']}`), built in {card['build_seconds']} s.",
             f"Behaviour policies: PPO width {c['ppo_width']}, expert {c['expert_steps']} and medium "
             f"{c['medium_steps']} env steps; actions sampled from the policy; random: uniform over 6 actions. "
             f"Episodes of at most {c['max_episode_steps']} steps; seed {c['seed']}.", "",
             "| game | quality | episodes | transitions | return mean ± sd | min / median / max |",
             "|---|---|---|---|---|---|"]
    for game, g in card["games"].items():
        for q, v in g["qualities"].items():
            r = v["return"]
            lines.append(f"| {game} | {q} | {v['episodes']} | {v['transitions']} | {r['mean']:.2f} ± {r['std']:.2f} | "
                         f"{r['min']:.0f} / {r['median']:.0f} / {r['max']:.0f} |")
    lines += ["", "Normalized score: (return - random) / (best behaviour policy - random), per game:", "",
              "| game | random (0) | best behaviour (1) | PPO greedy evaluation: expert, medium |", "|---|---|---|---|"]
    for game, g in card["games"].items():
        b = g["behaviour"]
        lines.append(f"| {game} | {g['random_score']:.2f} | {g['reference_score']:.2f} | "
                     f"{b['expert']['greedy_eval_return']:.2f}, {b['medium']['greedy_eval_return']:.2f} |")
    return "\n".join(lines) + "\n"
