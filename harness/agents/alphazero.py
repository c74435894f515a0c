"""AlphaZero on small Connect Four boards: batched PUCT self-play, a depth-2 MLP, Elo on a fixed anchor ladder.

For the claim "AlphaZero playing strength scales with network size and self-play compute" (Neumann & Gros
2023, "Scaling laws for a multi-agent reinforcement learning model", arXiv:2210.00849): they trained
AlphaZero agents on Connect Four and Pentago with MLP policy-value networks of fixed depth 2 and width
2^(i+2), measured Elo by playing the agents against each other, and fitted power laws of strength in
parameters and compute. The algorithm is AlphaZero (Silver et al. 2018, Science 362:1140): PUCT Monte-Carlo
tree search guided by a policy-value network, self-play games whose moves follow the search's visit counts,
and a loss of cross-entropy from the network's policy to the visit distribution plus the squared error of
its value to the game's outcome, with L2 regularization.

What is here, from the bottom up:
  ``Board``     the geometry (columns, rows, stones in a row to win; default 5 x 4, connect 4) and its lines.
  ``Games``     many Connect Four games as numpy arrays: legal moves, play (illegal moves raise), wins along
                rows, columns and both diagonals, draws on a full board, canonical observations (two planes:
                the stones of the player to move, then the opponent's).
                Why rules of our own (benchmarks/connect_four_rules.py, random play, one busy core, 2026-12-02):
                these arrays make 437k moves/s over 64 games at once and 893k over 256 on 5 x 4; open_spiel
                (which takes rows/columns) makes 366k one game at a time, 0.4x at 256 games and one state
                object per game; pettingzoo (4.9k/s) and pgx (JAX; 1.1-1.5M/s jitted over 64-256 games) play
                only the 7 x 6 board. The search batches all games in numpy, so it keeps numpy rules.
  ``Solver``    an exact solver (negamax with alpha-beta, null-window search on the score, a transposition
                table of bounds, memoized exact scores; Pons's bitboard and score, http://blog.gamesolver.org):
                the game-theoretic value of a position and its optimal moves. Measured on one busy core (about
                50k nodes/s): the empty 4 x 5 board in 1.2 s, 5 x 4 in 1-2 s (a draw), 6 x 4 in 14 s (a
                second-player win), 5 x 5 in 26 s (a draw); 6 x 5 and 7 x 6 were not tried and are far out of
                reach of pure Python without an opening book, so the solver anchor is limited to
                ``SOLVER_MAX_CELLS`` = 25 cells. As a player it costs 15-25 ms per new 5 x 4 position (exact
                scores of all moves), so its first 40 games against a weak player take 10-20 s; positions
                seen before are free.
  ``search``    PUCT MCTS batched over games: each game's tree lives in numpy arrays (children, priors, visit
                counts, value sums per edge), every simulation descends all trees at once and evaluates all
                new leaves in one call (one torch batch for the network). Dirichlet noise at the root in
                self-play; the same number of simulations in training and evaluation.
  ``PolicyValueNet``  the MLP: observation -> width -> width (ReLU) -> column logits (illegal ones masked)
                and a tanh value. ``WIDTHS`` is the size ladder 8..256 (about 450 to 78k parameters on 5 x 4).
  anchors       uniform random, pure MCTS with random rollouts at fixed simulation budgets (uniform priors,
                the same PUCT tree, batched), and the solver (optimal, random among equally good moves).
  ``play_match``  two players over N games, half with each colour, all games batched.
  Elo           ratings on the fixed ladder scale, random = 0: the anchors' ratings come from an anchor-vs-
                anchor table (all pairs, fixed seed, computed once per process), fitted by maximum Bradley-
                Terry likelihood with scipy; an agent's Elo is then the one-parameter fit of its results
                against the fixed anchors, with the standard error from the Fisher information.
  ``train``     batches of self-play games -> replay buffer -> Adam updates; evaluation on the ladder at game
                0 (the untrained network) and every ``eval_every`` batches.

Departures, all of ours: the board is small (5 x 4 by default; the paper played 7 x 6 Connect Four), so that
an exact solver can anchor the top of the ladder and runs take minutes on a CPU; Elo is measured against a
fixed ladder of anchors, not among the agents of the sweep, so that every run has its own rating on one scale
(random = 0); a constant c_puct instead of AlphaZero's slowly growing one, and sqrt(max(1, N)) for the
parent's visits N in the exploration term (AlphaZero: sqrt(N)), so that a new node's first visit follows the
prior rather than the lowest column; unvisited edges count Q = 0; Dirichlet alpha 1.0 (AlphaZero scaled
alpha inversely with the typical number of legal moves: 0.3 for chess's ~35, so a few moves want a large
alpha); mirror images of every position are added to the replay buffer (Connect Four is symmetric under
reflection; AlphaZero used board symmetries for Go's first version only); pure-MCTS anchors use PUCT with
uniform priors and c_puct 5 (as the pure-MCTS baseline of junxiaosong/AlphaZero_Gomoku) rather than UCB1; Bradley-Terry
fits add ``elo_prior_draws`` virtual draws to each pair (BayesElo's device), which keeps ratings finite when
one player wins every game; the Elo standard error leaves out the anchors' own uncertainty.

Determinism. Every random draw of a run comes from streams derived from its seed (``derive_seed``): "init"
(network weights), "selfplay" (root noise, temperature sampling), "replay" (minibatches) and "eval/<k>" (the
k-th evaluation's anchors), so an evaluation leaves training unchanged and a run repeats bit for bit on CPU.
The anchor ladder uses fixed seeds of its own and is the same for every run.

Divergence. A non-finite loss stops training before the optimizer step that would use it: the run is
reported with ``diverged=True`` and ``diverged_step`` (self-play games played), later evaluations are NaN and
so are its metrics. ``Config._inject_nan_at`` tests this.

Resuming. ``train`` saves its state when the harness's checkpoint is due (harness/checkpoint.py): the members
already finished and, for the running one, every object in ``RESUMABLE`` (network, optimizer, replay buffer,
random generators, curves) after a whole iteration; a resumed run returns the same record bit for bit, a unit
of several seeds included (tests/test_checkpoint.py).

Compute. ``flops`` is the 6N rule (``harness.agents.common.training_flops``) with N the multiply-accumulates of
one forward pass: forward+backward on every trained sample, forward on every position the self-play search
evaluated. ``env_steps`` are the moves played in self-play.
"""
from __future__ import annotations

