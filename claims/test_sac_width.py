"""Plain-MLP SAC gains nothing from a wider critic.

Source: Nauman, Ostaszewski, Jankowski, Milos, Cygan 2024, "Bigger, Regularized, Optimistic" (BRO),
arXiv:2405.16158, Fig. 1 (right: SAC, vanilla dense critic, "naively increasing the critic capacity does
not necessarily lead to performance improvements"); Lee et al. 2024, "SimBa", arXiv:2410.09754 (MLP SAC
from 0.1M to 17M parameters on Humanoid drops; SECONDARY).
Source status: VERIFIED (the BRO project page: "naively increasing the critic capacity does not necessarily lead to
performance improvements", with the caption of Fig. 1 naming vanilla dense SAC); the SimBa Humanoid example is
SECONDARY.
Departures: one Gymnasium MuJoCo task (HalfCheetah-v5) and 5 seeds instead of 40 DMC/MetaWorld/MyoSuite
tasks x 10 seeds and an IQM; critic widths 64..512 (11.5k..551k critic parameters, 2 hidden layers)
instead of BRO's range up to ~5M; 10k env steps (quick) or 200k (full) instead of 1M; batch 128 instead
of SB3's 256 (CPU cost; the same at every width); the actor stays a 256x256 MLP (BRO and SimBa scale the
critic). reference_score 5000 is a planning anchor (UNVERIFIED: roughly what SB3/CleanRL SAC reach on
HalfCheetah after 200k-300k steps), not a measurement; it only sets the unit of the margin: 0.05 per
doubling = 265 return. random_score -291 was measured here (python -c "from harness.envs import
random_score; print(random_score('HalfCheetah-v5', episodes=50))").
Pilot: width 64 only, quick budget, 5 seeds (`pytest claims/test_sac_width.py -k width64 --budget quick`,
167 s): auc_return -44, -63, -68, 1, -91 (normalized 0.045 +/- 0.007), final_return -73 to -193. SAC has
barely left its initial policy after 10k steps on HalfCheetah (as Stable-Baselines3's SAC does at 20k steps here: benchmarks/sac_vs_sb3.py):
above random, far below the ceiling, but the quick budget only measures the first 9k updates. It was run
anyway, knowing quick says little; full (200k steps) carries the claim.
Gates: the default learning gate (0.1 of the way from each run's baseline, the larger of the random score
and its untrained step-0 score, to the reference 5000), fixed after the first quick results were known (so
the default, not a chosen value); no ceiling: HalfCheetah's return has no maximum. A "no gain" verdict also
needs the margin to be at most 0.25 x what the reference width learned. Paper effect unknown: BRO Fig. 1
gives SAC's dense-critic curve only as a figure; its text says enlarging the critic "does not necessarily
lead to performance improvements" (a slope near 0).
"""
import pytest

from harness.agents import sac


@pytest.mark.claim(
    axis="width",
    metrics={"auc_return": "non_increasing"},
    margin=0.05,
    blocks="seed",
    random_score=-291.0,
    reference_score=5000.0,
    paper_effect="unknown",
)
@pytest.mark.parametrize("width", [64, 128, 256, 512])
def test_sac_width(width, seeds, settings, device, record):
    cfg = sac.Config(env_id="HalfCheetah-v5", block="mlp", critic_width=width, critic_depth=2, actor_width=256,
                     actor_depth=2, batch_size=128, steps=settings.steps, learning_starts=settings.learning_starts,
                     eval_every=settings.eval_every, eval_episodes=settings.eval_episodes)
    record(sac.train(cfg, seeds=seeds, device=device))
