"""SimBa-SAC improves as its critic gets wider.

Source: Lee, Hwang, Kim, Kim, Tai, Subramanian, Wurman, Choo, Stone, Seno 2024, "SimBa: Simplicity Bias
for Scaling Up Parameters in Deep RL", arXiv:2410.09754 (ICLR 2025), Fig. 1 and the parameter-scaling
figures ("By scaling up parameters with SimBa, the sample efficiency of various deep RL algorithms ... is
consistently improved").
Source status: VERIFIED (the abstract: "By scaling up parameters with SimBa, the sample efficiency of various deep
RL algorithms ... is consistently improved").
Departures: the same task, levels, seeds, batch and optimizer as sac_width (HalfCheetah-v5, critic widths
64..512 with SimBa's 2 residual blocks of 4x inner expansion, 5 seeds, batch 128, Adam lr 3e-4 without
weight decay, SB3's initial temperature 1.0 and target entropy -|A|) instead of SimBa's own AdamW (lr 1e-4,
weight decay 1e-2), initial temperature 0.01 and target entropy -|A|/2, and DMC/MyoSuite/HumanoidBench;
the actor is SimBa's (1 block, width 128) at every level, with SB3's log-std clamp [-20, 2]
instead of SimBa's tanh rescaling to [-10, 2]. Quick runs only 2k env steps (1k updates) where
sac_width runs 10k: SimBa at width 512 costs about 1.1 s per 5-seed ensemble update on this machine, so
the quick budget of this claim trains far less than the paper and than sac_width; full runs 200k steps
like sac_width. reference_score 5000 is a planning anchor (UNVERIFIED), random_score -291 measured here.
Pilot: width 64 only, quick budget, 5 seeds (`pytest claims/test_simba_width.py -k width64 --budget quick`,
70 s): auc_return -156, -91, -218, -134, -260 (normalized 0.022 +/- 0.013), final_return -15 to -49. Above
random, far below the ceiling; half of the four evaluations fall in the warm-up, so quick mostly sees the
initial policy. Full carries the claim.
Gates: the default learning gate (0.1 of the way from each run's baseline to the reference 5000), fixed
after the first quick results were known; no ceiling (HalfCheetah's return has no maximum). Paper effect
0.10 per width doubling of auc_return, approximate: the SimBa arm of the authors' parameter sweep released
with SimbaV2 (Lee et al. 2025, arXiv:2502.15280, github dojeon-ai/SimbaV2 results/scaling/param): the mean
over evaluations to 1M steps of DMC-Hard return / 1000 (7 tasks x 5 seeds) is 0.18, 0.31, 0.46, 0.47 at
widths 128, 256, 512, 1024, a least-squares slope of 0.10 per doubling; DMC return / 1000 is read as the
fraction of the way from random to a strong reference, as this claim's normalization is.
"""
import pytest

from harness.agents import sac


@pytest.mark.claim(
    axis="width",
    metrics={"auc_return": "increasing"},
    blocks="seed",
    random_score=-291.0,
    reference_score=5000.0,
    paper_effect=0.10,
)
@pytest.mark.parametrize("width", [64, 128, 256, 512])
def test_simba_width(width, seeds, settings, device, record):
    cfg = sac.Config(env_id="HalfCheetah-v5", block="simba", critic_width=width, critic_depth=2, actor_width=128,
                     actor_depth=1, batch_size=128, steps=settings.steps, learning_starts=settings.learning_starts,
                     eval_every=settings.eval_every, eval_episodes=settings.eval_episodes)
    record(sac.train(cfg, seeds=seeds, device=device))
