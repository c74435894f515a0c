"""harness.offline: the generated MinAtar datasets (deterministic, cached by hash, loaded without pickle)."""
import json

import numpy as np
import pytest

from harness import offline

# The smoke dataset of params.yaml (3 games, 500 transitions per game and quality): a few seconds to build.
SMOKE = offline.DataConfig(games=("Breakout", "SpaceInvaders", "Freeway"), transitions=500, expert_steps=2048,
                           medium_steps=1024, max_episode_steps=100)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """The smoke dataset, built once per module by the cached function the claims and DVC use."""
    return offline.dataset(SMOKE, root=tmp_path_factory.mktemp("data"))


def test_the_smoke_dataset_is_deterministic_for_its_seed(smoke, tmp_path):
    again = offline.dataset(SMOKE, root=tmp_path)
    assert again.path != smoke.path and again.card["content_hash"] == smoke.card["content_hash"]
    for g in SMOKE.games:
        for q in offline.QUALITIES:
            a, b = smoke.data[g][q], again.data[g][q]
            assert np.array_equal(a.obs, b.obs) and np.array_equal(a.action, b.action)
    other = offline.dataset(offline.DataConfig(**{**SMOKE.__dict__, "seed": 1}), root=tmp_path)
    assert other.card["content_hash"] != smoke.card["content_hash"]


def test_the_card_describes_the_data(smoke):
    card = smoke.card
    assert card["key"] == SMOKE.key == smoke.path.name
    assert card["transitions"] == sum(len(smoke.data[g][q].action) for g in SMOKE.games for q in offline.QUALITIES)
    for g in SMOKE.games:
        info = card["games"][g]
        for q in offline.QUALITIES:
            e, stats = smoke.data[g][q], info["qualities"][q]
            assert stats["transitions"] == len(e.action) >= SMOKE.transitions
            assert stats["episodes"] == e.episode_end.sum() and e.episode_end[-1]  # whole episodes only
            assert stats["return"]["mean"] == pytest.approx(e.returns.mean())
            assert e.obs.shape[1:] == (10, 10, info["channels"]) and e.obs.dtype == bool
            assert ((0 <= e.action) & (e.action < offline.ACTIONS)).all()
            lengths = np.diff(np.concatenate([[-1], np.flatnonzero(e.episode_end)]))
            assert lengths.max() <= SMOKE.max_episode_steps
        assert info["reference_score"] == max(v["return"]["mean"] for v in info["qualities"].values())
    assert "| Breakout | expert |" in (smoke.path / "card.md").read_text()


def test_a_built_dataset_is_reused_not_rebuilt(smoke, monkeypatch):
    monkeypatch.setattr(offline, "_build", lambda *a: pytest.fail("rebuilt a dataset that exists"))
    assert offline.dataset(SMOKE, root=smoke.path.parent).card == smoke.card


def test_the_smoke_dataset_here_is_the_one_the_claims_use_and_both_claims_share_their_data():
    from pathlib import Path

    from harness.budget import Params
    params = Params.load(Path(__file__).parents[1] / "params.yaml")
    for budget in ("smoke", "quick", "full"):
        mgdt, gato = (offline.DataConfig(**params.settings(c, budget).data) for c in ("mgdt_size", "gato_size"))
        assert mgdt == gato, budget
        if budget == "smoke":
            assert mgdt == SMOKE


def test_the_key_changes_with_the_config():
    assert offline.DataConfig(transitions=10).key != offline.DataConfig(transitions=11).key
    assert offline.DataConfig(games=["Breakout"]).key == offline.DataConfig(games=("Breakout",)).key


def test_returns_to_go_and_episode_starts():
    e = offline.Episodes(obs=np.zeros((5, 10, 10, 1), bool), action=np.zeros(5, np.int64),
                         reward=np.array([1, 0, 2, 1, 1], np.float32),
                         episode_end=np.array([False, False, True, False, True]))
    assert e.returns_to_go().tolist() == [3, 2, 2, 2, 1]
    assert e.starts.tolist() == [0, 0, 0, 3, 3]
    assert e.returns.tolist() == [3, 2]


def test_normalized_scores_put_random_at_0_and_the_best_behaviour_policy_at_1(smoke):
    for g in SMOKE.games:
        info = smoke.card["games"][g]
        assert smoke.normalize(g, info["random_score"]) == 0
        if info["reference_score"] - info["random_score"] >= 1:
            assert smoke.normalize(g, info["reference_score"]) == pytest.approx(1)


def test_a_damaged_dataset_is_a_clear_error(smoke, tmp_path):
    import shutil
    bad = tmp_path / "bad"
    shutil.copytree(smoke.path, bad)
    whole = (smoke.path / "data.npz").read_bytes()
    for damaged in (b"not a zip", whole[: len(whole) // 2]):  # garbage; a truncated copy
        (bad / "data.npz").write_bytes(damaged)
        with pytest.raises(ValueError, match="delete that directory"):
            offline.load(bad)
    card = json.loads((bad / "card.json").read_text())
    assert card["key"] == SMOKE.key


def test_data_edited_after_its_build_fails_its_cards_content_hash(smoke, tmp_path):
    import shutil
    bad = tmp_path / "edited"
    shutil.copytree(smoke.path, bad)
    with np.load(bad / "data.npz", allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    key = "Breakout/expert/reward"
    arrays[key] = arrays[key] + 1.0  # a valid archive of valid arrays, with every reward changed
    np.savez(bad / "data.npz", **arrays)
    with pytest.raises(ValueError, match=f"its card says {smoke.card['content_hash']}: the data was changed"):
        offline.load(bad)
    assert offline.content_hash(arrays) != smoke.card["content_hash"]


def test_unknown_games_and_bad_sizes_are_clear_errors():
    with pytest.raises(ValueError, match="Unknown gymnasium env id"):
        offline.DataConfig(games=("Breakot",))
    with pytest.raises(ValueError, match="transitions must be >= 1"):
        offline.DataConfig(transitions=0)
