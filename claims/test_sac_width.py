"""Plain-MLP SAC gains nothing from a wider critic.

Source: Nauman, Ostaszewski, Jankowski, Milos, Cygan 2024, "Bigger, Regularized, Optimistic" (BRO),
arXiv:2405.16158, Fig. 1 (right: SAC, vanilla dense critic; "naively increasing the critic capacity does not
necessarily lead to performance improvements"); Lee et al. 2024, "SimBa", arXiv:2410.09754 (MLP SAC from 0.1M to 17M
parameters on Humanoid drops; SECONDARY).
Source status: VERIFIED (the BRO project page: "naively increasing the critic capacity does not necessarily lead to
performance improvements", with the caption of Fig. 1 naming vanilla dense SAC); the SimBa Humanoid example is
SECONDARY.
Departures: one Gymnasium MuJoCo task, InvertedDoublePendulum-v5, at every budget, instead of BRO's 40
DMC/MetaWorld/MyoSuite tasks x 10 seeds and an IQM; 30k env steps (1k of them uniform warm-up) instead of 1M; critic
widths 64, 128, 256 at quick (18k to 200k critic parameters, 2 hidden layers) and up to 1024 (2.2M) at full, instead
of BRO's range up to about 5M; 8 seeds at quick (the plan below), 10 at full; batch 128 instead of SB3's 256 (CPU
cost; the same at every width); the actor stays SB3's 256x256 MLP (BRO and SimBa scale the critic). The task was
chosen by the pilot below: HalfCheetah (the earlier design) had barely left its initial policy after 10k steps
(normalized AUC 0.045), Hopper reached about 250 at 10k, Reacher learned but with little room between its untrained
and trained returns (-12 and -6). InvertedDoublePendulum learns clearly in 30k steps and has a known maximum.
reference_score 9100 is the task's "solved" return in Gymnasium's registration
(`gymnasium.spec("InvertedDoublePendulum-v5").reward_threshold`); random_score 48.3 was measured here (python -c
"from harness.envs import random_score; print(random_score('InvertedDoublePendulum-v5', episodes=50))").
Pilot: width 64 only (the smallest level), seeds 100-102 (no sweep uses them), the quick settings: auc_return 2952,
2525, 3400 (normalized 0.32, 0.27, 0.37), final_return 9360, 6009, 9360 (solved at 23k-26k env steps), 410 s for the
3-seed ensemble beside other pilots. An earlier pilot of the same level evaluated every 3k steps gave 0.33, 0.36,
0.52.
Gates: the default learning gate (0.1 of the way from each run's baseline to the reference 9100); ceiling 9360, the
highest evaluation return of any pilot run (10 per step for 1000 steps, less the distance penalty that an upright
pendulum still pays). A "no gain" verdict also needs the margin, 0.05 per doubling (450 return), to be at most 0.25
x what the reference width learned. Paper effect 0: BRO Fig. 1 gives SAC's dense-critic curve only as a figure, and
its text says enlarging the critic "does not necessarily lead to performance improvements" (a slope of 0, the value
hardest to tell from the margin; the SimbaV2 release's parameter sweep has no MLP arm).
Plan, from the pilot's sd (0.0484): at 5 seeds `python -m harness plan sac_width --budget quick --sd 0.0484` gave an
MDE of 0.0565 per doubling beyond the margin's boundary, 1.13 of the distance from the paper's slope (0) to it
("underpowered: needs 7 seeds"); so quick runs 8 seeds (MDE 0.0379, 0.76 of that distance; about 15 min of unit time
more than 5 seeds, within the 30-minute budget on 2 workers). The report gives the sweep's own MDE.
Reading: the curves jump from a few hundred to the ceiling when a run solves the task, so auc_return here says how
soon each run solves it: the MLP critic of width 64 late (0.31 of the way), wider ones sooner (0.57 at 128, 0.67 at
256). The miniature sits where BRO's statement was not made, small critics on an easy task at 30k steps rather than
critics of millions of parameters at 1M steps on hard ones: CONTRADICTED says that in this regime a wider critic
helps plain SAC; whether the gain stops at larger widths is what the full budget (widths to 1024) asks.
"""
import pytest

from harness.agents import sac

ENV = "InvertedDoublePendulum-v5"


@pytest.mark.claim(
    axis="width",
    metrics={"auc_return": "non_increasing"},
    margin=0.05,
    blocks="seed",
    random_score=48.3,
    reference_score=9100.0,
    ceiling=9360.0,
    paper_effect=0.0,
)
@pytest.mark.parametrize("width", [64, 128, 256, 512, 1024])
def test_sac_width(width, seeds, settings, device, record):
    cfg = sac.Config(env_id=ENV, block="mlp", critic_width=width, critic_depth=2, actor_width=256, actor_depth=2,
                     batch_size=128, steps=settings.steps, learning_starts=settings.learning_starts,
                     eval_every=settings.eval_every, eval_episodes=settings.eval_episodes)
    record(sac.train(cfg, seeds=seeds, device=device))
