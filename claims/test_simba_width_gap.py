"""SimBa-SAC's gain from a larger critic exceeds plain-MLP SAC's, at the same critic parameters (the architecture
x size interaction).

Source: Lee et al. 2024, "SimBa", arXiv:2410.09754, Fig. 1 (MLP vs SimBa SAC as parameters grow); Nauman et al.
2024, "BRO", arXiv:2405.16158, Fig. 1 (vanilla dense vs BroNet critics as critic parameters grow).
Source status: VERIFIED (the SimBa abstract for the SimBa arm; the BRO project page's Fig. 1 and text for vanilla
dense SAC not gaining from critic capacity).
Departures: as sac_width and simba_width (InvertedDoublePendulum-v5, 30k env steps, 5 seeds at quick and 10 at full,
batch 128, one optimizer for both arms: Adam 3e-4 without weight decay; each arm keeps its own actor, SB3's 256x256
MLP or SimBa's 1 block of 128). The axis is the MLP critic's width w (64, 128, 256 at quick, up to 1024 at full);
the SimBa arm's critic at level w has width w/4, whose 2 residual blocks (w/4 -> w -> w/4 each) hold exactly the w^2
weights between hidden units of the MLP's two layers: the papers plot both arms against parameters, and so are these
paired. Every unit is one of sac_width's or simba_width's: one record serves both. Both arms run with the same
seeds, so the test pairs them: the difference of normalized auc_return (SimBa - MLP) in each (level, seed) cell is
tested for an increasing trend over the levels, within seeds (an exact test for "equal slopes" whatever the offset
between arms; see harness/trend.py assess_contrast).
Pilot: none of its own: its smallest level is the smallest level of sac_width (MLP, width 64) and of simba_width
(SimBa, width 16), both of which learned clearly in their pilots. Pairing at equal width instead was ruled out by a
pilot of the MLP critic at width 16 (seeds 100-102, the quick settings): normalized auc_return 0.14, 0.03, 0.03,
where SimBa's width 16 reached 0.66-0.71; an MLP that small does not learn within the budget, so a gap at equal
widths would measure its underfitting.
Gates: the default learning gate (0.1 of the way from each run's baseline to the reference 9100); ceiling 9360 (as
sac_width). Paper effect 0.10 per doubling, inferred: the SimBa slope of simba_width's docstring minus an MLP slope
of 0 (BRO Fig. 1's text; no MLP width-sweep numbers are published in a table).
Plan, from the arms' pilot sds (0.0484 for the MLP at width 64, 0.0232 for SimBa at width 16; `--sd` is one arm's
sd, so their root mean square, 0.038, gives the difference's sd of 0.0537): `python -m harness plan simba_width_gap
--budget quick --sd 0.038` gives an MDE of 0.0584 per doubling of the difference at this design (5 seeds, 3 levels),
0.58 of the paper's effect; 3 seeds would give 80% power against it.
Reading: SimBa's smallest level already stands at 0.64 of the way and no run can go much past 0.97 (the step-0
evaluation is in the area), while the MLP's starts at 0.31, so part of the CONTRADICTED difference of slopes is
headroom: both arms gain with size (simba_width REPRODUCED, sac_width CONTRADICTED), and SimBa is ahead at every
matched size (0.64 against 0.31 at the smallest, 0.75 against 0.67 at the largest).
"""
import pytest

from harness.agents import sac

ENV = "InvertedDoublePendulum-v5"
ACTOR = {"mlp": (256, 2), "simba": (128, 1)}  # (width, depth): SB3's actor and SimBa's actor
CRITIC_DIVISOR = {"mlp": 1, "simba": 4}  # SimBa width w/4: 2 blocks of 16 (w/4)^2 = w^2 weights, as the MLP's


@pytest.mark.claim(
    axis="width",
    contrast="block",
    metrics={"auc_return": "increasing"},
    blocks="seed",
    random_score=48.3,
    reference_score=9100.0,
    ceiling=9360.0,
    paper_effect=0.10,
)
@pytest.mark.parametrize("width", [64, 128, 256, 512, 1024])
@pytest.mark.parametrize("block", ["mlp", "simba"])
def test_simba_width_gap(block, width, seeds, settings, device, record):
    actor_width, actor_depth = ACTOR[block]
    cfg = sac.Config(env_id=ENV, block=block, critic_width=width // CRITIC_DIVISOR[block], critic_depth=2,
                     actor_width=actor_width, actor_depth=actor_depth, batch_size=128, steps=settings.steps,
                     learning_starts=settings.learning_starts, eval_every=settings.eval_every,
                     eval_episodes=settings.eval_episodes)
    record(sac.train(cfg, seeds=seeds, device=device))
