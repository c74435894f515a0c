"""SimBa-SAC's slope in depth exceeds plain-MLP SAC's (the architecture x depth interaction).

Source: Bjorck, Gomes, Weinberger 2021, "Towards Deeper Deep Reinforcement Learning with Spectral Normalization",
arXiv:2106.01151 (plain deep networks are unstable in SAC, normalized ones are not); Lee et al. 2024, "SimBa",
arXiv:2410.09754; Ota et al. 2021, arXiv:2102.07920, Fig. 1 (the MLP arm).
Source status: VERIFIED (the abstracts of Bjorck et al. and SimBa; Ota et al.'s abstract for the MLP arm).
Departures: as sac_depth and simba_depth (InvertedDoublePendulum-v5, 30k env steps, 2, 4, 8 hidden layers of both
actor and critic, 5 seeds at quick and 10 at full, batch 128, one optimizer for both arms: Adam 3e-4 without weight
decay). The MLP arm has `depth` layers of width w (64 at quick, 256 at full); the SimBa arm depth/2 residual blocks
of width w/2, each holding exactly the weights of two MLP layers (2 w^2), so the arms have the same parameters per
layer at every level. Both arms run with the same seeds, so the test pairs them: the difference of normalized
auc_return (SimBa - MLP) in each (depth, seed) cell is tested for an increasing trend in depth, within seeds
(harness/trend.py assess_contrast). Every unit is one of sac_depth's or simba_depth's: one record serves both.
Pilot: none of its own: its smallest level is the smallest level of sac_depth and of simba_depth.
Gates: the default learning gate (0.1 of the way from each run's baseline to the reference 9100); ceiling 9360 (as
sac_width). Paper effect unknown: the MLP arm's drop with depth is published only as figures (sac_depth), so no
difference of slopes can be read off.
Plan, from the arms' pilot sds (0.0506 for the MLP at 2 layers, 0.0447 for SimBa at 1 block; their root mean square
as one arm's sd): `python -m harness plan simba_depth_gap --budget quick --sd 0.0477` gives an MDE of 0.0733 per
doubling of depth for the difference of slopes (SimBa - MLP) at this design (5 seeds, 3 levels).
Reading: the MLP arm gains with depth from 2 to 8 layers at width 64 (sac_depth CONTRADICTED: deeper is better
here), while SimBa, already near the ceiling at every depth, stays flat (simba_depth REPRODUCED); the negative
difference of slopes is the MLP catching up, not SimBa losing.
"""
import pytest

from harness.agents import sac

ENV = "InvertedDoublePendulum-v5"


@pytest.mark.claim(
    axis="depth",
    contrast="block",
    metrics={"auc_return": "increasing"},
    blocks="seed",
    random_score=48.3,
    reference_score=9100.0,
    ceiling=9360.0,
    paper_effect="unknown",
)
@pytest.mark.parametrize("depth", [2, 4, 8])
@pytest.mark.parametrize("block", ["mlp", "simba"])
def test_simba_depth_gap(block, depth, seeds, settings, device, record):
    # SimBa: depth/2 blocks of half the width, the weights of `depth` MLP layers of `settings.width`
    width, layers = (settings.width, depth) if block == "mlp" else (settings.width // 2, depth // 2)
    cfg = sac.Config(env_id=ENV, block=block, critic_width=width, critic_depth=layers, actor_width=width,
                     actor_depth=layers, batch_size=128, steps=settings.steps,
                     learning_starts=settings.learning_starts, eval_every=settings.eval_every,
                     eval_episodes=settings.eval_episodes)
    record(sac.train(cfg, seeds=seeds, device=device))
