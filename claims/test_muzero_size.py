"""MuZero Reanalyse gets worse on some tasks as its networks grow.

Source: the claim is the seed's sentence "Increasing model size in RL can even hurt performance. MuZero
Reanalyze gets worse on some tasks as you scale network size."; its primary figure has not been located. The
nearest candidate is Anand, Walker, Li, Vertes, Schrittwieser, Ozair, Weber, Hamrick 2021, "Procedural
Generalization by Planning with Self-Supervised World Models", arXiv:2111.01587 (ICLR 2022), whose abstract
describes "modifications and ablations to MuZero Reanalyse" on Procgen and Meta-World; a network-size result
was not found in the text read here. Reanalyse: Schrittwieser et al. 2021, arXiv:2104.06294.
Source status: UNVERIFIED (neither the sentence's source nor a network-size figure of MuZero Reanalyse was read).
Departures: harness/agents/muzero.py (MLPs instead of residual nets, 16 simulations, Adam, uniform replay; its
docstring lists them) with Reanalyse on a quarter of every batch (``reanalyse=0.25``) and every other setting
the agent's default at every width; widths 16, 64, 128 at quick (3.4k, 35k, 127k parameters on CartPole-v1,
37x; full adds 32 and 256, 484k, 141x); one task, CartPole-v1 (time limit 500), judged per task so that tasks
can be added (the pilot ruled out the four others tried); 12,800 env steps and 3 seeds at quick (153,600 and
5 at full), greedy evaluation of 10 episodes every 2,560 steps at quick (15,360 at full).
Pilot: width 16 only, seeds 0-2, 10 evaluation episodes (``muzero.Config(env_id=..., width=16,
reanalyse=0.25, steps=..., eval_every=...)``). CartPole-v1 at 12,800 steps, evaluated every 2,560: from an
untrained 21.2, 24.0, 22.7 to 9.1/36.1/9.8 at 2,560, 66/267/259 at 5,120, 269/336/122 at 7,680, 397/480/118
at 10,240 and 176/500/116 at 12,800 (final_return, the mean of the last two evaluations, 286.8, 489.8,
116.8; auc_return 183.5, 323.7, 124.9; about 3 minutes a seed, two side by side): it learns clearly and on
average stays below the ceiling. At 25,600 steps (every 5,120): 253.5, 500.0, 111.8. Ruled out, each flat at
its untrained score: Acrobot-v1 (-500 at every evaluation of seeds 0-2 over 25,600 steps, about 11 minutes a
seed), MinAtar/Breakout-v1 (51,200 steps: 0.8 -> 1.8 and 0.6 -> 0.3), MinAtar/SpaceInvaders-v1 (3.1 -> 2.9)
and MinAtar/Asterix-v1 (0.4 -> 0.3) at 25,600 steps (seed 0, time limit 2000). Without Reanalyse, CartPole-v1
at 25,600 steps gave 235.0, 236.8, 382.5 (mean 285, against 288 with it): the pilot shows no clear effect of
Reanalyse at this budget, so a with-and-without contrast (``muzero_reanalyse_size``) is not added. A first
quick design at 25,600 steps was stopped before any unit finished: its width-128 units ran at about 12 env
steps/s, past an hour for the claim; of it only the progress lines were seen (training returns of 18-23
at width 128 over its first 7,800 steps).
Gates: the default learning gate (0.1 of the way from each run's untrained return to the ceiling) and the
headroom gate of a claimed loss (the smallest width must have risen 0.1 of the way above its baseline, or it
has nothing to lose), with CartPole-v1's ceiling 500, its maximum return. Paper effect unknown (no figure).
"""
import pytest

from harness.agents import muzero as mz


@pytest.mark.claim(axis="width", metrics={"final_return": "decreasing", "auc_return": "decreasing"},
                   blocks="seed", per_block="task", ceiling={"CartPole-v1": 500.0},
                   paper_effect="unknown")
@pytest.mark.parametrize("task", ["CartPole-v1"])
@pytest.mark.parametrize("width", [16, 32, 64, 128, 256])
def test_muzero_size(width, task, seeds, settings, device, record):
    cfg = mz.Config(env_id=task, width=width, reanalyse=0.25, **settings)
    record(mz.train(cfg, seeds, device))
