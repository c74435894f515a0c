"""A synthetic language for RLHF in miniature, its sampler, its parser and a programmatic gold reward.

No pretrained language model can be downloaded here, so the RLHF claims train their own on this language
(as Gao et al. 2022, arXiv:2210.10760, stand a large "gold" reward model in for human judgement, a program
stands in for it here). The language has the structure that lets a bigger model model it better:

- **Documents** are ``<bos>``, 2 to 4 sentences, ``<eos>``. Each document has one **topic** (farm, sea, city,
  forest), drawn uniformly; 90% of its nouns and verbs come from that topic, so the topic must be inferred
  from the words so far and carried across sentences (a long-range dependency).
- A **sentence** is ``SUBJECT VERB [OBJECT] [ADVERB] .``: a noun phrase is ``DET ADJ* NOUN``; after the
  first sentence the subject is a pronoun (35%) that refers to the previous sentence's subject.
- **Agreement**: the determiner agrees with its noun's number ("a"/"every": singular, "some"/"many":
  plural, "the": either), the verb with its subject's number ("cow grows", "cows grow"), and the pronoun
  with its antecedent's ("it" / "they"), which may lie a whole sentence back, past the object.
- **Adjectives**: a noun phrase has 0, 1 or 2 of them (50%, 30%, 20%), distinct, each neutral (80%),
  positive (10%) or negative (10%).

**Gold reward** (``gold_reward``): the sentiment of the text, positive minus negative adjectives, minus 2 per
grammar violation (a sentence that does not parse, a determiner, verb or pronoun that does not agree, an
adjective repeated within its noun phrase) and minus 2 for a text that does not end with ``<eos>``. It
conflicts with fluency: a text earns more by stacking positive adjectives, which the language makes
improbable (at most 2 per phrase, 10% each), and there are only four distinct positive adjectives, so
pushing further means repeats or broken phrases, which cost. A proxy reward model that has learnt "positive
words are good" from ordinary samples has no data on such texts: optimizing it too hard lowers the gold
reward, the overoptimization Gao et al. measure.

Tokens are ints (``VOCAB[i]`` is token i's word); ``PAD`` = 0. Everything here is numpy and deterministic for
a given generator.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

TOPICS = {
    "farm": (["cow", "hen", "pig", "goat", "barn", "field"], ["grow", "feed", "sleep", "move"]),
    "sea": (["fish", "boat", "wave", "crab", "shell", "reef"], ["swim", "sail", "sink", "shine"]),
    "city": (["car", "shop", "road", "bus", "park", "tower"], ["drive", "open", "wait", "stop"]),
    "forest": (["tree", "fox", "owl", "deer", "path", "leaf"], ["hide", "climb", "fall", "sing"]),
}
BY_TOPIC = list(TOPICS.values())
"""(nouns, verbs) by topic index."""
SINGULAR_DETS, PLURAL_DETS, ANY_DETS = ("a", "every"), ("some", "many"), ("the",)
NEUTRAL = ("big", "small", "old", "young", "red", "green", "quiet", "round")
POSITIVE = ("good", "great", "nice", "fine")
NEGATIVE = ("bad", "poor", "dull", "grim")
ADVERBS = ("often", "rarely", "here", "now")
PRONOUNS = {"it": False, "they": True}  # pronoun -> plural

SPECIAL = ("<pad>", "<bos>", "<eos>", ".")
PAD, BOS, EOS, STOP = 0, 1, 2, 3


def _vocab() -> list[str]:
    words = list(SPECIAL) + list(SINGULAR_DETS + PLURAL_DETS + ANY_DETS) + list(PRONOUNS)
    for nouns, verbs in TOPICS.values():
        words += nouns + [n + "s" for n in nouns]  # singular, plural
        words += [v + "s" for v in verbs] + verbs  # singular ("grows"), plural ("grow")
    return words + list(NEUTRAL + POSITIVE + NEGATIVE + ADVERBS)


VOCAB = _vocab()
ID = {w: i for i, w in enumerate(VOCAB)}
assert len(ID) == len(VOCAB), "every word of the language is one token"
MAX_LENGTH = 48
"""Tokens of the longest document the sampler can write (<bos> ... <eos>), rounded up: the LMs' context."""

