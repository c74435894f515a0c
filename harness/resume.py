"""Seeds trained one after another, resumable: the checkpoint loop of agents that do not batch their seeds.

An agent whose seeds run in turn (``harness.agents.ada``, ``dreamer``, ``dt``) trains each with a ``train_one(seed,
resume, save)`` that calls ``save(step, state)`` after each of its ``steps_per_member`` steps (``state``: a
function that returns every object with training state, called only when a save is due) and, given the ``resume``
state that one of those calls saved, continues after its step. ``in_turn`` runs the seeds in order: when the
harness's checkpoint (harness/checkpoint.py) is due it saves the members already finished with the running member's
state; a unit resumed during one seed keeps the finished members, resumes that seed and trains the later ones from
scratch, so it returns the record of an uninterrupted run, bit for bit on CPU (tests/test_checkpoint.py).

``harness.agents.alphazero`` and ``muzero`` hold their own copies of this loop (moving them here re-keys their
records; it waits for their next rerun).
"""
from __future__ import annotations

from typing import Callable, Sequence, TypeVar

from harness import checkpoint

Member = TypeVar("Member")
Save = Callable[[int, Callable[[], dict]], None]


def in_turn(seeds: Sequence[int], steps_per_member: int,
            train_one: Callable[[int, dict | None, Save], Member]) -> list[Member]:
    """``train_one(seed, resume, save)`` for each seed in order, resuming the unit's checkpoint if it has one."""
    ckpt = checkpoint.current()
    state = ckpt.load()
    members: list[Member] = [] if state is None else list(state["members"])  # a copy: later seeds append
    resumed = len(members)  # the member the checkpoint was saved in
    for i in range(resumed, len(seeds)):
        def save(step: int, member_state: Callable[[], dict], i: int = i) -> None:
            if ckpt.due() and step < steps_per_member:
                ckpt.save({**member_state(), "step": i * steps_per_member + step, "member_step": step,
                           "members": members})
        members.append(train_one(int(seeds[i]), state if state is not None and i == resumed else None, save))
    return members
