"""Plain-MLP SAC gets worse as its actor and critic get deeper.

Source: Ota, Jha, Kanezaki 2021, "Training Larger Networks for Deep Reinforcement Learning",
arXiv:2102.07920, Fig. 1 ("the use of deeper networks naively leads to poor performance", SAC, MLP,
width 256); Sinha et al. 2020, "D2RL", arXiv:2010.09163, project-page figure (SAC on Ant-v2:
"performance drops when increasing depth after 2 layers").
Source status: VERIFIED (Ota et al.'s abstract: "naively increasing network capacity does not improve
performance"); the D2RL sentence is from its project page.
Departures: HalfCheetah-v5 instead of Ant-v2 and the Gym MuJoCo suite; depths {2, 4, 8} only (the claim
is "worse beyond 2 layers"; 1 vs 2 can go either way); 8k env steps (quick) or 200k (full)
instead of 1M; 5 seeds; batch 128 instead of 256 (CPU cost; the same at every depth). Actor and critic
are deepened together (as D2RL and Ota et al.), width fixed at 256 (Ota et al.). Divergence counts as a
failure at the floor and its fraction per depth is in the report. reference_score 5000 is a planning
anchor (UNVERIFIED), random_score -291 was measured here (see test_sac_width.py).
Pilot: depth 2 only, quick budget, 5 seeds (`pytest claims/test_sac_depth.py -k depth2 --budget quick`):
auc_return -27, -23, -55, -14, -36 (normalized 0.049 +/- 0.003), final_return -78 to -118 and -23. Above
random, far below the ceiling, but like sac_width's pilot the policy has barely left its initial
behaviour after 7k updates: quick only measures early learning; full carries the claim.
Gates: the default learning gate (0.1 of the way from each run's baseline to the reference 5000), fixed
after the first quick results were known; no ceiling (HalfCheetah's return has no maximum). Paper effect
unknown: Ota et al. 2021 (arXiv:2102.07920) Fig. 1 shows the drop with depth only as a figure ("deeper
networks naively leads to poor performance").
"""
import pytest

from harness.agents import sac


@pytest.mark.claim(
    axis="depth",
    metrics={"auc_return": "decreasing"},
    blocks="seed",
    random_score=-291.0,
    reference_score=5000.0,
    paper_effect="unknown",
)
@pytest.mark.parametrize("depth", [2, 4, 8])
def test_sac_depth(depth, seeds, settings, device, record):
    cfg = sac.Config(env_id="HalfCheetah-v5", block="mlp", critic_width=256, critic_depth=depth, actor_width=256,
                     actor_depth=depth, batch_size=128, steps=settings.steps, learning_starts=settings.learning_starts,
                     eval_every=settings.eval_every, eval_episodes=settings.eval_episodes)
    record(sac.train(cfg, seeds=seeds, device=device))
