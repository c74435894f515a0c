"""Plain-MLP SAC gets worse as its actor and critic get deeper.

Source: Ota, Jha, Kanezaki 2021, "Training Larger Networks for Deep Reinforcement Learning", arXiv:2102.07920, Fig.
1 ("the use of deeper networks naively leads to poor performance", SAC, MLP, width 256); Sinha et al. 2020, "D2RL",
arXiv:2010.09163, project-page figure (SAC on Ant-v2: "performance drops when increasing depth after 2 layers").
Source status: VERIFIED (Ota et al.'s abstract: "naively increasing network capacity does not improve performance");
the D2RL sentence is from its project page.
Departures: InvertedDoublePendulum-v5 (the task of sac_width, chosen by its pilot) instead of Ant-v2 and the Gym
MuJoCo suite; 30k env steps (1k uniform warm-up) instead of 1M; depths {2, 4, 8} only (the claim is "worse beyond 2
layers"; 1 vs 2 can go either way); width 64 at quick (smaller than Ota et al.'s for CPU cost, and so that
simba_depth, whose blocks of width 32 hold the weights of two of these layers, fits the 30-minute budget) and 256 at
full (Ota et al.); 5 seeds at quick, 10 at full; batch 128 instead of 256 (CPU cost; the same at every depth). Actor
and critic are deepened together (as D2RL and Ota et al.). Divergence counts as a failure at the floor and its
fraction per depth is in the report. reference_score 9100 and random_score 48.3 as in sac_width.
Pilot: depth 2 only (the smallest level), seeds 100-102 (no sweep uses them), the quick settings, width 64:
auc_return 3338, 2445, 3072 (normalized 0.36, 0.26, 0.33), final_return 9360, 9359, 9360 (each seed solved the task,
at 24k-26k env steps), 161 s for the 3-seed ensemble beside other pilots. Width 32 was ruled out first: normalized
0.04, 0.04, 0.14, one seed of three solving by 30k.
Gates: the default learning gate (0.1 of the way from each run's baseline to the reference 9100); ceiling 9360 (as
sac_width): a decrease needs the smallest level to have risen 0.1 of the way first, which the pilot did. Paper
effect unknown: Ota et al. Fig. 1 and the D2RL figure show the drop with depth only as figures, with no values in
their text or tables.
Plan, from the pilot's sd (0.0506): `python -m harness plan sac_depth --budget quick --sd 0.0506` gives an MDE of
0.0591 per doubling of depth at this design (5 seeds, 3 levels): a drop smaller than that is likely missed. The
noise is that of the 3 pilot seeds; the report gives the sweep's own MDE.
"""
import pytest

from harness.agents import sac

ENV = "InvertedDoublePendulum-v5"


@pytest.mark.claim(
    axis="depth",
    metrics={"auc_return": "decreasing"},
    blocks="seed",
    random_score=48.3,
    reference_score=9100.0,
    ceiling=9360.0,
    paper_effect="unknown",
)
@pytest.mark.parametrize("depth", [2, 4, 8])
def test_sac_depth(depth, seeds, settings, device, record):
    cfg = sac.Config(env_id=ENV, block="mlp", critic_width=settings.width, critic_depth=depth,
                     actor_width=settings.width, actor_depth=depth, batch_size=128, steps=settings.steps,
                     learning_starts=settings.learning_starts, eval_every=settings.eval_every,
                     eval_episodes=settings.eval_episodes)
    record(sac.train(cfg, seeds=seeds, device=device))