# word classes by token id: noun/verb -> (topic index, plural)
NOUN: dict[int, tuple[int, bool]] = {}
VERB: dict[int, tuple[int, bool]] = {}
for _t, (_nouns, _verbs) in enumerate(BY_TOPIC):
    for _n in _nouns:
        NOUN[ID[_n]], NOUN[ID[_n + "s"]] = (_t, False), (_t, True)
    for _v in _verbs:
        VERB[ID[_v + "s"]], VERB[ID[_v]] = (_t, False), (_t, True)
DETS = {ID[d]: plural for ds, plural in ((SINGULAR_DETS, False), (PLURAL_DETS, True), (ANY_DETS, None)) for d in ds}
ADJECTIVES = {ID[a]: s for group, s in ((NEUTRAL, 0), (POSITIVE, 1), (NEGATIVE, -1)) for a in group}
ADVERB_IDS = {ID[a] for a in ADVERBS}
PRONOUN_IDS = {ID[p]: plural for p, plural in PRONOUNS.items()}


# --- sampling ---------------------------------------------------------------------------------------------

def _noun_phrase(rng: np.random.Generator, topic: int, plural: bool) -> list[int]:
    dets = (PLURAL_DETS if plural else SINGULAR_DETS) + ANY_DETS
    out = [ID[dets[rng.integers(len(dets))]]]
    k = int(rng.choice(3, p=[0.5, 0.3, 0.2]))
    adjectives: list[int] = []
    while len(adjectives) < k:
        group = (NEUTRAL, POSITIVE, NEGATIVE)[int(rng.choice(3, p=[0.8, 0.1, 0.1]))]
        a = ID[group[rng.integers(len(group))]]
        if a not in adjectives:
            adjectives.append(a)
    nouns = BY_TOPIC[_word_topic(rng, topic)][0]
    return out + adjectives + [ID[nouns[rng.integers(len(nouns))] + ("s" if plural else "")]]


def _word_topic(rng: np.random.Generator, topic: int) -> int:
    """The document's topic (90%) or another one."""
    if rng.random() < 0.9:
        return topic
    others = [t for t in range(len(TOPICS)) if t != topic]
    return others[rng.integers(len(others))]


def sample_document(rng: np.random.Generator) -> list[int]:
    """One document of the language: [BOS, ..., EOS]."""
    topic = int(rng.integers(len(TOPICS)))
    doc = [BOS]
    previous_plural: bool | None = None
    for s in range(int(rng.integers(2, 5))):
        if s > 0 and rng.random() < 0.35:
            plural = previous_plural
            doc.append(ID["they" if plural else "it"])
        else:
            plural = bool(rng.random() < 0.5)
            doc += _noun_phrase(rng, topic, plural)
        verbs = BY_TOPIC[_word_topic(rng, topic)][1]
        v = verbs[rng.integers(len(verbs))]
        doc.append(ID[v if plural else v + "s"])
        if rng.random() < 0.5:
            doc += _noun_phrase(rng, topic, bool(rng.random() < 0.5))
        if rng.random() < 0.3:
            doc.append(ID[ADVERBS[rng.integers(len(ADVERBS))]])
        doc.append(STOP)
        previous_plural = plural
    doc.append(EOS)
    return doc