import functools
import math
import time
from dataclasses import asdict, dataclass
from typing import Callable, Iterable, Sequence

import numpy as np
import torch
from scipy import optimize
from torch import Tensor, nn
from torch.nn import functional as F

from harness import checkpoint
from harness.agents.common import training_flops
from harness.envs import derive_seed
from harness.result import MemberResult, RunResult, report_progress, trainer

ELO, ELO_SE = "elo", "elo_se"
METRICS = (ELO,)  # what a claim may test (checked at collection); elo_se and scores are reported beside it
DEPTH = 2  # hidden layers of the MLP, fixed as in Neumann & Gros 2023
WIDTHS = (8, 16, 32, 64, 128, 256)  # the size ladder: 2^(i+2) for i = 1..6
SOLVER_MAX_CELLS = 25  # the solver anchor's limit: the empty 5 x 5 board takes ~25 s on one core (docstring)
ELO_SCALE = 400.0 / math.log(10.0)  # P(a beats b) = 1 / (1 + 10^((R_b - R_a) / 400))


# --- the game -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Board:
    """Board geometry: ``cols`` x ``rows``, ``connect`` stones in a line win. Cells are numbered
    ``row * cols + col`` with row 0 at the bottom."""

    cols: int = 5
    rows: int = 4
    connect: int = 4

    def __post_init__(self) -> None:
        if not (2 <= self.cols <= 9 and 2 <= self.rows <= 9):
            raise ValueError(f"Board needs 2..9 columns and rows, got {self.cols} x {self.rows}")
        if not 2 <= self.connect <= max(self.cols, self.rows):
            raise ValueError(f"Board.connect must lie in 2..max(cols, rows) = {max(self.cols, self.rows)}, "
                             f"got {self.connect}")

    @property
    def cells(self) -> int:
        return self.cols * self.rows

    @functools.cached_property
    def lines(self) -> np.ndarray:
        """(L, connect) cell indices of every winning line (rows, columns, both diagonals)."""
        out = []
        k = self.connect
        for r in range(self.rows):
            for c in range(self.cols):
                for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1)):
                    rr, cc = r + dr * (k - 1), c + dc * (k - 1)
                    if 0 <= rr < self.rows and 0 <= cc < self.cols:
                        out.append([(r + dr * i) * self.cols + c + dc * i for i in range(k)])
        return np.array(out, dtype=np.int64).reshape(-1, k)

    @functools.cached_property
    def cell_lines(self) -> np.ndarray:
        """(cells, maxL, connect): the lines through each cell, padded with a line of the padding cell
        ``cells`` (always empty), so that a padded entry never counts as a win."""
        through = [[j for j, line in enumerate(self.lines) if cell in line] for cell in range(self.cells)]
        width = max(1, max(len(t) for t in through))
        pad = np.full((1, self.connect), self.cells, dtype=np.int64)
        padded = np.concatenate([self.lines, pad])
        idx = np.array([t + [len(self.lines)] * (width - len(t)) for t in through], dtype=np.int64)
        return padded[idx]


class Games:
    """``n`` Connect Four games side by side. ``board`` (n, cells + 1) int8: +1 the first player's stones, -1
    the second's, 0 empty (the last column is padding, always 0); ``heights`` (n, cols) stones per column;
    ``player`` (n,) the player to move (+1 first); ``moves`` stones played; ``done``; ``winner`` (+1, -1, or
    0 for a draw or an unfinished game)."""

    def __init__(self, spec: Board, n: int):
        self.spec = spec
        self.board = np.zeros((n, spec.cells + 1), dtype=np.int8)
        self.heights = np.zeros((n, spec.cols), dtype=np.int8)
        self.player = np.ones(n, dtype=np.int8)
        self.moves = np.zeros(n, dtype=np.int16)
        self.done = np.zeros(n, dtype=bool)
        self.winner = np.zeros(n, dtype=np.int8)

    @classmethod
    def from_moves(cls, spec: Board, sequences: Sequence[Sequence[int]]) -> "Games":
        """Games reached by playing each sequence of columns from the empty board."""
        g = cls(spec, len(sequences))
        for t in range(max((len(s) for s in sequences), default=0)):
            idx = np.array([i for i, s in enumerate(sequences) if len(s) > t], dtype=np.int64)
            g.play(np.array([sequences[i][t] for i in idx]), idx)
        return g

    def __len__(self) -> int:
        return len(self.player)

    def copy(self) -> "Games":
        return self.take(np.arange(len(self)))

    def take(self, idx: np.ndarray) -> "Games":
        """A copy of the games ``idx``."""
        g = Games.__new__(Games)
        g.spec = self.spec
        for name in ("board", "heights", "player", "moves", "done", "winner"):
            setattr(g, name, getattr(self, name)[idx].copy())
        return g

    def legal(self) -> np.ndarray:
        """(n, cols) bool: columns with room, in games not over."""
        return (self.heights < self.spec.rows) & ~self.done[:, None]

    def play(self, cols: np.ndarray, idx: np.ndarray | None = None) -> None:
        """Drop the player to move's stone in column ``cols[i]`` of game ``idx[i]`` (all games if None)."""
        idx = np.arange(len(self)) if idx is None else np.asarray(idx, dtype=np.int64)
        cols = np.asarray(cols, dtype=np.int64)
        if cols.shape != idx.shape:
            raise ValueError(f"play needs one column per game: {cols.shape} columns for {idx.shape} games")
        if idx.size == 0:
            return
        if (cols < 0).any() or (cols >= self.spec.cols).any():
            raise ValueError(f"columns must lie in 0..{self.spec.cols - 1}, got {cols.tolist()}")
        if self.done[idx].any() or (self.heights[idx, cols] >= self.spec.rows).any():
            bad = idx[self.done[idx] | (self.heights[idx, cols] >= self.spec.rows)]
            raise ValueError(f"illegal move in games {bad.tolist()}: the game is over or the column is full")
        h = self.heights[idx, cols].astype(np.int64)
        cell = h * self.spec.cols + cols
        p = self.player[idx]
        self.board[idx, cell] = p
        self.heights[idx, cols] += 1
        self.moves[idx] += 1
        lines = self.spec.cell_lines[cell]  # (k, maxL, connect)
        stones = self.board[idx[:, None, None], lines]
        won = (stones == p[:, None, None]).all(-1).any(-1)
        self.winner[idx] = np.where(won, p, 0)
        self.done[idx] = won | (self.moves[idx] >= self.spec.cells)
        self.player[idx] = -p

    def observation(self) -> np.ndarray:
        """(n, 2 * cells) float32: the player to move's stones, then the opponent's (canonical form)."""
        b = self.board[:, :-1]
        p = self.player[:, None]
        return np.concatenate([b == p, b == -p], axis=1).astype(np.float32)

    def render(self, i: int = 0) -> str:
        """Game ``i`` as text, top row first: X the first player, O the second."""
        b = self.board[i, :-1].reshape(self.spec.rows, self.spec.cols)
        return "\n".join("".join(".XO"[v] for v in row) for row in b[::-1])


