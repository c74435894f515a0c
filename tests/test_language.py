"""harness.tasks.language: the synthetic language of the RLHF claims, its parser and its gold reward."""
import numpy as np
import pytest

from harness.tasks import language as L


@pytest.fixture(scope="module")
def corpus():
    rng = np.random.default_rng(0)
    return [L.sample_document(rng) for _ in range(3000)]


def test_every_sampled_document_parses_without_a_violation_and_fits_the_context(corpus):
    for doc in corpus:
        p = L.parse(doc)
        assert p.violations == 0 and p.finished and 2 <= p.sentences <= 4, L.decode(doc)
        assert doc[0] == L.BOS and doc[-1] == L.EOS and len(doc) <= L.MAX_LENGTH


def test_the_language_has_its_stated_structure(corpus):
    words = [L.VOCAB[t] for d in corpus for t in d]
    adjectives = [w for w in words if w in L.NEUTRAL + L.POSITIVE + L.NEGATIVE]
    assert 0.07 < np.mean([w in L.POSITIVE for w in adjectives]) < 0.13
    pronoun_share = np.mean([w in L.PRONOUNS for w in words]) * len(words) / sum(L.parse(d).sentences for d in corpus)
    assert 0.15 < pronoun_share < 0.3  # 35% of the sentences after the first
    # the topic: 90% of a document's nouns come from its most frequent topic
    majority = [max(np.bincount([L.NOUN[t][0] for t in d if t in L.NOUN], minlength=4)) /
                sum(t in L.NOUN for t in d) for d in corpus]
    assert np.mean(majority) > 0.85


def test_the_gold_reward_counts_sentiment_and_charges_each_violation():
    def gold(text):
        return L.gold_reward(L.encode(text))
    assert gold("<bos> the good cow grows . <eos>") == 1.0
    assert gold("<bos> the good great nice fine cow grows . <eos>") == 4.0
    assert gold("<bos> the bad cow grows . <eos>") == -1.0
    assert gold("<bos> the good good cow grows . <eos>") == 2 - 2  # a repeat within the phrase
    assert gold("<bos> a cows grow . <eos>") == -2  # determiner and noun disagree
    assert gold("<bos> the cows grows . <eos>") == -2  # verb and subject disagree
    assert gold("<bos> the cow grows . they sleep . <eos>") == -2  # the pronoun's antecedent is singular
    assert gold("<bos> the cow grows . it sleeps . <eos>") == 0
    assert gold("<bos> it sleeps . <eos>") == -2  # a pronoun with no antecedent does not parse
    assert gold("<bos> the cow . <eos>") == -2  # no verb
    assert gold("<bos> the cow grows . the good") == -2 - 2  # the last sentence is cut: unparsed and unfinished
    assert gold("<bos> the good cow grows .") == 1 - 2  # no <eos>
    padded = L.encode("<bos> the good cow grows . <eos>") + [L.PAD] * 5
    assert L.gold_reward(padded) == 1.0 and L.gold_reward(padded[1:]) == 1.0  # <bos> optional, padding ignored


def test_sampling_is_deterministic_and_encode_rejects_words_outside_the_language():
    a, b = L.sample_corpus(np.random.default_rng(3), 50), L.sample_corpus(np.random.default_rng(3), 50)
    assert a.shape == (50, L.MAX_LENGTH) and np.array_equal(a, b)
    assert L.decode(L.encode("<bos> the cow grows . <eos>")) == "<bos> the cow grows . <eos>"
    with pytest.raises(ValueError, match="not words of the language"):
        L.encode("the cat grows")


def test_log_prob_is_the_samplers_exact_probability():
    """Summed over every document of one shape, ``log_prob`` gives that shape's probability in closed form:
    2 sentences (1/3), the first `DET NOUN VERB .` (no adjective 0.5, no object 0.5, no adverb 0.7), the second
    `PRONOUN VERB .` (a pronoun 0.35, no object, no adverb). The topic, marginalized, must sum out exactly."""
    total = 0.0
    for det, det_plural in L.DETS.items():
        for noun, (_, plural) in L.NOUN.items():
            if det_plural not in (None, plural):
                continue
            verbs = [v for v, (_, p) in L.VERB.items() if p == plural]
            pronoun = L.ID["they" if plural else "it"]
            for v1 in verbs:
                for v2 in verbs:
                    total += np.exp(L.log_prob([L.BOS, det, noun, v1, L.STOP, pronoun, v2, L.STOP, L.EOS]))
    assert total == pytest.approx(1 / 3 * (0.5 * 0.5 * 0.7) * (0.35 * 0.5 * 0.7), rel=1e-9)
    assert L.log_prob(L.encode("<bos> a cows grow . the cow grows . <eos>")) == -np.inf  # not in the language
    assert L.log_prob(L.encode("<bos> the cow grows . <eos>")) == -np.inf  # one sentence: never sampled
