"""At a fixed network size, AlphaZero's playing strength increases with the self-play compute it trains on.

Source: the seed's reading of AlphaGo Zero, AlphaStar and OpenAI Five (more self-play games "predictably"
improve performance); Neumann & Gros 2023, "Scaling laws for a multi-agent reinforcement learning model",
arXiv:2210.00849 (ICLR 2023; abstract, VERIFIED: player strength scales "as a power of compute when training
optimally sized agents"; their Fig. 3 shows Elo rising with training steps at each fixed size).
Source status: VERIFIED in part: the abstract says strength grows as a power of compute for optimally sized agents;
the fixed-size curves of their Fig. 3 were not read here.
Departures: one fixed size (width 32, 2566 parameters) rather than the compute-optimal size at each budget
(alphazero_compute_optimal_size tests that part); Connect Four on a 5 x 4 board with 32 PUCT simulations per
move, the network and every other setting as in alphazero_size; the axis is the number of self-play games,
640 x 1, 2, 4, 8, 16 at quick (10 to 160 batches of 64 games; training FLOPs grow in proportion, and the report's
law is against the recorded FLOPs), 1280 x the same at full; each level is its own run, evaluated only at its
end (100 games against each anchor of the ladder of alphazero_size); 5 seeds, one run each.
Pilot: the smallest level (width 32, 640 games, seeds 0-2; ``alphazero.Config(width=32, iterations=10,
eval_every=10, eval_games=100)``, about 30 s a seed): Elo 353 -> 493, 307 -> 464, 364 -> 472 (0.33 of the way
from the untrained networks to the solver on average): it learns clearly, with room above it.
Gates: the default learning gate and the headroom gate with ceiling 749.6, the solver's Elo on the ladder.
Paper effect unknown: the compute exponent is in the body of the paper, which could not be read here, and it
is of the compute-optimal frontier, not of one size.
"""
import pytest

from harness.agents import alphazero as az


@pytest.mark.claim(axis="games", metrics={"elo": "increasing"}, blocks="seed", law="flops", ceiling=749.6,
                   paper_effect="unknown")
@pytest.mark.parametrize("games", [1, 2, 4, 8, 16])
def test_alphazero_compute(games, seeds, settings, device, record):
    rest = {k: tuple(v) if isinstance(v, list) else v for k, v in settings.items() if k != "base_games"}
    iterations = max(1, games * settings.base_games // rest.get("games_per_iteration", az.Config.games_per_iteration))
    cfg = az.Config(width=32, iterations=iterations, eval_every=iterations, **rest)
    record(az.train(cfg, seeds, device))
