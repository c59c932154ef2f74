"""Which source a sentence was written from: the one whose words it shares, before the one it resembles.

Company documents repeat themselves: two versions of a policy that differ in one figure, a Dutch and a
Belgian variant, an FAQ that restates the policy, neighbouring articles of one law. An embedding scores
all of them as close to a sentence, and the small model often cites the neighbour. What tells them apart
is the wording: a sentence copied or closely paraphrased from a source shares a run of words with it that
its neighbours lack (the changed figure, the article's own phrasing). So the citation goes to the source
sharing the longest word sequence with the sentence (normalised tokens; stop words do not count), and the
support score decides only among sources that share no such run. Where the model's own citation shares as
much as any, it stays: re-citation never moves a sentence to a source that shares less of its wording.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from retrieval.analysis import STOPWORDS, detect_language, stem, words
from serving.grounding.claims import split_sentences

# a run of at least this many content words shared with a source says the sentence was written from it
# (three: "of the" or a lone figure is shared by chance, a phrase of three content words rarely is)
MIN_SHARED_WORDS = 3


@dataclass(frozen=True)
class Overlap:
    """How much of a sentence's wording one source shares."""

    shared: int  # content words in the longest word sequence the sentence shares with the source
    containment: float  # share of the sentence's word pairs (bigrams) that occur in the source
    span: str  # the source sentence holding that sequence ("" when nothing is shared)
    claim_words: int = 0  # content words in the sentence

    @property
    def key(self) -> tuple[int, float]:
        return self.shared, round(self.containment, 6)

    def copied(self, min_shared: int = MIN_SHARED_WORDS) -> bool:
        """The sentence's content words are one run of the source's own: it is made of the source's words."""
        return self.shared >= min_shared and self.shared == self.claim_words


NONE = Overlap(0, 0.0, "")


@lru_cache(maxsize=8192)
def _tokens(text: str, language: str) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """Folded, stemmed tokens and their weights (0 for a stop word, 1 for any other word or figure)."""
    stop = STOPWORDS.get(language, frozenset())
    raw = words(text)
    return tuple(stem(t, language) for t in raw), tuple(0 if t in stop else 1 for t in raw)


@lru_cache(maxsize=2048)
def _sentences(source: str) -> tuple[str, ...]:
    return tuple(split_sentences(source)) or (source,)


def _longest_run(claim: Sequence[str], weights: Sequence[int], other: Sequence[str]) -> int:
    """Weight of the heaviest contiguous run of `claim` tokens that also occurs contiguously in `other`.

    A stop word links a run but weighs nothing, so "of the" shared with every source counts for 0.
    """
    best = 0
    previous: list[int | None] = [None] * (len(other) + 1)
    for i, token in enumerate(claim):
        current: list[int | None] = [None] * (len(other) + 1)
        for j, candidate in enumerate(other, start=1):
            if token == candidate:
                run = (previous[j - 1] or 0) + weights[i]
                current[j] = run
                best = max(best, run)
        previous = current
    return best


def overlap(claim: str, source: str, *, language: str | None = None) -> Overlap:
    """The longest word sequence `claim` shares with any one sentence of `source`, and its bigram containment."""
    language = language or detect_language(claim)
    tokens, weights = _tokens(claim, language)
    if not tokens:
        return NONE
    best, span = 0, ""
    for sentence in _sentences(source):
        run = _longest_run(tokens, weights, _tokens(sentence, language)[0])
        if run > best:
            best, span = run, sentence
    source_tokens = _tokens(source, language)[0]
    pairs = set(itertools.pairwise(source_tokens))
    claim_pairs = list(itertools.pairwise(tokens))
    contained = sum(p in pairs for p in claim_pairs) / len(claim_pairs) if claim_pairs else 0.0
    return Overlap(best, contained, span, sum(weights))


def attribute(
    cited: Sequence[int],
    overlaps: Mapping[int, Overlap],
    scores: Mapping[int, float],
    *,
    threshold: float,
    vetoed: frozenset[int] = frozenset(),
    min_shared: int = MIN_SHARED_WORDS,
) -> tuple[int, ...]:
    """The verified citations of one sentence (1-based source numbers; empty: none).

    `cited` is what the model wrote, `scores` the support score per source, `vetoed` the sources
    lacking a figure or name the sentence states (such a source cannot be the one it was written
    from, however much else it shares). The sources sharing a run of `min_shared` content words win,
    the longest run first (then the larger share of word pairs), whatever their support score: the
    wording says where a sentence came from, and whether that source supports it is the check's
    verdict, shown as such. The model's citations stay when they are among the best. Without such a
    run, the model's supported citations stay, or the best-supported source that shares no less
    wording than the model's choice is cited. A sentence no source supports keeps the model's
    citations, so that it is shown marked.
    """
    valid_cited = [n for n in dict.fromkeys(cited) if n in scores]
    written = [n for n in scores if n not in vetoed and overlaps.get(n, NONE).shared >= min_shared]
    if written:
        top = max(overlaps[n].key for n in written)
        best = [n for n in written if overlaps[n].key == top]
        kept = tuple(n for n in valid_cited if n in best)
        return kept or (max(best, key=lambda n: (scores[n], -n)),)
    supporting = [n for n in scores if scores[n] >= threshold and n not in vetoed]
    kept = tuple(n for n in valid_cited if n in supporting)
    if kept:
        return kept
    # the model's own choice sets the floor, unless it lacks a figure or name the sentence states
    floor = max((overlaps.get(n, NONE).key for n in valid_cited if n not in vetoed), default=(0, 0.0))
    movable = [n for n in supporting if overlaps.get(n, NONE).key >= floor]
    if movable:
        return (max(movable, key=lambda n: (scores[n], -n)),)
    return tuple(valid_cited)
