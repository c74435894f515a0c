"""SimBa-SAC improves as its critic gets wider.

Source: Lee, Hwang, Kim, Kim, Tai, Subramanian, Wurman, Choo, Stone, Seno 2024, "SimBa: Simplicity Bias for Scaling
Up Parameters in Deep RL", arXiv:2410.09754 (ICLR 2025), Fig. 1 and the parameter-scaling figures ("By scaling up
parameters with SimBa, the sample efficiency of various deep RL algorithms ... is consistently improved").
Source status: VERIFIED (the abstract: "By scaling up parameters with SimBa, the sample efficiency of various deep
RL algorithms ... is consistently improved").
Departures: the task, steps, seeds, batch and optimizer of sac_width (InvertedDoublePendulum-v5, 30k env steps, 5
seeds at quick and 10 at full, batch 128, Adam lr 3e-4 without weight decay, SB3's initial temperature 1.0 and
target entropy -|A|) instead of SimBa's own AdamW (lr 1e-4, weight decay 1e-2), initial temperature 0.01 and target
entropy -|A|/2, and DMC/MyoSuite/HumanoidBench at 1M steps; critic widths 16, 32, 64 at quick (SimBa's 2 residual
blocks of 4x inner expansion: 4k to 66k weights between hidden units per critic, those of sac_width's MLP critics of
width 64 to 256) and up to 256 (1M) at full, where the paper goes to 17M parameters. The quick widths are below
sac_width's because a SimBa critic costs about 4x an MLP critic of the same width here (2 blocks of 4x expansion;
one 5-seed update at width 128 takes 70 ms against 12 ms for the MLP), and width 64 is the widest whose unit fits
the 30-minute budget beside the others. The actor is SimBa's (1 block, width 128) at every level, with SB3's log-std
clamp [-20, 2] instead of SimBa's tanh rescaling to [-10, 2]. reference_score 9100 and random_score 48.3 as in
sac_width.
Pilot: width 16 only (the smallest level), seeds 100-102 (no sweep uses them), the quick settings: auc_return 6438,
6043, 6365 (normalized 0.71, 0.66, 0.70), final_return 9352, 9356, 9360 (solved at 11k-13k env steps; an MLP critic
of width 64 needs 18k-24k), 493 s for the 3-seed ensemble beside another pilot.
Gates: the default learning gate (0.1 of the way from each run's baseline to the reference 9100); ceiling 9360 (as
sac_width); the pilot's smallest level is 0.7 of the way, so the headroom gate passes with 0.3 of the way left.
Paper effect 0.10 per width doubling of auc_return, approximate: the SimBa arm of the authors' parameter sweep
released with SimbaV2 (Lee et al. 2025, arXiv:2502.15280, github dojeon-ai/SimbaV2 results/scaling/param): the mean
over evaluations to 1M steps of DMC-Hard return / 1000 (7 tasks x 5 seeds) is 0.18, 0.31, 0.46, 0.47 at widths 128,
256, 512, 1024, a least-squares slope of 0.10 per doubling; DMC return / 1000 is read as the fraction of the way
from random to a strong reference, as this claim's normalization is.
Plan, from the pilot's sd (0.0232): `python -m harness plan simba_width --budget quick --sd 0.0232` gives an MDE of
0.0252 per doubling at this design (5 seeds, 3 levels), 0.25 of the paper's effect; 2 seeds would give 80% power
against it. The noise is that of the 3 pilot seeds; the report gives the sweep's own MDE.
"""
import pytest

from harness.agents import sac

ENV = "InvertedDoublePendulum-v5"


@pytest.mark.claim(
    axis="width",
    metrics={"auc_return": "increasing"},
    blocks="seed",
    random_score=48.3,
    reference_score=9100.0,
    ceiling=9360.0,
    paper_effect=0.10,
)
@pytest.mark.parametrize("width", [16, 32, 64, 128, 256])
def test_simba_width(width, seeds, settings, device, record):
    cfg = sac.Config(env_id=ENV, block="simba", critic_width=width, critic_depth=2, actor_width=128, actor_depth=1,
                     batch_size=128, steps=settings.steps, learning_starts=settings.learning_starts,
                     eval_every=settings.eval_every, eval_episodes=settings.eval_episodes)
    record(sac.train(cfg, seeds=seeds, device=device))
