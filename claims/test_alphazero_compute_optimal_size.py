"""The compute-optimal size of an AlphaZero network grows with the training compute budget.

Source: Neumann & Gros 2023, "Scaling laws for a multi-agent reinforcement learning model", arXiv:2210.00849
(ICLR 2023; abstract, VERIFIED: "Combining the two observed scaling laws we obtain a power law relating optimal
size to compute similar to the ones observed for language models"); the seed's question of how RL should split
compute between model size and training, which language models answer with such a law (Hoffmann et al. 2022).
Derived claim (ClaimSpec.derive="compute_optimal", over="curve"): one run per width, every width trained to the
same FLOPs (IsoFLOP: a width with k times fewer multiply-accumulates per position plays k times more games),
evaluated after batches 1, 2, 4, 8, ... and the last; each evaluation is a cell at the FLOPs spent by then (an
AlphaZero run of n batches is exactly the first n batches of a longer one: tests/test_alphazero.py), as Neumann
& Gros read their compute curves off training checkpoints. N*(C), the width with the highest Elo interpolated
in log compute, is taken at 8 log-spaced budgets that every width covers, and the verdict is the blocked rank
test of log2 N* on log2 C within seeds (REPRODUCED when the exponent's interval lies above 0).
Source status: VERIFIED (the abstract sentence quoted above).
Departures: Connect Four on 5 x 4 with 32 simulations and the settings of alphazero_size; widths 8, 16, 32, 64
(454 to 7174 parameters; 432 to 7040 multiply-accumulates per position, the FLOPs' proportion); at quick width 64
plays 32 batches (2048 games) and width 8 521 (33,344 games), the same FLOPs (about 2.1e10); full: 160 batches
for width 64 (10,240 games) and 5 seeds; 3 seeds at quick; the compute range every width covers runs from
width 64's first evaluation (64 games) to the end, 32x at quick; Elo on the ladder of alphazero_size, 100 games
per anchor at every evaluation.
Pilot: the grid's placement, before any run of this claim: the first quick records of alphazero_size (seeds
0-4, 2560 and 5120 games) and alphazero_compute's width 32 pilot. Width 8 (alphazero_size's pilot) is flat at 400-490
Elo after about 1300 games, so more compute should favour wider networks over it; width 64 had 536 on average at 2560 games
and 628 at 5120, width 128 539 and 640, width 32 445 at 2560 and 560 at 5120 (2 seeds): at 2560 games width
128 gains nothing on 64 for 3x the FLOPs, so 128 was left out and width 64 given 2048 games, where width 32
(5760 games at equal FLOPs) should lead if more games pay off for it, and the smaller widths should lead at the
low end. Those runs share their trajectories with this claim's widths 32 and 64 on seeds 0-2 (the same seeds,
and a run is the beginning of a longer one), so this placement saw part of this claim's data; nothing else was
chosen from them, and the verdict rule is the harness's.
Gates: the default learning gate on the best width's final Elo; the bracket gate (the optimum must be interior
at more than half of the seed-budgets); ceiling 749.6, the solver's Elo on the ladder.
Paper effect unknown: the exponent is in the body of the paper, which could not be read here.
"""
import pytest

from harness.agents import alphazero as az

REFERENCE_WIDTH = 64
"""The width whose run gets ``settings.iterations`` batches; a width with k times fewer MACs gets k times more."""


@pytest.mark.claim(axis="width", over="curve", derive="compute_optimal", metrics={"elo": "increasing"},
                   ceiling=749.6, paper_effect="unknown")
@pytest.mark.parametrize("width", [8, 16, 32, 64])
def test_alphazero_compute_optimal_size(width, seeds, settings, device, record):
    rest = {k: tuple(v) if isinstance(v, list) else v for k, v in settings.items() if k != "iterations"}
    board = az.Config(**rest).board
    ratio = az.PolicyValueNet(board, REFERENCE_WIDTH).macs() / az.PolicyValueNet(board, width).macs()
    cfg = az.Config(width=width, iterations=max(1, round(settings.iterations * ratio)), eval_log=True, **rest)
    record(az.train(cfg, seeds, device))
