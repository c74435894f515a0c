"""SimBa-SAC's gain from critic width exceeds plain-MLP SAC's (the architecture x width interaction).

Source: Lee et al. 2024, "SimBa", arXiv:2410.09754, Fig. 1 (MLP vs SimBa SAC as parameters grow); Nauman
et al. 2024, "BRO", arXiv:2405.16158, Fig. 1 (vanilla dense vs BroNet critics).
Source status: VERIFIED (the SimBa abstract for the SimBa arm; the BRO project page's Fig. 1 and text for vanilla
dense SAC not gaining from critic capacity).
Departures: as sac_width and simba_width (HalfCheetah-v5, critic widths 64..512, 5 seeds, batch 128, one
optimizer for both arms: Adam 3e-4 without weight decay; each arm keeps its own actor, SB3's 256x256 MLP or
SimBa's 1 block of 128). Both arms run here with the same seeds, so the test pairs them: the difference
of normalized auc_return (SimBa - MLP) in each (width, seed) cell is tested for an increasing trend in
width, within seeds (an exact test for "equal slopes" whatever the offset between arms; see
harness/trend.py assess_contrast). Quick runs 2k env steps like simba_width (see its docstring).
Pilot: none of its own: its smallest level is the smallest level of sac_width and simba_width.
Gates: the default learning gate (0.1 of the way from each run's baseline to the reference 5000), fixed
after the first quick results were known; no ceiling. Paper effect 0.10 per width doubling, inferred: the
SimBa slope of simba_width's docstring minus an MLP slope of about 0 (BRO Fig. 1's text; no MLP width-sweep
numbers are published in a table).
"""
import pytest

from harness.agents import sac

ACTOR = {"mlp": (256, 2), "simba": (128, 1)}  # (width, depth): SB3's actor and SimBa's actor


@pytest.mark.claim(
    axis="width",
    contrast="block",
    metrics={"auc_return": "increasing"},
    blocks="seed",
    random_score=-291.0,
    reference_score=5000.0,
    paper_effect=0.10,
)
@pytest.mark.parametrize("width", [64, 128, 256, 512])
@pytest.mark.parametrize("block", ["mlp", "simba"])
def test_simba_width_gap(block, width, seeds, settings, device, record):
    actor_width, actor_depth = ACTOR[block]
    cfg = sac.Config(env_id="HalfCheetah-v5", block=block, critic_width=width, critic_depth=2,
                     actor_width=actor_width, actor_depth=actor_depth, batch_size=128, steps=settings.steps,
                     learning_starts=settings.learning_starts, eval_every=settings.eval_every,
                     eval_episodes=settings.eval_episodes)
    record(sac.train(cfg, seeds=seeds, device=device))
