"""Connect Four rules: the project's numpy games (``alphazero.Games``, batched over N games at once) against the
rules of open_spiel, pettingzoo and pgx, side by side in one run, on one CPU thread.

    OMP_NUM_THREADS=1 python benchmarks/connect_four_rules.py            # ~1 s per measurement
    python benchmarks/connect_four_rules.py --seconds 3 --batches 1 64 256 1024

Every implementation plays whole games with uniformly random legal moves and restarts a game when it is over;
the rate is moves (stones dropped) per second. ``alphazero.Games`` runs N games at once (``legal``,
``random_moves``, ``play`` on all of them, then the finished ones restarted in place) on the standard 7 x 6
board and on the project's default 5 x 4 board. open_spiel (``pyspiel.load_game("connect_four")``:
``legal_actions``, ``apply_action``) and pettingzoo (``connect_four_v3`` through its AEC API: ``last``,
``step``) play one game at a time. pgx (JAX) is ``jax.vmap``-ped over N games and ``jax.jit``-ted, run either
one jitted step per Python call or ``--scan`` steps fused in one ``lax.scan``; its compile time is excluded
from the rate and printed apart. The script asks each library whether it can play a 5 x 4 board (open_spiel
takes ``rows`` / ``columns`` parameters; pettingzoo and pgx have a fixed 6 x 7 board), prints the mean game
length of each (all should agree, ~21 moves on 7 x 6 for random play) as a check that the rules are the same
game, and the ratio of each rate to the project's at the same board and N (and, for the one-game-at-a-time
libraries, to the project's largest batch). A library that is not installed is skipped with a note, so the
script runs with only the project's requirements. The process is pinned to one CPU (``--no-pin`` to leave
it) and JAX / BLAS are told to use one thread.
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import argparse  # noqa: E402
import importlib.metadata  # noqa: E402
import random  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from harness.agents import alphazero as az  # noqa: E402

BOARDS = {"7x6": (7, 6), "5x4": (5, 4)}  # cols x rows


@dataclass
class Rate:
    name: str
    board: str
    n: int
    moves: int
    games: int  # games finished
    seconds: float
    note: str = ""

    @property
    def per_second(self) -> float:
        return self.moves / self.seconds

    @property
    def length(self) -> float:
        return self.moves / self.games if self.games else float("nan")


def version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "?"


# --- the project's numpy games ------------------------------------------------------------------------

def restart(games: az.Games, idx: np.ndarray) -> None:
    """Reset the games ``idx`` to the empty board in place."""
    fresh = az.Games(games.spec, len(idx))
    for name in ("board", "heights", "player", "moves", "done", "winner"):
        getattr(games, name)[idx] = getattr(fresh, name)


def bench_project(board: str, n: int, seconds: float, seed: int) -> Rate:
    cols, rows = BOARDS[board]
    games = az.Games(az.Board(cols=cols, rows=rows), n)
    rng = np.random.default_rng(seed)
    for _ in range(20):  # warm-up (cached line tables, first allocations)
        games.play(az.random_moves(games, rng))
        if games.done.any():
            restart(games, np.flatnonzero(games.done))
    games = az.Games(games.spec, n)
    moves = finished = 0
    t0 = time.perf_counter()
    while True:
        for _ in range(50):
            games.play(az.random_moves(games, rng))  # every game is live here: n moves
            moves += n
            if games.done.any():
                over = np.flatnonzero(games.done)
                finished += len(over)
                restart(games, over)
        t = time.perf_counter() - t0
        if t >= seconds:
            return Rate("alphazero.Games (numpy)", board, n, moves, finished, t)


# --- open_spiel -----------------------------------------------------------------------------------------

def open_spiel_board_check() -> str:
    import pyspiel
    game = pyspiel.load_game("connect_four")
    params = game.get_parameters()
    try:
        small = pyspiel.load_game("connect_four", {"rows": 4, "columns": 5})
        state = small.new_initial_state()
        shape = small.observation_tensor_shape()
        ok = len(state.legal_actions()) == 5 and list(shape[1:]) == [4, 5]
        return (f"parameters {params}; load_game('connect_four', {{'rows': 4, 'columns': 5}}) -> "
                f"{small.num_distinct_actions()} actions, observation {shape}: 5 x 4 "
                f"{'supported' if ok else 'NOT as asked'}")
    except Exception as e:  # noqa: BLE001
        return f"parameters {params}; rows=4, columns=5 refused: {type(e).__name__}: {e}"


def bench_open_spiel(board: str, seconds: float, seed: int) -> Rate:
    import pyspiel
    cols, rows = BOARDS[board]
    game = pyspiel.load_game("connect_four", {"rows": rows, "columns": cols})
    rng = random.Random(seed)
    state = game.new_initial_state()
    moves = finished = 0
    t0 = time.perf_counter()
    while True:
        for _ in range(500):
            if state.is_terminal():
                finished += 1
                state = game.new_initial_state()
            state.apply_action(rng.choice(state.legal_actions()))
            moves += 1
        t = time.perf_counter() - t0
        if t >= seconds:
            return Rate("open_spiel", board, 1, moves, finished, t)


# --- pettingzoo -----------------------------------------------------------------------------------------

def bench_pettingzoo(seconds: float, seed: int) -> Rate:
    from pettingzoo.classic import connect_four_v3
    env = connect_four_v3.env()
    env.reset(seed=seed)
    rng = random.Random(seed)
    moves = finished = 0
    t0 = time.perf_counter()
    while True:
        for _ in range(200):
            obs, _, terminated, truncated, _ = env.last()
            if terminated or truncated:
                finished += 1
                env.reset()
                obs, _, _, _, _ = env.last()
            env.step(rng.choice(np.flatnonzero(obs["action_mask"]).tolist()))
            moves += 1
        t = time.perf_counter() - t0
        if t >= seconds:
            return Rate("pettingzoo connect_four_v3 (AEC)", "7x6", 1, moves, finished, t)


# --- pgx (JAX) ------------------------------------------------------------------------------------------

def bench_pgx(n: int, seconds: float, seed: int, scan: int) -> list[Rate]:
    import jax
    import jax.numpy as jnp
    import pgx

    env = pgx.make("connect_four")
    vinit = jax.vmap(env.init)
    vstep = jax.vmap(env.step)

    def step(carry, _):
        state, key, finished = carry
        key, k_act, k_new = jax.random.split(key, 3)
        logits = jnp.where(state.legal_action_mask, 0.0, -jnp.inf)
        action = jax.random.categorical(k_act, logits, axis=-1)
        state = vstep(state, action)
        done = state.terminated | state.truncated
        fresh = vinit(jax.random.split(k_new, n))
        state = jax.tree_util.tree_map(
            lambda f, s: jnp.where(done.reshape(done.shape + (1,) * (s.ndim - 1)), f, s), fresh, state)
        return (state, key, finished + done.sum()), None

    one = jax.jit(lambda c: step(c, None)[0])
    many = jax.jit(lambda c: jax.lax.scan(step, c, None, length=scan)[0])
    out = []
    for label, fn, per_call in (("1 step per call", one, 1), (f"lax.scan of {scan} steps", many, scan)):
        key = jax.random.PRNGKey(seed)
        carry = (vinit(jax.random.split(key, n)), key, jnp.zeros((), jnp.int32))
        t0 = time.perf_counter()
        carry = jax.block_until_ready(fn(carry))  # compile + first call
        compile_s = time.perf_counter() - t0
        carry = jax.block_until_ready(fn(carry))
        start_games = int(carry[2])
        calls = 0
        t0 = time.perf_counter()
        while True:
            for _ in range(max(1, 200 // per_call)):
                carry = fn(carry)
                calls += 1
            carry = jax.block_until_ready(carry)
            t = time.perf_counter() - t0
            if t >= seconds:
                break
        out.append(Rate(f"pgx connect_four (jit+vmap, {label})", "7x6", n, calls * per_call * n,
                        int(carry[2]) - start_games, t, f"compile {compile_s:.2f} s"))
    return out


# --- main -----------------------------------------------------------------------------------------------

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=1.0, help="time per measurement")
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 64, 256], help="N for alphazero.Games")
    ap.add_argument("--pgx-batches", type=int, nargs="+", default=[64, 256])
    ap.add_argument("--scan", type=int, default=64, help="steps fused in one lax.scan for pgx")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-pin", action="store_true", help="do not pin the process to one CPU")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if not args.no_pin and hasattr(os, "sched_setaffinity"):
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        print(f"pinned to CPU {cpu}; {args.seconds:g} s per measurement")

    rates: list[Rate] = []
    notes: list[str] = []
    five_by_four = {"alphazero.Games (numpy)": "yes (Board(cols, rows), 2..9 each)"}
    print(f"numpy {np.__version__}, torch {torch.__version__}, python {sys.version.split()[0]}")

    for board in BOARDS:
        for n in args.batches:
            rates.append(bench_project(board, n, args.seconds, args.seed))

    try:
        import pyspiel  # noqa: F401
    except ImportError as e:
        notes.append(f"open_spiel: skipped, not installed ({e})")
        five_by_four["open_spiel"] = "not checked (not installed)"
    else:
        check = open_spiel_board_check()
        notes.append(f"open_spiel {version('open_spiel')}: {check}")
        ok = "supported" in check and "NOT" not in check
        five_by_four["open_spiel"] = "yes (load_game('connect_four', {'rows': 4, 'columns': 5}))" if ok else "no"
        for board in BOARDS if ok else ("7x6",):
            rates.append(bench_open_spiel(board, args.seconds, args.seed))

    try:
        from pettingzoo.classic import connect_four_v3  # noqa: F401
    except ImportError as e:
        notes.append(f"pettingzoo: skipped, connect_four_v3 not importable ({type(e).__name__}: {e})")
        five_by_four["pettingzoo"] = "not checked (not installed)"
    else:
        import inspect
        sig = inspect.signature(connect_four_v3.raw_env.__init__)
        notes.append(f"pettingzoo {version('pettingzoo')}: connect_four_v3.raw_env{sig} takes no board size")
        five_by_four["pettingzoo"] = "no (fixed 6 x 7)"
        rates.append(bench_pettingzoo(args.seconds, args.seed))

    try:
        import jax
        import pgx
    except ImportError as e:
        notes.append(f"pgx: skipped, not installed ({e})")
        five_by_four["pgx"] = "not checked (not installed)"
    else:
        env = pgx.make("connect_four")
        notes.append(f"pgx {pgx.__version__} (jax {jax.__version__}, {jax.devices()[0].platform}): "
                     f"pgx.make('connect_four') takes no options, {env.num_actions} actions, observation "
                     f"{tuple(env.observation_shape)}")
        five_by_four["pgx"] = "no (fixed 6 x 7)"
        for n in args.pgx_batches:
            rates.extend(bench_pgx(n, args.seconds, args.seed, args.scan))

    project = {(r.board, r.n): r.per_second for r in rates if r.name.startswith("alphazero")}
    biggest = max(args.batches)
    print()
    print(f"{'implementation':50s} {'board':5s} {'N':>5s} {'moves/s':>12s} {'len':>5s} {'/ project':>10s} "
          f"{f'/ proj N={biggest}':>14s}  note")
    for r in rates:
        same = project.get((r.board, r.n))
        ratio = f"{r.per_second / same:9.2f}x" if same else f"{'-':>10s}"
        big = project.get((r.board, biggest))
        to_big = f"{r.per_second / big:13.3f}x" if big and r.n == 1 else f"{'':14s}"
        print(f"{r.name:50s} {r.board:5s} {r.n:5d} {r.per_second:12.0f} {r.length:5.1f} {ratio} {to_big}  "
              f"{r.note}")
    print()
    for note in notes:
        print(note)
    print()
    print("5 x 4 board:")
    for name, says in five_by_four.items():
        print(f"  {name:28s} {says}")


if __name__ == "__main__":
    main()
