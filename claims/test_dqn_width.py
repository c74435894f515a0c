"""Widening DQN's dense penultimate layer does not improve its return.

Source: Obando-Ceron, Sokar, Willi, Lyle, Farebrother, Foerster, Dziugaite, Precup, Castro 2024, "Mixtures of
Experts Unlock Parameter Scaling for Deep RL", arXiv:2402.08609 (ICML 2024), Fig. 1 and Sec. 4: DQN's dense
penultimate layer scaled by the factor of the expert count (x1 to x8) gains nothing and often loses
("increasing the parameter count of a model often hurts its final performance").
Source status: VERIFIED (the abstract: "increasing the parameter count of a model often hurts its final
performance"); the dense scaling curve of Fig. 1 was not read here.
Departures: MinAtar Space Invaders (minimal action set, -v1) with the MinAtar DQN of Young & Tian 2019
(arXiv:1903.03176; harness/agents/dqn.py: every setting theirs) instead of 20 Atari games with the Nature CNN;
100k env steps (quick; 5M at full) instead of 200M frames; dense widths 128, 256, 512 (x1, x2, x4 of the
MinAtar network's 128; full adds 1024, x8: on this machine one 5-seed update at width 1024 costs several times
one at 128); 3 seeds (quick; 5 at full) and per-seed statistics instead of an IQM over 20 games x 5 seeds.
Greedy evaluation, 10 episodes every 20k steps, cut at 10k steps. random_score 3.94 was measured here (python
-c "from harness.envs import random_score; print(random_score('MinAtar/SpaceInvaders-v1'))"); reference_score
44 is the MinAtar repository's published DQN curve for Space Invaders at 5M frames (full action set, training
return with epsilon 0.1, read off the figure; UNVERIFIED for -v1), a unit for the margin and gates, not a bar
to pass.
Pilot: width 128 dense with the Huber loss only (the smallest level of the DQN claims), seeds 0-2, 200k env
steps, greedy evaluation of 10 episodes every 25k steps cut at 10k steps (``dqn.train(dqn.Config(
env_id='MinAtar/SpaceInvaders-v1', steps=200_000, eval_every=25_000, eval_episodes=10,
max_episode_steps=10_000), [0, 1, 2])``, 48 min with the machine shared). Space Invaders -v1: 3.0, 2.0, 3.8 at
step 0; 9.8, 6.9, 13.1 at 50k; 22.5, 28.3, 23.1 at 100k (normalized 0.52 on average); 29.4, 24.7, 26.4 at
200k. Breakout -v1 (the alternative): 0.8, 0.0, 0.0 at step 0; 4.4, 4.7, 5.3 at 100k; 4.3, 8.7, 5.7 at 200k.
Both learn clearly by 100k steps; Space Invaders was chosen for it reaches half its reference by then and
keeps rising to 200k (headroom), and 100k env steps (about where epsilon reaches 0.1) is the quick budget: one
3-seed unit at width 128 costs about 15 minutes here, so 5 seeds or 200k steps would take each claim past an
hour. Quick has 3 seeds (the smallest achievable p over 3 levels is (1/6)^3 = 0.005); full has 5 and the
paper's 5M steps.
Gates: the default learning gate (0.1 of the way from each run's baseline to the reference 44); no ceiling
(Space Invaders' waves repeat, so its return has no maximum). A "no gain" verdict also needs the margin, 0.05
per doubling (2.0 points of return), to be at most 0.25 x what width 128 learned. Paper effect unknown: Fig. 1
gives the scaled dense baseline only as IQM bars (no slope per doubling, and Atari-normalized).
"""
import pytest

from harness.agents import dqn


@pytest.mark.claim(
    axis="width",
    metrics={"final_return": "non_increasing", "auc_return": "non_increasing"},
    margin=0.05,
    blocks="seed",
    random_score=3.94,
    reference_score=44.0,
    paper_effect="unknown",
)
@pytest.mark.parametrize("width", [128, 256, 512, 1024])
def test_dqn_width(width, seeds, settings, device, record):
    cfg = dqn.Config(env_id="MinAtar/SpaceInvaders-v1", penultimate="dense", width=width, **settings)
    record(dqn.train(cfg, seeds, device))
