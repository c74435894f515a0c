"""A Gato-style generalist, behaviour-cloned on expert data of several games, improves with parameters.

Source: Reed et al. 2022, "A Generalist Agent", arXiv:2205.06175 (SECONDARY, gwern annotation: sizes
"0.08b, 0.36b, & 1.2b parameters"; "performance ... will increase with scale in parameters"). Catalog:
shared/CLAIMS.md C16.
Departures: 3 MinAtar games (PILOT_GAMES) with expert data generated here by PPO behaviour policies (the
expert part of the mgdt_size dataset, harness/offline.py) instead of 604 tasks of expert data; the
Decision Transformer backbone of mgdt_size without return tokens (observation and action tokens, greedy
actions), not Gato's tokenizer; presets XS, S, M (quick) and L (full), PARAMS parameters, instead of
80M..1.2B; the same tokens at every size (2000 steps x 64 sequences of 8 steps at quick), the same dropout
(0.1), weight decay (0.1) and learning rate at every size; 3 seeds; 10 evaluation episodes per game. The
verdict is the token-matched trend of normalized_score (per game (return - random) / (best behaviour policy -
random), IQM over games); the FLOP-matched score, the losses and per-game scores are reported beside it.
Pilot: PILOT
"""
import pytest

from harness.agents import dt


@pytest.mark.claim(axis="size", metrics={"normalized_score": "increasing"}, blocks="seed", scale="ordinal",
                   law="params")
@pytest.mark.parametrize("size", ["XS", "S", "M", "L"])
def test_gato_size(size, seeds, settings, device, record):
    smallest = dt.claim_config(settings, size="XS", return_conditioned=False, qualities=("expert",))
    cfg = dt.claim_config(settings, size=size, return_conditioned=False, qualities=("expert",),
                          flop_match_params=dt.parameters(smallest))
    record(dt.train(cfg, seeds, device))
