"""Scaling DQN's penultimate layer gains more with a Soft MoE than with a wider dense layer.

Source: Obando-Ceron, Sokar, Willi, Lyle, Farebrother, Foerster, Dziugaite, Precup, Castro 2024, "Mixtures of
Experts Unlock Parameter Scaling for Deep RL", arXiv:2402.08609 (ICML 2024), Fig. 1: at each scale factor (1,
2, 4, 8) the Soft MoE with that many experts against the dense baseline of that many times the width (dopamine
labs/moes ``scale_hidden_layer``); the Soft MoE's curve rises, the dense one's does not.
Source status: VERIFIED (the abstract: dense parameter growth "often hurts", Soft MoEs give "more parameter-
scalable models").
Departures: the runs of dqn_width (dense, width 128 x scale) and softmoe_experts (Soft MoE, scale experts of
width 128), shared (MinAtar Space Invaders -v1, 100k env steps (quick; 5M at full), 3 seeds at quick): scales
1, 2, 4 at quick (full adds 8). Both arms run with the same seeds, so the test pairs them: the difference of
normalized returns (Soft MoE - dense) in each (scale, seed) cell is tested for an increasing trend in the
scale, within seeds (harness/trend.py assess_contrast), which is the claim "the Soft MoE's slope is larger"
whatever the offset between the arms.
Pilot: none of its own: its smallest level is the smallest level of dqn_width and softmoe_experts.
Gates: the default learning gate (0.1 of the way from each run's baseline to the reference 44); no ceiling.
Paper effect unknown (Fig. 1: IQM bars over Atari games, not a slope per doubling).
"""
import pytest

from harness.agents import dqn


@pytest.mark.claim(
    axis="scale",
    contrast="layer",
    metrics={"final_return": "increasing", "auc_return": "increasing"},
    blocks="seed",
    random_score=3.94,
    reference_score=44.0,
    paper_effect="unknown",
)
@pytest.mark.parametrize("scale", [1, 2, 4, 8])
@pytest.mark.parametrize("layer", ["dense", "softmoe"])
def test_softmoe_gap(layer, scale, seeds, settings, device, record):
    if layer == "dense":  # the baseline of an n-expert Soft MoE is n times as wide
        cfg = dqn.Config(env_id="MinAtar/SpaceInvaders-v1", penultimate="dense", width=128 * scale, **settings)
    else:
        cfg = dqn.Config(env_id="MinAtar/SpaceInvaders-v1", penultimate="softmoe", experts=scale, width=128,
                         **settings)
    record(dqn.train(cfg, seeds, device))
