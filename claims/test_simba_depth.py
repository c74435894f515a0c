"""SimBa-SAC does not get worse as its actor and critic get deeper (the positive control of sac_depth).

Source: Lee et al. 2024, "SimBa: Simplicity Bias for Scaling Up Parameters in Deep RL", arXiv:2410.09754 (ICLR
2025): pre-LayerNorm residual blocks with running observation normalization let SAC scale its parameters; Bjorck,
Gomes, Weinberger 2021, "Towards Deeper Deep Reinforcement Learning with Spectral Normalization", arXiv:2106.01151:
normalization removes the collapse of deep SAC networks that plain MLPs show ("naively adopting such architectures
leads to instabilities and poor performance").
Source status: VERIFIED (both abstracts; that depth in particular does not hurt SimBa is read from the SimBa
abstract's "scaling up parameters ... consistently improved", which its figures show for width and blocks).
Departures: the task, steps, seeds, batch and optimizer of sac_depth (InvertedDoublePendulum-v5, 30k env steps, 5
seeds at quick and 10 at full, batch 128, Adam lr 3e-4 without weight decay, SB3's temperature settings) instead of
SimBa's own AdamW and DMC/MyoSuite/HumanoidBench. The axis is sac_depth's, hidden layers of the actor and of the
critic (2, 4, 8): here depth/2 SimBa residual blocks (each two layers, w/2 -> 2w -> w/2) of width w/2, where
sac_depth has depth MLP layers of width w (64 at quick, 256 at full); a block then holds exactly the weights of two
MLP layers (2 w^2), so both claims' levels have the same parameters per layer. SimBa's own configuration uses 1
block (actor) and 2 (critic). reference_score 9100 and random_score 48.3 as in sac_width.
Pilot: depth 2 only (1 block of width 32, the smallest level), seeds 100-102 (no sweep uses them), the quick
settings: auc_return 6112, 6886, 6298 (normalized 0.67, 0.76, 0.69), final_return 9352, 9360, 9356 (solved at about
10k env steps), 241 s for the 3-seed ensemble beside another pilot.
Gates: the default learning gate (0.1 of the way from each run's baseline to the reference 9100); ceiling 9360 (as
sac_width): the smallest level had risen 0.7 of the way, so there is something to lose. A "no loss" verdict needs
the slope shown above -0.05 per doubling of depth (the margin, 450 return), and the margin to be at most 0.25 x what
the smallest level learned. Paper effect 0: the papers state no degradation and give no values for depth; 0 is the
slope hardest to tell from the margin.
Plan, from the pilot's sd (0.0447): `python -m harness plan simba_depth --budget quick --sd 0.0447` gives an MDE of
0.0486 per doubling beyond the margin's boundary (-0.05) at this design (5 seeds, 3 levels), 0.97 of the distance
from the paper's slope (0) to that boundary: 80% power at 5 seeds, with little to spare. The noise is that of the 3
pilot seeds; the report gives the sweep's own MDE.
"""
import pytest

from harness.agents import sac

ENV = "InvertedDoublePendulum-v5"


@pytest.mark.claim(
    axis="depth",
    metrics={"auc_return": "non_decreasing"},
    margin=0.05,
    blocks="seed",
    random_score=48.3,
    reference_score=9100.0,
    ceiling=9360.0,
    paper_effect=0.0,
)
@pytest.mark.parametrize("depth", [2, 4, 8])
def test_simba_depth(depth, seeds, settings, device, record):
    width, blocks = settings.width // 2, depth // 2  # the weights of `depth` MLP layers of `settings.width`
    cfg = sac.Config(env_id=ENV, block="simba", critic_width=width, critic_depth=blocks, actor_width=width,
                     actor_depth=blocks, batch_size=128, steps=settings.steps,
                     learning_starts=settings.learning_starts, eval_every=settings.eval_every,
                     eval_episodes=settings.eval_episodes)
    record(sac.train(cfg, seeds=seeds, device=device))
