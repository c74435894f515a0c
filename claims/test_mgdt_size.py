"""The Multi-Game Decision Transformer's normalized score increases with model size.

Source: Lee et al. 2022, "Multi-Game Decision Transformers", arXiv:2205.15241 (abstract, VERIFIED: "the
same trends observed in language and vision hold, including scaling of performance with model size";
SECONDARY: a power law between performance and model size, and faster training for larger models).
Source status: VERIFIED (the abstract sentence quoted above); the power-law fit is known from a secondary source
only.
Departures: 3 MinAtar games (Breakout, SpaceInvaders, Freeway; full action set, episodes cut at 1000 steps)
with data generated here by PPO behaviour policies (expert, medium, random; harness/offline.py, its card in
data/offline/<key>/card.md) instead of 41 Atari games of DQN replay; one token per 10x10 grid instead of image
patches; presets XS, S, M (quick) and L (full), 77k, 228k, 850k and 3.7M parameters, instead of 10M..200M; the
same tokens at every size (2000 steps x 64 sequences of 8 steps at quick), the same dropout (0.1), weight
decay (0.1) and learning rate (3e-4, warm-up and cosine) at every size; 3 seeds (model init, batches, dropout,
evaluation); 10 evaluation episodes per game, greedy actions on MGDT's expert-return samples (kappa = 10,
returns limited to those seen in the data). The verdict is the token-matched trend of normalized_score (per
game (return - random) / (best behaviour policy - random), IQM over games); the FLOP-matched score (read at
the step where each model has used the smallest model's training FLOPs), train and validation losses and per-
game scores are reported beside it, and the report fits the score against parameters.
Pilot: first the behaviour policies, one PPO run per game (ppo.train(ppo.Config(env_id="MinAtar/<game>-v0",
steps=400000, eval_every=100000, max_episode_steps=1000), [0]), greedy evaluation returns at 100k..400k):
Breakout 4.7, 4.9, 4.9, 4.9; SpaceInvaders 4.1, 10.4, 11.5, 16.3; Freeway 10.4, 10.5, 10.2, 10.0; Asterix 0.8,
0.6, 0.5, 0.6 (and 0.8..1.0 at 1M steps), so Asterix was dropped. The quick dataset (`python -m harness data
--budget quick`, 433 s): 450,201 transitions, 9,003 episodes, 33 MiB; mean returns expert / medium / random:
Breakout 4.92 / 2.74 / 0.52, SpaceInvaders 23.44 / 6.77 / 2.85, Freeway 13.02 / 10.94 / 0.10. Then the
smallest model only (dt.train(dt.claim_config(settings, size="XS"), [0]) at the quick settings, 35 s):
normalized_score 0.356 (Breakout 0.268, SpaceInvaders 0.002, Freeway 0.797), train / validation loss 2.01 /
2.12: above random and well below the behaviour policies on two of three games.
Gates: the default learning gate (0.1 of the way from each run's untrained score to the ceiling), fixed
after the first quick results were known; ceiling 1.0, the best behaviour policy (the expert) by the
normalization. Paper effect unknown: MGDT normalizes to human scores (126% of human for 200M parameters,
Fig. 1) and gives the smaller models in a figure only; its units are not this claim's.
Reading: the verdict is token-matched: every size sees the same tokens, so a larger model also spends more
compute on them. The FLOP-matched score (each size read at the step where it has used the smallest model's
training FLOPs) asks whether the gain survives equal compute; in the sweep of 2026-11 it did not (means 0.34,
0.38, 0.29 for XS, S, M, against a token-matched 0.34, 0.77, 0.88), so the gain measured here is per token
(per training example), not per FLOP. The report fits the power law against parameters for both scores.
"""
import pytest

from harness.agents import dt


@pytest.mark.claim(axis="size", metrics={"normalized_score": "increasing"}, blocks="seed", scale="ordinal",
                   law="params", law_beside=("normalized_score_flop_matched",), ceiling=1.0, paper_effect="unknown")
@pytest.mark.parametrize("size", ["XS", "S", "M", "L"])
def test_mgdt_size(size, seeds, settings, device, record):
    smallest = dt.claim_config(settings, size="XS")
    cfg = dt.claim_config(settings, size=size, flop_match_params=dt.parameters(smallest))
    record(dt.train(cfg, seeds, device))
