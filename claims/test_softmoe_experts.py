"""With a Soft MoE in place of DQN's penultimate layer, return increases with the number of experts.

Source: Obando-Ceron, Sokar, Willi, Lyle, Farebrother, Foerster, Dziugaite, Precup, Castro 2024, "Mixtures of
Experts Unlock Parameter Scaling for Deep RL", arXiv:2402.08609 (ICML 2024), Fig. 1 and Sec. 4: DQN with a
Soft MoE (Puigcerver et al. 2023, arXiv:2308.00951) of 1, 2, 4 and 8 experts in place of its penultimate
layer, tokens per convolution position ("PerConv"), gains with the number of experts.
Source status: VERIFIED (the abstract: Soft MoE value networks are "more parameter-scalable", with "substantial
performance increases across ... model sizes").
Departures: as dqn_width (MinAtar Space Invaders -v1, Young & Tian 2019's DQN, 100k env steps (quick; 5M at
full), 3 seeds at quick, the same evaluation and scores); each expert is a 2-layer MLP 16 -> 128 -> 16 (128:
the MinAtar network's hidden width, as dopamine's experts have the dense layer's width) on its slots, with
capacity factor 1 (experts x ceil(64 / experts) slots: the compute per step is nearly the same at every level,
the parameters grow with the experts), PyTorch's default initialization and no Soft MoE normalization (module
docstring of harness/agents/dqn.py).
Pilot: dqn_width's (dense width 128, seeds 0-2, 200k steps: 22.5, 28.3, 23.1 at 100k from 2-4 at step 0; see
its docstring): the task, steps and evaluation are shared so that the runs are; the Soft MoE's smallest level
(1 expert) was not piloted on its own.
Gates: the default learning gate (0.1 of the way from each run's baseline to the reference 44); no ceiling.
Paper effect unknown: Fig. 1 reports IQM bars over Atari games (human-normalized), not a slope per doubling
that this normalization could take over.
"""
import pytest

from harness.agents import dqn


@pytest.mark.claim(
    axis="experts",
    metrics={"final_return": "increasing", "auc_return": "increasing"},
    blocks="seed",
    random_score=3.94,
    reference_score=44.0,
    paper_effect="unknown",
)
@pytest.mark.parametrize("experts", [1, 2, 4, 8])
def test_softmoe_experts(experts, seeds, settings, device, record):
    cfg = dqn.Config(env_id="MinAtar/SpaceInvaders-v1", penultimate="softmoe", experts=experts, width=128,
                     **settings)
    record(dqn.train(cfg, seeds, device))
