"""AlphaZero's PUCT search batched over many games (``alphazero.search`` on all of them at once: one network
batch per simulation step) against the same search run one game at a time, side by side in one run.

    python benchmarks/alphazero_search.py                   # 64 games, 32 simulations, width 8, 5 x 4 board
    python benchmarks/alphazero_search.py --games 256 --width 256 --evaluator rollout

Both search the same positions (random openings of 0..6 moves) with the same network (or random playouts for
``--evaluator rollout``, the pure-MCTS anchors); with the network both give identical visit counts (the search
draws no random numbers without root noise, which the script checks). It prints simulations per second
(games x simulations / seconds) of each and their ratio.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from harness.agents import alphazero as az  # noqa: E402


def openings(spec: az.Board, n: int, rng: np.random.Generator) -> az.Games:
    """``n`` positions reached by 0..6 random moves, none over."""
    games = az.Games(spec, n)
    plies = rng.integers(0, 7, size=n)
    for t in range(6):
        idx = np.flatnonzero((plies > t) & ~games.done)
        games.play(az.random_moves(games.take(idx), rng), idx)
    keep = np.flatnonzero(~games.done)
    return games.take(keep)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--games", type=int, default=64)
    ap.add_argument("--simulations", type=int, default=32)
    ap.add_argument("--width", type=int, default=8)
    ap.add_argument("--cols", type=int, default=5)
    ap.add_argument("--rows", type=int, default=4)
    ap.add_argument("--evaluator", choices=("net", "rollout"), default="net")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    spec = az.Board(args.cols, args.rows)
    games = openings(spec, args.games, np.random.default_rng(0))
    n = len(games)
    cfg = az.Config(cols=args.cols, rows=args.rows, width=args.width, anchor_solver=False)
    net = az.make_net(cfg, 0, torch.device("cpu"))

    def evaluator(rng: np.random.Generator) -> az.Evaluator:
        return az.net_evaluator(net, torch.device("cpu")) if args.evaluator == "net" else az.rollout_evaluator(rng)

    rng = np.random.default_rng(1)
    az.search(games.take(np.arange(min(n, 4))), evaluator(rng), 4, cfg.c_puct, rng)  # warm-up
    t0 = time.perf_counter()
    batched, _ = az.search(games, evaluator(rng), args.simulations, cfg.c_puct, rng)
    t_batched = time.perf_counter() - t0
    t0 = time.perf_counter()
    single = np.concatenate([az.search(games.take(np.array([i])), evaluator(rng), args.simulations, cfg.c_puct,
                                       rng)[0] for i in range(n)])
    t_single = time.perf_counter() - t0
    if args.evaluator == "net":
        assert np.array_equal(batched, single), "batched and one-at-a-time searches disagree"
    sims = n * args.simulations
    print(f"{n} games x {args.simulations} simulations, {args.cols} x {args.rows} board, evaluator "
          f"{args.evaluator}" + (f" (width {args.width}, {net.params()} parameters)" if args.evaluator == "net"
                                 else ""))
    print(f"  batched:        {sims / t_batched:10.0f} simulations/s  ({t_batched:.2f} s)")
    print(f"  one at a time:  {sims / t_single:10.0f} simulations/s  ({t_single:.2f} s)")
    print(f"  ratio:          {t_single / t_batched:10.1f} x")


if __name__ == "__main__":
    main()
