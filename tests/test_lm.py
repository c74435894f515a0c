"""harness.lm: tiny causal LMs on the synthetic language, pretrained and cached (deterministic, no pickle)."""
import copy
import json

import numpy as np
import pytest
import torch

from harness import lm
from harness.tasks import language

TINY = lm.Config(size="XS", steps=60, batch=32, documents=3000, val_documents=300)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("lm")
    torch.set_num_threads(1)
    return root, lm.pretrained(TINY, root)


def test_presets_span_more_than_30x_in_parameters():
    counts = [lm.parameters(s) for s in lm.PRESETS]
    assert counts == sorted(counts) and counts[2] / counts[0] > 30 and counts[-1] / counts[0] > 150


def test_pretraining_learns_the_language_and_is_cached_and_deterministic(built, tmp_path):
    root, (model, card) = built
    first, last = card["curve"][0]["val_loss"], card["val_loss"]
    assert last < first and last < np.log(len(language.VOCAB))  # below a uniform guess over the vocabulary
    assert card["val_loss"] > card["language_entropy"] > 0  # no model beats the language's own entropy
    again_model, again = lm.pretrained(TINY, root)  # reused, not rebuilt
    assert again["build_seconds"] == card["build_seconds"] and len(list(root.iterdir())) == 2  # dir and lock
    fresh_model, fresh = lm.pretrained(TINY, tmp_path)  # built again elsewhere: the same weights
    for a, b in zip(model.state_dict().values(), fresh_model.state_dict().values()):
        assert torch.equal(a, b)
    assert (root / TINY.key / "card.md").read_text().startswith(f"# Pretrained LM `{TINY.key}`")


def test_log_probs_mask_padding_and_samples_end_at_eos(built):
    _, (model, _) = built
    docs = torch.as_tensor(language.sample_corpus(np.random.default_rng(0), 4))
    logp = lm.token_log_probs(model, docs)
    assert logp.shape == (4, language.MAX_LENGTH - 1) and torch.all(logp[docs[:, 1:] == language.PAD] == 0)
    s = lm.sample(model, 16, torch.Generator().manual_seed(0))
    assert torch.all(s[:, 0] == language.BOS)
    for row in s.tolist():
        if language.EOS in row:
            assert all(t == language.PAD for t in row[row.index(language.EOS) + 1:])


def test_a_damaged_model_is_a_clear_error_and_bad_configs_are_refused(built, tmp_path):
    root, _ = built
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "card.json").write_text(json.dumps({"config": {"size": "XS"}}))
    (bad / "model.pt").write_bytes(b"not a model")
    with pytest.raises(ValueError, match="delete that directory"):
        lm.load(bad)
    with pytest.raises(ValueError, match="unknown LM size"):
        lm.Config(size="XXL")
    with pytest.raises(ValueError, match="steps must be >= 1"):
        lm.Config(steps=0)


def test_decoding_with_the_cache_gives_the_logits_of_the_whole_prefix(built):
    _, (model, _) = built
    docs = torch.as_tensor(language.sample_corpus(np.random.default_rng(1), 3))[:, :10]
    caches = model.new_caches()
    with torch.no_grad():
        full = model(docs)
        stepwise = torch.cat([model.logits(model.hidden(docs[:, t:t + 1], caches, at=t)) for t in range(10)], 1)
    assert torch.allclose(full, stepwise, atol=1e-5)


def test_padding_and_bos_are_never_sampled_or_scored_inside_a_document(built):
    """RL moved a policy onto <pad> and <bos> (masked out of every loss, so never pushed back): their logits are
    -inf, so even a model that favours them does not write them."""
    _, (model, _) = built
    tilted = copy.deepcopy(model)
    docs = lm.sample(model, 200, torch.Generator().manual_seed(0))
    with torch.no_grad():
        direction = model.hidden(docs).mean((0, 1))
        for t in lm.NEVER_NEXT:
            tilted.tok.weight[t] = 50 * direction / direction.norm()
        raw = tilted.hidden(docs) @ tilted.tok.weight.T
    assert (raw.argmax(-1) == language.PAD).float().mean() > 0.5  # unmasked, the tilted model would write <pad>
    docs = lm.sample(tilted, 200, torch.Generator().manual_seed(0))
    body = (docs == language.EOS).cumsum(1) == 0
    body[:, 0] = False
    assert not (body & ((docs == language.PAD) | (docs == language.BOS))).any()
    assert torch.isinf(tilted(docs)[..., list(lm.NEVER_NEXT)]).all()