def sample_corpus(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, MAX_LENGTH) int64 documents, padded with PAD."""
    return pad([sample_document(rng) for _ in range(n)])


def pad(docs: Iterable[Sequence[int]], length: int = MAX_LENGTH) -> np.ndarray:
    docs = list(docs)
    out = np.full((len(docs), length), PAD, dtype=np.int64)
    for i, d in enumerate(docs):
        d = list(d)[:length]
        out[i, :len(d)] = d
    return out


def decode(tokens: Sequence[int]) -> str:
    return " ".join(VOCAB[int(t)] for t in tokens if int(t) != PAD)


def encode(text: str) -> list[int]:
    """Tokens of a space-separated text (a clear error for a word outside the language)."""
    unknown = [w for w in text.split() if w not in ID]
    if unknown:
        raise ValueError(f"{unknown} are not words of the language (harness.tasks.language.VOCAB)")
    return [ID[w] for w in text.split()]


# --- the sampler's exact probability ---------------------------------------------------------------------------

_ADJ_GROUP_P = {0: 0.8 / len(NEUTRAL), 1: 0.1 / len(POSITIVE), -1: 0.1 / len(NEGATIVE)}
_K_P = (0.5, 0.3, 0.2)


def log_prob(tokens: Sequence[int]) -> float:
    """The log probability (nats) that ``sample_document`` writes exactly this document ([BOS, ..., EOS],
    padding after it ignored), the topic marginalized; -inf for a text it cannot write. Its mean over
    documents, per token after <bos>, is the entropy of the language: no model's loss can go below it."""
    s = [int(t) for t in tokens if int(t) != PAD]
    if len(s) < 2 or s[0] != BOS or s[-1] != EOS:
        return -math.inf
    sentences, cur = [], []
    for t in s[1:-1]:
        if t == STOP:
            sentences.append(cur)
            cur = []
        else:
            cur.append(t)
    if cur or not 2 <= len(sentences) <= 4:
        return -math.inf
    logp = math.log(1 / 3)  # the number of sentences
    topics = np.zeros(len(TOPICS))  # log p(content words | topic), per topic
    previous: bool | None = None

    def content(topic: int, n_words: int) -> None:
        nonlocal topics
        topics = topics + np.log(np.where(np.arange(len(TOPICS)) == topic, 0.9, 0.1 / (len(TOPICS) - 1)) / n_words)

    def phrase(words: list[int], i: int) -> tuple[int, bool] | None:
        nonlocal logp
        if i >= len(words) or words[i] not in DETS:
            return None
        j, seen = i + 1, []
        while j < len(words) and words[j] in ADJECTIVES:
            seen.append(words[j])
            j += 1
        if j >= len(words) or words[j] not in NOUN or len(seen) > 2 or len(set(seen)) < len(seen):
            return None
        topic, plural = NOUN[words[j]]
        if DETS[words[i]] not in (None, plural):
            return None
        logp += math.log(0.5) + math.log(1 / 3) + math.log(_K_P[len(seen)])  # number, determiner, adjective count
        used = 0.0
        for a in seen:  # drawn without repeats: each draw renormalized over the adjectives not yet drawn
            q = _ADJ_GROUP_P[ADJECTIVES[a]]
            logp += math.log(q / (1 - used))
            used += q
        content(topic, len(BY_TOPIC[topic][0]))
        return j + 1, plural

    for k, words in enumerate(sentences):
        if words and words[0] in PRONOUN_IDS:
            if k == 0 or PRONOUN_IDS[words[0]] != previous:
                return -math.inf
            logp += math.log(0.35)
            i, plural = 1, previous
        else:
            np_ = phrase(words, 0)
            if np_ is None:
                return -math.inf
            logp += math.log(0.65) if k > 0 else 0.0
            i, plural = np_
        if i >= len(words) or words[i] not in VERB or VERB[words[i]][1] != plural:
            return -math.inf
        content(VERB[words[i]][0], len(BY_TOPIC[VERB[words[i]][0]][1]))
        obj = phrase(words, i + 1)
        i = i + 1 if obj is None else obj[0]
        logp += math.log(0.5)  # object or not
        if i < len(words) and words[i] in ADVERB_IDS:
            logp += math.log(0.3 / len(ADVERBS))
            i += 1
        else:
            logp += math.log(0.7)
        if i != len(words):
            return -math.inf
        previous = plural
    m = topics.max()
    return float(logp + m + math.log(np.exp(topics - m).mean()))  # the topic: uniform