# --- the exact solver ---------------------------------------------------------------------------------

class Solver:
    """Exact solver for small boards (the module docstring gives its limits).

    Bitboards as Pons's solver: column c holds bits c * (rows + 1) .. c * (rows + 1) + rows - 1, bottom first,
    with an always-empty sentinel bit on top; ``pos`` holds the player to move's stones, ``mask`` all stones.
    The score of a position (player to move's view) is 0 for a draw, and for a win (cells + 1 - m) // 2 where
    m is the number of stones on the board just before the winning stone (negative for a loss): the sooner the
    win, the larger. Exact scores are memoized per solver; the alpha-beta transposition table keeps bounds.
    """

    def __init__(self, spec: Board):
        self.spec = spec
        h1 = spec.rows + 1
        self.bottom = sum(1 << (c * h1) for c in range(spec.cols))
        self.full = self.bottom * ((1 << spec.rows) - 1)
        self.col_masks = [((1 << spec.rows) - 1) << (c * h1) for c in range(spec.cols)]
        self.top = [1 << (spec.rows - 1 + c * h1) for c in range(spec.cols)]
        mid = (spec.cols - 1) / 2
        self.order = sorted(range(spec.cols), key=lambda c: (abs(c - mid), c))  # centre columns first
        self.dirs = (1, h1, h1 - 1, h1 + 1)  # vertical, horizontal, two diagonals
        self.bounds: dict[int, tuple[int, int]] = {}
        self.exact: dict[int, int] = {}
        self.signs: dict[int, int] = {}
        self.nodes = 0

    # bitboard helpers
    def from_games(self, games: Games, i: int) -> tuple[int, int, int]:
        """(pos, mask, moves) of game ``i``."""
        rows, cols = self.spec.rows, self.spec.cols
        b = games.board[i, :-1]
        me = games.player[i]
        pos = mask = 0
        for cell in np.flatnonzero(b):
            bit = 1 << (int(cell) % cols * (rows + 1) + int(cell) // cols)
            mask |= bit
            if b[cell] == me:
                pos |= bit
        return pos, mask, int(games.moves[i])

    def winning_cells(self, pos: int, mask: int) -> int:
        """Empty cells where a stone of ``pos``'s owner would complete a line of ``connect``."""
        k = self.spec.connect
        r = 0
        for d in self.dirs:
            # before[i]: cells with i stones in a row just below them along d; after[i]: just above
            before, after = [-1], [-1]
            for i in range(1, k):
                before.append(before[-1] & (pos << (i * d)))
                after.append(after[-1] & (pos >> (i * d)))
            for i in range(k):  # i stones on one side of the new stone, k - 1 - i on the other
                r |= before[i] & after[k - 1 - i]
        return r & (self.full ^ mask)

    def possible(self, mask: int) -> int:
        return (mask + self.bottom) & self.full

    def score_bounds(self, moves: int) -> tuple[int, int]:
        return -((self.spec.cells - moves) // 2), (self.spec.cells + 1 - moves) // 2

    def _negamax(self, pos: int, mask: int, moves: int, alpha: int, beta: int) -> int:
        """Score bound search; the player to move has no immediate win (the caller checks)."""
        self.nodes += 1
        cells = self.spec.cells
        possible = self.possible(mask)
        opp_win = self.winning_cells(pos ^ mask, mask)
        forced = possible & opp_win
        if forced:
            if forced & (forced - 1):  # two threats: the opponent wins next move
                return -((cells - moves) // 2)
            possible = forced
        nonlosing = possible & ~(opp_win >> 1)
        if not nonlosing:
            return -((cells - moves) // 2)
        if moves >= cells - 2:
            return 0
        lo = -((cells - 2 - moves) // 2)
        hi = (cells - 1 - moves) // 2
        key = pos + mask
        if key in self.bounds:
            b_lo, b_hi = self.bounds[key]
            lo, hi = max(lo, b_lo), min(hi, b_hi)
        if lo >= beta:  # the bounds alone decide this window
            return lo
        if hi <= alpha:
            return hi
        if lo >= hi:
            return lo
        alpha, beta = max(alpha, lo), min(beta, hi)
        children = []
        for c in self.order:
            move = nonlosing & self.col_masks[c]
            if move:
                new_pos = pos | move
                children.append((-(self.winning_cells(new_pos, mask | move).bit_count()), len(children), move))
        children.sort()
        a0 = alpha
        for _, _, move in children:
            new_mask = mask | move
            score = -self._negamax(pos ^ mask, new_mask, moves + 1, -beta, -alpha)
            if score >= beta:
                self._store(key, lo=score)
                return score
            if score > alpha:
                alpha = score
        if alpha > a0:
            self._store(key, lo=alpha, hi=alpha)
        else:
            self._store(key, hi=alpha)
        return alpha

    def _store(self, key: int, lo: int | None = None, hi: int | None = None) -> None:
        old_lo, old_hi = self.bounds.get(key, (-10 ** 6, 10 ** 6))
        self.bounds[key] = (old_lo if lo is None else max(old_lo, lo), old_hi if hi is None else min(old_hi, hi))

    def solve(self, pos: int, mask: int, moves: int, weak: bool = False) -> int:
        """The exact score of a position that is not over (the player to move's view); with ``weak`` only its
        sign (+1 win, 0 draw, -1 loss), which is cheaper."""
        key = pos + mask
        memo = self.signs if weak else self.exact
        if key in memo:
            return memo[key]
        if key in self.exact:
            return int(np.sign(self.exact[key]))
        if self.winning_cells(pos, mask) & self.possible(mask):
            score = (self.spec.cells + 1 - moves) // 2
        elif moves >= self.spec.cells:
            score = 0
        else:
            lo, hi = (-1, 1) if weak else self.score_bounds(moves)
            while lo < hi:  # null-window searches, bisecting on the score
                med = lo + (hi - lo) // 2
                if med <= 0 and lo // 2 < med:
                    med = lo // 2
                elif med >= 0 and hi // 2 > med:
                    med = hi // 2
                r = self._negamax(pos, mask, moves, med, med + 1)
                if r <= med:
                    hi = r
                else:
                    lo = r
            score = lo
        if weak:
            score = int(np.sign(score))
        memo[key] = score
        return score

    def move_scores(self, pos: int, mask: int, moves: int, weak: bool = False) -> np.ndarray:
        """(cols,) the exact score (``weak``: its sign) of each move, the mover's view; -inf for a full column."""
        out = np.full(self.spec.cols, -np.inf)
        win = self.winning_cells(pos, mask)
        for c in range(self.spec.cols):
            if mask & self.top[c]:
                continue
            move = (mask + self.bottom) & self.col_masks[c]
            if move & win:
                out[c] = 1 if weak else (self.spec.cells + 1 - moves) // 2
            elif moves + 1 >= self.spec.cells:
                out[c] = 0
            else:
                out[c] = -self.solve(pos ^ mask, mask | move, moves + 1, weak)
        return out

    def value(self, games: Games, i: int = 0) -> int:
        """Game-theoretic value of game ``i`` for the player to move: +1 win, 0 draw, -1 loss."""
        if games.done[i]:
            raise ValueError("value of a finished game: read Games.winner")
        return int(np.sign(self.solve(*self.from_games(games, i))))

    def best_moves(self, games: Games, i: int = 0) -> list[int]:
        """The optimal columns of game ``i``: the highest score (fastest win, slowest loss)."""
        s = self.move_scores(*self.from_games(games, i))
        return [int(c) for c in np.flatnonzero(s == s.max())]


@functools.lru_cache(maxsize=8)
def solver_for(spec: Board) -> Solver:
    """One solver (and its memo) per board per process."""
    return Solver(spec)


# --- batched PUCT search ------------------------------------------------------------------------------

Evaluator = Callable[[Games], tuple[np.ndarray, np.ndarray]]
"""Games (none over) -> (priors (n, cols) over legal moves, values (n,) in [-1, 1] for the player to move)."""


def search(games: Games, evaluate: Evaluator, simulations: int, c_puct: float, rng: np.random.Generator,
           noise: tuple[float, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """PUCT MCTS from every game of ``games`` (none over) at once: ``simulations`` simulations per game, one
    ``evaluate`` call per simulation on all new leaves. ``noise`` (alpha, fraction) mixes Dirichlet noise into
    the root priors. Returns the root's visit counts (n, cols) and value estimate (n,) (player to move)."""
    n, a = len(games), games.spec.cols
    if games.done.any():
        raise ValueError("search needs games that are not over")
    nodes = simulations + 1
    child = np.full((n, nodes, a), -1, dtype=np.int32)
    prior = np.zeros((n, nodes, a), dtype=np.float64)
    visits = np.zeros((n, nodes, a), dtype=np.float64)
    value_sum = np.zeros((n, nodes, a), dtype=np.float64)
    count = np.ones(n, dtype=np.int64)  # nodes allocated per game (the root is node 0)

    p_root, v_root = evaluate(games)
    if noise is not None:
        alpha, frac = noise
        legal = games.legal()
        eta = rng.gamma(alpha, 1.0, size=(n, a)) * legal
        eta /= eta.sum(1, keepdims=True)
        p_root = (1 - frac) * p_root + frac * eta
    prior[:, 0] = p_root

    for _ in range(simulations):
        state = games.copy()
        node = np.zeros(n, dtype=np.int64)
        active = np.ones(n, dtype=bool)
        leaf_value = np.zeros(n)
        expand = np.zeros(n, dtype=bool)
        parent = np.zeros(n, dtype=np.int64)
        path: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        while active.any():
            idx = np.flatnonzero(active)
            nd = node[idx]
            nv, w, p = visits[idx, nd], value_sum[idx, nd], prior[idx, nd]
            q = np.divide(w, nv, out=np.zeros_like(w), where=nv > 0)
            u = c_puct * p * np.sqrt(np.maximum(nv.sum(1, keepdims=True), 1.0)) / (1.0 + nv)
            score = np.where(state.legal()[idx], q + u, -np.inf)
            act = score.argmax(1)
            path.append((idx, nd, act))
            state.play(act, idx)
            over = state.done[idx]
            nxt = child[idx, nd, act]
            leaf_value[idx[over]] = np.where(state.winner[idx[over]] != 0, -1.0, 0.0)  # the mover won
            new = ~over & (nxt < 0)
            expand[idx[new]] = True
            parent[idx[new]] = nd[new]
            active[idx[over | new]] = False
            go = ~over & (nxt >= 0)
            node[idx[go]] = nxt[go]
        ex = np.flatnonzero(expand)
        if ex.size:
            p_leaf, v_leaf = evaluate(state.take(ex))
            last_act = np.zeros(n, dtype=np.int64)
            for idx, _, act in path:  # each game's last step is its leaf edge
                last_act[idx] = act
            new_node = count[ex]
            child[ex, parent[ex], last_act[ex]] = new_node
            prior[ex, new_node] = p_leaf
            count[ex] += 1
            leaf_value[ex] = v_leaf
        cur = leaf_value  # value for the player to move after each game's latest step
        for idx, nd, act in reversed(path):
            visits[idx, nd, act] += 1
            value_sum[idx, nd, act] -= cur[idx]  # the edge's value is its mover's: the negative of the child's
            cur[idx] = -cur[idx]
    root_visits = visits[:, 0]
    root_value = value_sum[:, 0].sum(1) / np.maximum(root_visits.sum(1), 1.0)
    return root_visits, np.where(root_visits.sum(1) > 0, root_value, v_root)


def uniform_priors(games: Games) -> np.ndarray:
    legal = games.legal().astype(np.float64)
    return legal / legal.sum(1, keepdims=True)


def random_moves(games: Games, rng: np.random.Generator) -> np.ndarray:
    """A uniformly random legal column per game."""
    return np.where(games.legal(), rng.random((len(games), games.spec.cols)), -1.0).argmax(1)


def rollout_evaluator(rng: np.random.Generator) -> Evaluator:
    """Uniform priors, and as value the outcome of one uniformly random playout (batched over games)."""
    def evaluate(games: Games) -> tuple[np.ndarray, np.ndarray]:
        g = games.copy()
        while not g.done.all():
            idx = np.flatnonzero(~g.done)
            g.play(random_moves(g.take(idx), rng), idx)
        return uniform_priors(games), (g.winner * games.player).astype(np.float64)
    return evaluate


# --- the network --------------------------------------------------------------------------------------

class PolicyValueNet(nn.Module):
    """Observation (B, 2 * cells) -> width -> width (ReLU, ``DEPTH`` = 2 hidden layers) -> column logits
    (B, cols) and a tanh value (B,)."""

    def __init__(self, spec: Board, width: int):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(2 * spec.cells, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU())
        self.policy = nn.Linear(width, spec.cols)
        self.value = nn.Linear(width, 1)

    def forward(self, obs: Tensor) -> tuple[Tensor, Tensor]:
        h = self.body(obs)
        return self.policy(h), torch.tanh(self.value(h)).squeeze(-1)

    def macs(self) -> int:
        """Multiply-accumulates of one forward pass of one position."""
        return sum(m.in_features * m.out_features for m in self.modules() if isinstance(m, nn.Linear))

    def params(self) -> int:
        return sum(p.numel() for p in self.parameters())


def masked_logits(logits: Tensor, legal: Tensor) -> Tensor:
    return logits.masked_fill(~legal, -1e9)


def net_evaluator(net: PolicyValueNet, device: torch.device, counter: list[int] | None = None) -> Evaluator:
    """The network as a search evaluator: one batch per call; ``counter[0]`` counts positions evaluated."""
    @torch.no_grad()
    def evaluate(games: Games) -> tuple[np.ndarray, np.ndarray]:
        obs = torch.as_tensor(games.observation(), device=device)
        legal = torch.as_tensor(games.legal(), device=device)
        logits, value = net(obs)
        p = masked_logits(logits, legal).softmax(-1).double().cpu().numpy()
        if counter is not None:
            counter[0] += len(games)
        return p, value.double().cpu().numpy()
    return evaluate


# --- players and matches ------------------------------------------------------------------------------

Player = Callable[[Games, np.random.Generator], np.ndarray]
"""Games (none over; the player is to move in each) and a generator -> one column per game."""


def argmax_random_ties(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    best = x == x.max(1, keepdims=True)
    return np.where(best, rng.random(x.shape), -1.0).argmax(1)


def random_player(games: Games, rng: np.random.Generator) -> np.ndarray:
    return random_moves(games, rng)


def rollout_mcts_player(simulations: int, c_puct: float = 5.0) -> Player:
    """Pure MCTS: uniform priors, random-playout values, the most visited move (random among ties)."""
    def act(games: Games, rng: np.random.Generator) -> np.ndarray:
        visits, _ = search(games, rollout_evaluator(rng), simulations, c_puct, rng)
        return argmax_random_ties(visits, rng)
    return act


def solver_player(spec: Board) -> Player:
    """Optimal play: the best score (fastest win, slowest loss), uniformly among equals."""
    solver = solver_for(spec)

    def act(games: Games, rng: np.random.Generator) -> np.ndarray:
        out = np.empty(len(games), dtype=np.int64)
        for i in range(len(games)):
            best = solver.best_moves(games, i)
            out[i] = best[rng.integers(len(best))]
        return out
    return act


def agent_player(net: PolicyValueNet, simulations: int, c_puct: float, device: torch.device) -> Player:
    """The trained agent at evaluation: search without noise, the most visited move (lowest column on ties)."""
    evaluate = net_evaluator(net, device)

    def act(games: Games, rng: np.random.Generator) -> np.ndarray:
        visits, _ = search(games, evaluate, simulations, c_puct, rng)
        return visits.argmax(1)
    return act


def play_match(spec: Board, a: Player, b: Player, games: int, rng: np.random.Generator) -> tuple[int, int, int]:
    """(wins, draws, losses) of ``a`` against ``b`` over ``games`` games played side by side; ``a`` moves
    first in the first ceil(games / 2) and second in the others."""
    g = Games(spec, games)
    a_first = np.arange(games) < (games + 1) // 2
    a_sign = np.where(a_first, 1, -1)
    while not g.done.all():
        for who, mine in ((a, True), (b, False)):
            idx = np.flatnonzero(~g.done & ((g.player == a_sign) == mine))
            if idx.size:
                g.play(who(g.take(idx), rng), idx)
    score = g.winner * a_sign
    return int((score > 0).sum()), int((score == 0).sum()), int((score < 0).sum())


# --- Elo on the anchor ladder -------------------------------------------------------------------------

def anchor_names(rollout_sims: Sequence[int], solver: bool) -> tuple[str, ...]:
    return ("random",) + tuple(f"mcts{s}" for s in rollout_sims) + (("solver",) if solver else ())


def anchor_player(spec: Board, name: str) -> Player:
    if name == "random":
        return random_player
    if name == "solver":
        return solver_player(spec)
    if name.startswith("mcts"):
        return rollout_mcts_player(int(name[4:]))
    raise ValueError(f"unknown anchor {name!r}: 'random', 'mcts<simulations>' or 'solver'")


@functools.lru_cache(maxsize=8)
def anchor_table(spec: Board, names: tuple[str, ...], games: int) -> dict[tuple[str, str], tuple[int, int, int]]:
    """(wins, draws, losses) of anchor i against anchor j, i before j in ``names``, ``games`` games per pair,
    with a fixed seed per pair: the same table for every run (computed once per process)."""
    table = {}
    for i, x in enumerate(names):
        for y in names[i + 1:]:
            rng = np.random.default_rng(derive_seed(0, f"ladder/{spec}/{x}/{y}"))
            table[(x, y)] = play_match(spec, anchor_player(spec, x), anchor_player(spec, y), games, rng)
    return table


def _win_prob(diff: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-diff / ELO_SCALE))


def _scores_and_totals(wdl: Iterable[tuple[int, int, int]], prior_draws: float) -> tuple[np.ndarray, np.ndarray]:
    """Per pairing, the first player's score (a draw counts half, ``prior_draws`` virtual draws added) and the
    number of games it is out of."""
    counts = np.array(list(wdl), dtype=np.float64)
    return counts[:, 0] + 0.5 * (counts[:, 1] + prior_draws), counts.sum(1) + prior_draws


def _bt_nll(diff: np.ndarray, score: np.ndarray, total: np.ndarray) -> tuple[float, np.ndarray]:
    """The Bradley-Terry negative log-likelihood of the scores at Elo differences ``diff``, and the win
    probabilities."""
    p = np.clip(_win_prob(diff), 1e-12, 1 - 1e-12)
    return float(-(score * np.log(p) + (total - score) * np.log(1 - p)).sum()), p


def fit_anchor_ratings(names: Sequence[str], table: dict[tuple[str, str], tuple[int, int, int]],
                       prior_draws: float) -> dict[str, float]:
    """Bradley-Terry maximum-likelihood Elo of the anchors, ``names[0]`` fixed at 0; a draw counts half a win
    and half a loss, and each pair gets ``prior_draws`` virtual draws."""
    index = {n: i for i, n in enumerate(names)}
    pairs = np.array([(index[x], index[y]) for x, y in table])
    score, total = _scores_and_totals(table.values(), prior_draws)

    def nll(free: np.ndarray) -> tuple[float, np.ndarray]:
        r = np.concatenate([[0.0], free])
        f, p = _bt_nll(r[pairs[:, 0]] - r[pairs[:, 1]], score, total)
        g_pair = -(score - total * p) / ELO_SCALE  # d nll / d (r_i - r_j)
        grad = np.zeros(len(names))
        np.add.at(grad, pairs[:, 0], g_pair)
        np.add.at(grad, pairs[:, 1], -g_pair)
        return float(f), grad[1:]

    fit = optimize.minimize(nll, np.zeros(len(names) - 1), jac=True, method="BFGS")
    return dict(zip(names, [0.0] + [float(v) for v in fit.x]))


def fit_elo(ratings: dict[str, float], results: dict[str, tuple[int, int, int]],
            prior_draws: float) -> tuple[float, float]:
    """(Elo, standard error) of a player from its (wins, draws, losses) against anchors of fixed ``ratings``:
    the one-parameter Bradley-Terry maximum likelihood, the error from its Fisher information."""
    r = np.array([ratings[n] for n in results])
    score, total = _scores_and_totals(results.values(), prior_draws)

    def nll(x: float) -> float:
        return _bt_nll(x - r, score, total)[0]

    lo, hi = r.min() - 3000.0, r.max() + 3000.0
    x = float(optimize.minimize_scalar(nll, bounds=(lo, hi), method="bounded", options={"xatol": 1e-3}).x)
    p = _win_prob(x - r)
    info = float((total * p * (1 - p)).sum()) / ELO_SCALE ** 2
    return x, 1.0 / math.sqrt(info)


# --- training -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Config:
    """AlphaZero settings (module docstring); the board and network are the claim's, the rest ours."""

    cols: int = 5
    rows: int = 4
    connect: int = 4
    width: int = 8
    """Hidden units of both hidden layers (the scaling axis; ``WIDTHS`` is the ladder)."""
    iterations: int = 30
    """Self-play batches; each plays ``games_per_iteration`` games side by side, then trains."""
    games_per_iteration: int = 64
    simulations: int = 32
    """PUCT simulations per move, in self-play and in evaluation alike."""
    c_puct: float = 1.5
    dirichlet_alpha: float = 1.0
    noise_fraction: float = 0.25
    temperature_moves: int = 4
    """Self-play plies (both players' moves counted) sampled in proportion to visit counts at the start of each
    game; later moves are the most visited (ties: random)."""
    buffer_size: int = 20_000
    """Replay capacity in positions (mirror images included)."""
    mirror: bool = True
    """Also store each position's mirror image."""
    batch_size: int = 128
    updates_per_iteration: int = 40
    lr: float = 1e-3
    weight_decay: float = 1e-4
    """Adam's L2 coefficient (AlphaZero's c)."""
    value_weight: float = 1.0
    eval_every: int = 10
    """Evaluate every this many iterations (and after the last); also before the first (untrained)."""
    eval_log: bool = False
    """Evaluate after iterations 1, 2, 4, 8, ... (and the last) instead of every ``eval_every``: a learning curve
    evenly spaced in log compute, as a compute-optimal frontier read from the curves needs."""
    eval_games: int = 40
    """Games against each anchor per evaluation, half with each colour."""
    anchor_rollout_sims: tuple[int, ...] = (8, 32, 128)
    """Simulation budgets of the pure-MCTS anchors (random and, if ``anchor_solver``, the solver besides)."""
    anchor_solver: bool = True
    """Put the exact solver on the ladder (boards up to about 24 cells; module docstring)."""
    ladder_games: int = 100
    """Games per anchor pair of the anchor-vs-anchor table."""
    elo_prior_draws: float = 1.0
    """Virtual draws added to every pairing of the Elo fits."""
    _inject_nan_at: int | None = None
    """Testing only: the update whose loss is replaced by NaN."""

    def __post_init__(self) -> None:
        Board(self.cols, self.rows, self.connect)  # raises on an impossible board
        for name in ("width", "iterations", "games_per_iteration", "simulations", "buffer_size", "batch_size",
                     "eval_every", "eval_games", "ladder_games"):
            if getattr(self, name) < 1:
                raise ValueError(f"AlphaZero Config.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("updates_per_iteration", "temperature_moves", "lr", "weight_decay", "value_weight",
                     "elo_prior_draws"):
            if getattr(self, name) < 0:
                raise ValueError(f"AlphaZero Config.{name} must be >= 0, got {getattr(self, name)}")
        if self.c_puct <= 0 or self.dirichlet_alpha <= 0 or not 0 <= self.noise_fraction <= 1:
            raise ValueError(f"AlphaZero Config needs c_puct > 0, dirichlet_alpha > 0 and noise_fraction in "
                             f"[0, 1]; got {self.c_puct}, {self.dirichlet_alpha}, {self.noise_fraction}")
        if any(s < 1 for s in self.anchor_rollout_sims) or len(set(self.anchor_rollout_sims)) != len(
                self.anchor_rollout_sims):
            raise ValueError(f"AlphaZero Config.anchor_rollout_sims must be distinct budgets >= 1, got "
                             f"{self.anchor_rollout_sims}")
        if self.anchor_solver and self.cols * self.rows > SOLVER_MAX_CELLS:
            raise ValueError(f"AlphaZero Config.anchor_solver: the pure-Python solver handles boards up to "
                             f"{SOLVER_MAX_CELLS} cells, not {self.cols} x {self.rows}; set anchor_solver=False")
        if self.elo_prior_draws == 0 and not self.anchor_rollout_sims and not self.anchor_solver:
            raise ValueError("AlphaZero Config: a ladder of random alone needs elo_prior_draws > 0")

    def evaluates(self, it: int) -> bool:
        """Whether iteration ``it`` (1-based) ends with an evaluation."""
        return (it & (it - 1) == 0 if self.eval_log else it % self.eval_every == 0) or it == self.iterations

    @property
    def board(self) -> Board:
        return Board(self.cols, self.rows, self.connect)

    @property
    def anchors(self) -> tuple[str, ...]:
        return anchor_names(self.anchor_rollout_sims, self.anchor_solver)


def ladder(cfg: Config) -> dict[str, float]:
    """The anchors' Elo (random = 0) from the anchor-vs-anchor table."""
    names = cfg.anchors
    if len(names) == 1:
        return {names[0]: 0.0}
    return fit_anchor_ratings(names, anchor_table(cfg.board, names, cfg.ladder_games), cfg.elo_prior_draws)


def evaluate_agent(net: PolicyValueNet, cfg: Config, ratings: dict[str, float], rng: np.random.Generator,
                   device: torch.device) -> tuple[float, float, dict[str, tuple[int, int, int]]]:
    """(Elo, standard error, results by anchor) of the network's search against every anchor."""
    me = agent_player(net, cfg.simulations, cfg.c_puct, device)
    results = {name: play_match(cfg.board, me, anchor_player(cfg.board, name), cfg.eval_games, rng)
               for name in cfg.anchors}
    elo, se = fit_elo(ratings, results, cfg.elo_prior_draws)
    return elo, se, results


class Replay:
    """Ring buffer of (observation, legal mask, visit distribution, outcome)."""

    def __init__(self, capacity: int, obs_dim: int, cols: int):
        self.obs = np.zeros((capacity, obs_dim), dtype=np.float32)
        self.legal = np.zeros((capacity, cols), dtype=bool)
        self.pi = np.zeros((capacity, cols), dtype=np.float32)
        self.z = np.zeros(capacity, dtype=np.float32)
        self.capacity, self.size, self.head = capacity, 0, 0

    def add(self, obs: np.ndarray, legal: np.ndarray, pi: np.ndarray, z: np.ndarray) -> None:
        k = min(len(obs), self.capacity)  # a batch larger than the buffer keeps its last positions
        i = (self.head + np.arange(k)) % self.capacity
        self.obs[i], self.legal[i], self.pi[i], self.z[i] = obs[-k:], legal[-k:], pi[-k:], z[-k:]
        self.head = int((self.head + k) % self.capacity)
        self.size = min(self.size + k, self.capacity)

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
        i = rng.integers(self.size, size=n)
        return self.obs[i], self.legal[i], self.pi[i], self.z[i]


def mirror_positions(spec: Board, obs: np.ndarray, legal: np.ndarray, pi: np.ndarray) -> tuple[np.ndarray, ...]:
    """The left-right mirror images of observations, legal masks and visit distributions."""
    planes = obs.reshape(len(obs), 2, spec.rows, spec.cols)[..., ::-1]
    return planes.reshape(len(obs), -1).copy(), legal[:, ::-1].copy(), pi[:, ::-1].copy()


def self_play(net: PolicyValueNet, cfg: Config, rng: np.random.Generator, device: torch.device,
              counter: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """One batch of self-play games: (observations, legal masks, visit distributions, outcomes for the player
    to move, moves played)."""
    spec, n = cfg.board, cfg.games_per_iteration
    g = Games(spec, n)
    evaluate = net_evaluator(net, device, counter)
    obs, legal, pis, players, game_of = [], [], [], [], []
    moves = 0
    while not g.done.all():
        idx = np.flatnonzero(~g.done)
        sub = g.take(idx)
        visits, _ = search(sub, evaluate, cfg.simulations, cfg.c_puct, rng,
                           noise=(cfg.dirichlet_alpha, cfg.noise_fraction))
        pi = visits / visits.sum(1, keepdims=True)
        cum = np.cumsum(pi, 1)
        sampled = (cum > rng.random((len(idx), 1)) * cum[:, -1:]).argmax(1)
        greedy = argmax_random_ties(visits, rng)
        act = np.where(sub.moves < cfg.temperature_moves, sampled, greedy)
        obs.append(sub.observation()), legal.append(sub.legal()), pis.append(pi.astype(np.float32))
        players.append(sub.player.copy()), game_of.append(idx)
        g.play(act, idx)
        moves += len(idx)
    players_all, games_all = np.concatenate(players), np.concatenate(game_of)
    z = (g.winner[games_all] * players_all).astype(np.float32)
    return np.concatenate(obs), np.concatenate(legal), np.concatenate(pis), z, moves


def az_loss(net: PolicyValueNet, batch: tuple[np.ndarray, ...], cfg: Config, device: torch.device) -> Tensor:
    """Cross-entropy from the masked policy to the visit distribution + value_weight x squared value error."""
    obs, legal, pi, z = (torch.as_tensor(x, device=device) for x in batch)
    logits, value = net(obs)
    logp = masked_logits(logits, legal).log_softmax(-1)
    policy_loss = -(pi * logp).sum(-1).mean()
    return policy_loss + cfg.value_weight * F.mse_loss(value, z)


def make_net(cfg: Config, seed: int, device: torch.device) -> PolicyValueNet:
    """The network with PyTorch's default initialization drawn from the run's "init" stream."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(seed, "init"))
        net = PolicyValueNet(cfg.board, cfg.width)
    return net.to(device)


RESUMABLE = ("net", "opt", "play_rng", "replay_rng", "buffer", "counter", "elo0", "se0", "res0", "curve_steps",
             "curve_elo", "curve_se", "curve_flops", "games", "env_steps", "updates", "losses", "diverged_step", "last")
"""What a checkpoint of a member holds besides its iteration and elapsed time: every object with training state."""


def train_member(cfg: Config, seed: int, device: torch.device, resume: dict | None = None,
                 save: Callable[[int, dict], None] | None = None) -> tuple[MemberResult, PolicyValueNet]:
    """One seed's run (``train`` loops over seeds). ``resume``: a state that ``save(iteration, state)`` was
    given, to continue after that iteration (harness/checkpoint.py)."""
    start = time.perf_counter()
    spec = cfg.board
    ratings = ladder(cfg)

    def evaluate_now(k: int) -> tuple[float, float, dict[str, tuple[int, int, int]]]:
        return evaluate_agent(net, cfg, ratings, np.random.default_rng(derive_seed(seed, f"eval/{k}")), device)

    def flops_now() -> float:
        return training_flops(net.macs(), trained=cfg.batch_size * updates, acted=counter[0])

    if resume is None:
        net = make_net(cfg, seed, device)
        opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        play_rng = np.random.default_rng(derive_seed(seed, "selfplay"))
        replay_rng = np.random.default_rng(derive_seed(seed, "replay"))
        buffer = Replay(cfg.buffer_size, 2 * spec.cells, spec.cols)
        counter = [0]  # positions the self-play searches evaluated
        elo0, se0, res0 = evaluate_now(0)
        curve_steps, curve_elo, curve_se, curve_flops = [0], [elo0], [se0], [0.0]
        games = env_steps = updates = 0
        losses: list[float] = []
        diverged_step = None
        last = (elo0, se0, res0)
        first = 1
    else:
        (net, opt, play_rng, replay_rng, buffer, counter, elo0, se0, res0, curve_steps, curve_elo, curve_se,
         curve_flops, games, env_steps, updates, losses, diverged_step, last) = (resume[k] for k in RESUMABLE)
        start, first = time.perf_counter() - resume["elapsed"], resume["iteration"] + 1
    for it in range(first, cfg.iterations + 1):
        obs, legal, pi, z, moves = self_play(net, cfg, play_rng, device, counter)
        buffer.add(obs, legal, pi, z)
        if cfg.mirror:
            buffer.add(*mirror_positions(spec, obs, legal, pi), z)
        games += cfg.games_per_iteration
        env_steps += moves
        for _ in range(cfg.updates_per_iteration):
            loss = az_loss(net, buffer.sample(cfg.batch_size, replay_rng), cfg, device)
            if cfg._inject_nan_at is not None and updates + 1 == cfg._inject_nan_at:
                loss = loss * math.nan
            if not torch.isfinite(loss):
                diverged_step = games
                break
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            updates += 1
            losses.append(float(loss.detach()))
        if diverged_step is not None:
            break
        if cfg.evaluates(it):
            last = evaluate_now(it)
            curve_steps.append(games)
            curve_elo.append(last[0])
            curve_se.append(last[1])
            curve_flops.append(flops_now())
        report_progress(it, cfg.iterations, curve_elo[-1])
        if save is not None and it < cfg.iterations:
            here = locals()
            save(it, {"iteration": it, "elapsed": time.perf_counter() - start, **{k: here[k] for k in RESUMABLE}})

    if diverged_step is not None:  # the evaluations it never reached
        for it in range(1, cfg.iterations + 1):
            if cfg.evaluates(it) and it * cfg.games_per_iteration > curve_steps[-1]:
                curve_steps.append(it * cfg.games_per_iteration)
                curve_elo.append(math.nan)
                curve_se.append(math.nan)
                curve_flops.append(math.nan)
        elo, se, results = math.nan, math.nan, {}
    else:
        elo, se, results = last
    macs = net.macs()

    def scores(res: dict[str, tuple[int, int, int]]) -> dict[str, float]:
        return {f"score_vs_{k}": (w + 0.5 * d) / (w + d + l) for k, (w, d, l) in res.items()}
    member = MemberResult(
        seed=seed, metrics={ELO: elo, ELO_SE: se, **scores(results)}, curve_steps=curve_steps,
        curve_returns=curve_elo, initial={ELO: elo0, ELO_SE: se0, **scores(res0)},
        diverged=diverged_step is not None, diverged_step=diverged_step, env_steps=env_steps, updates=updates,
        params={"net": net.params(), "total": net.params()},
        flops=flops_now(),
        wall_time=time.perf_counter() - start,
        extra={"macs": macs, "games": games, "curve_elo_se": curve_se, "curve_flops": curve_flops, "anchor_ratings": ratings,
               "results": {k: list(v) for k, v in results.items()},
               "mean_loss": float(np.mean(losses)) if losses and diverged_step is None else math.nan})
    return member, net


@trainer
def train(cfg: Config, seeds: Sequence[int], device: str = "cpu") -> RunResult:
    """Train one AlphaZero agent per seed (one after another) and rate each on the anchor ladder. Resumable:
    a checkpoint holds the finished members and the running member's state (harness/checkpoint.py)."""
    dev = torch.device(device)
    ckpt = checkpoint.current()
    state = ckpt.load()
    members: list[MemberResult] = [] if state is None else list(state["members"])
    resumed = len(members)  # the member the checkpoint was saved in

    for i in range(resumed, len(seeds)):
        def save(it: int, member_state: dict, i: int = i) -> None:
            if ckpt.due():
                ckpt.save({"step": i * cfg.iterations + it, "members": members, **member_state})
        resume = state if state is not None and i == resumed else None
        members.append(train_member(cfg, int(seeds[i]), dev, resume=resume, save=save)[0])
    return RunResult(members=members, config=asdict(cfg), device=str(dev))
