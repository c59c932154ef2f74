"""Finding the part of a source that a claim rests on, with the embedder Bron already uses.

A claim is compared with windows of one and two consecutive sentences rather than the whole source:
a whole-document vector blurs a long text into its topic, and a claim usually rests on one or two
sentences. The e5 model is multilingual, so a Dutch claim finds its English evidence too.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from retrieval.embedding import Embedder, Vectors
from serving.grounding.claims import split_sentences

MAX_WINDOW_WORDS = 60


@dataclass(frozen=True)
class SourceIndex:
    """The windows of one source and their vectors; `single[i]` says window i is one sentence."""

    windows: tuple[str, ...]
    single: tuple[bool, ...]
    vectors: Vectors


@dataclass(frozen=True)
class Evidence:
    similarity: float  # cosine of the claim and its best window
    window: str
    sentence: str  # the best single sentence: where negation is compared
    region: str  # the best sentence with its neighbours and the two best windows: where opposites are
    # unit vectors of the claim and of `window`, which the trained verifier reads (serving.grounding.verifier)
    claim_vector: Vectors | None = field(default=None, compare=False, repr=False)
    window_vector: Vectors | None = field(default=None, compare=False, repr=False)


def _pieces(text: str) -> list[str]:
    """Sentences, with run-on ones (transcripts without punctuation) cut to MAX_WINDOW_WORDS words."""
    out: list[str] = []
    for sentence in split_sentences(text):
        tokens = sentence.split()
        for i in range(0, len(tokens), MAX_WINDOW_WORDS):
            out.append(" ".join(tokens[i : i + MAX_WINDOW_WORDS]))
    return out or [text.strip()]


def build_windows(text: str) -> tuple[list[str], list[bool]]:
    pieces = _pieces(text)
    windows = list(pieces)
    single = [True] * len(pieces)
    for a, b in itertools.pairwise(pieces):
        windows.append(f"{a} {b}")
        single.append(False)
    return windows, single


class EvidenceFinder:
    """Embeds each source once (a small in-memory LRU on top of the embedder's own cache)."""

    def __init__(self, embedder: Embedder, *, max_sources: int = 256) -> None:
        self.embedder = embedder
        self._sources: OrderedDict[str, SourceIndex] = OrderedDict()
        self._claims: OrderedDict[str, Vectors] = OrderedDict()
        self._max = max_sources

    def index(self, source: str) -> SourceIndex:
        found = self._sources.get(source)
        if found is not None:
            self._sources.move_to_end(source)
            return found
        windows, single = build_windows(source)
        vectors = _normalise(self.embedder.embed_passages(windows))
        built = SourceIndex(tuple(windows), tuple(single), vectors)
        self._sources[source] = built
        if len(self._sources) > self._max:
            self._sources.popitem(last=False)
        return built

    def claim_vector(self, claim: str) -> Vectors:
        found = self._claims.get(claim)
        if found is None:
            found = _normalise(self.embedder.embed_query(claim).reshape(1, -1))[0]
            self._claims[claim] = found
            if len(self._claims) > 16 * self._max:
                self._claims.popitem(last=False)
        return found

    def best(self, claim: str, source: str) -> Evidence:
        idx = self.index(source)
        sims = idx.vectors @ self.claim_vector(claim)
        top = int(np.argmax(sims))
        single = np.where(np.asarray(idx.single), sims, -np.inf)
        top_single = int(np.argmax(single))
        region = _region(idx, top_single, [int(w) for w in np.argsort(-sims)[:2]])
        claim_vector = self.claim_vector(claim)
        return Evidence(float(sims[top]), idx.windows[top], idx.windows[top_single], region,
                        claim_vector, idx.vectors[top])  # fmt: skip


def _region(idx: SourceIndex, sentence: int, windows: Sequence[int]) -> str:
    """The pieces around the best sentence and in the best windows, in source order.

    Windows are the n single pieces first, then the n - 1 pairs (pair i joins pieces i and i + 1).
    """
    n = sum(idx.single)
    keep = {sentence - 1, sentence, sentence + 1}
    for w in windows:
        keep |= {w} if w < n else {w - n, w - n + 1}
    return " ".join(idx.windows[i] for i in sorted(keep) if 0 <= i < n)


def _normalise(vectors: Vectors) -> Vectors:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    out: Vectors = (vectors / np.maximum(norms, 1e-9)).astype(np.float32)
    return out


def sources_to_check(citations: Sequence[int], n_sources: int) -> list[int]:
    """1-based numbers of the cited sources that exist; all sources when the claim cites none."""
    valid = [c for c in citations if 1 <= c <= n_sources]
    return valid or list(range(1, n_sources + 1))