# --- parsing and the gold reward ----------------------------------------------------------------------------

@dataclass
class Parse:
    """What the parser found in one text."""

    sentences: int = 0
    positive: int = 0
    negative: int = 0
    unparsed: int = 0
    """Sentences that are not SUBJECT VERB [OBJECT] [ADVERB] (a stray or missing word, a pronoun first)."""
    disagreements: int = 0
    """Determiners, verbs or pronouns whose number does not agree."""
    repeats: int = 0
    """Adjectives repeated within one noun phrase."""
    finished: bool = False
    """The text ends with <eos> (after at least one sentence, nothing but padding after it)."""

    @property
    def violations(self) -> int:
        return self.unparsed + self.disagreements + self.repeats


def _phrase(s: list[int], i: int, p: Parse) -> tuple[int, bool] | None:
    """Parse DET ADJ* NOUN at s[i]: (index after it, plural), or None."""
    if i >= len(s) or s[i] not in DETS:
        return None
    det = DETS[s[i]]
    j, seen = i + 1, []
    while j < len(s) and s[j] in ADJECTIVES:
        if s[j] in seen:
            p.repeats += 1
        seen.append(s[j])
        j += 1
    if j >= len(s) or s[j] not in NOUN:
        return None
    plural = NOUN[s[j]][1]
    if det is not None and det != plural:
        p.disagreements += 1
    for a in seen:
        p.positive += ADJECTIVES[a] == 1
        p.negative += ADJECTIVES[a] == -1
    return j + 1, plural


def _sentence(s: list[int], previous: bool | None, p: Parse) -> bool | None:
    """Parse one sentence (its tokens without the stop); counts go to ``p``; returns its subject's number, or
    None when it does not parse."""
    if s and s[0] in PRONOUN_IDS:
        if previous is None:
            return None
        plural, i = PRONOUN_IDS[s[0]], 1
        if plural != previous:
            p.disagreements += 1
    else:
        np_ = _phrase(s, 0, p)
        if np_ is None:
            return None
        i, plural = np_
    if i >= len(s) or s[i] not in VERB:
        return None
    if VERB[s[i]][1] != plural:
        p.disagreements += 1
    i += 1
    obj = _phrase(s, i, p)
    if obj is not None:
        i = obj[0]
    if i < len(s) and s[i] in ADVERB_IDS:
        i += 1
    return plural if i == len(s) else None


def parse(tokens: Sequence[int]) -> Parse:
    """The parse of a text (tokens after an optional leading <bos>; padding after <eos> ignored)."""
    s = [int(t) for t in tokens]
    if s and s[0] == BOS:
        s = s[1:]
    p = Parse()
    end = s.index(EOS) if EOS in s else None
    body, rest = (s, []) if end is None else (s[:end], s[end + 1:])
    p.finished = end is not None and bool(body) and body[-1] == STOP and all(t == PAD for t in rest)
    body = [t for t in body if t != PAD]
    previous: bool | None = None
    start = 0
    for k, t in enumerate(body + [STOP]):  # a last sentence without its stop is parsed too, and counts as unparsed
        if t != STOP:
            continue
        sentence = body[start:k]
        start = k + 1
        if not sentence:
            if k < len(body):
                p.unparsed += 1  # an empty sentence (". .")
            continue
        p.sentences += 1
        number = _sentence(sentence, previous, p)
        if number is None or k == len(body):
            p.unparsed += 1
        previous = number
    return p


VIOLATION_COST, UNFINISHED_COST = 2.0, 2.0


def gold_reward(tokens: Sequence[int]) -> float:
    """Positive minus negative adjectives, minus 2 per grammar violation and 2 for an unfinished text."""
    return reward_of(parse(tokens))


def reward_of(p: Parse) -> float:
    """The gold reward of a parsed text."""
    return float(p.positive - p.negative - VIOLATION_COST * p.violations - UNFINISHED_COST * (not p.finished))
