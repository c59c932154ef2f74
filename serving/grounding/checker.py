"""The groundedness check run on every answer: is each sentence supported by the source it cites?

No NLI model ships offline, so support is estimated from what does: how close the claim's embedding
comes to a window of the cited source, and hard lexical checks (figures, names, negation, opposites,
words the source never uses). A logistic combination of these few features, fitted on SummEdits by
`evaluation/hallucination.py` and stored in `weights.json`, turns them into a 0..1 score. A figure
or name the cited source lacks also vetoes the claim outright: that is the error that hurts most in a
company answer, and on SummEdits the veto costs nothing over the fitted score. Negation and
opposites stay soft (strong features): as vetoes they cost accuracy, because the nearest sentence is
not always the one the claim paraphrases. An LLM judge may be added; it is asked only about
borderline sentences, where it can change the verdict. Where a deployment has an NLI model on disk
(serving.grounding.nli), its entailment probability replaces the fitted score and the veto still holds:
weights fitted for this checker's features mean nothing for a model nobody here could run.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.analysis import detect_language
from retrieval.embedding import Embedder
from serving.grounding.attribution import MIN_SHARED_WORDS, attribute, overlap
from serving.grounding.claims import Claim, split_claims
from serving.grounding.evidence import Evidence, EvidenceFinder, sources_to_check
from serving.grounding.judge import LLMJudge
from serving.grounding.lexical import LexicalFindings, check_lexical
from serving.grounding.nli import EntailmentModel
from serving.grounding.verifier import Verifier
from serving.llm import LLMClient

WEIGHTS_FILE = Path(__file__).with_name("weights.json")
VETO_FACTOR = 0.9  # a vetoed claim scores at most this share of the threshold
NLI_THRESHOLD = 0.5  # entailment probability at which a claim counts as supported, unless set
FEATURES = (
    "similarity", "missing_figures", "missing_names", "negation_mismatch", "opposites", "novel_fraction",
)  # fmt: skip


@dataclass(frozen=True)
class Combiner:
    """score = sigmoid(bias + weights . features); `threshold` is where a claim counts as supported."""

    weights: tuple[float, ...]
    bias: float
    threshold: float

    @classmethod
    def load(cls, path: Path = WEIGHTS_FILE) -> Combiner:
        data = json.loads(path.read_text())
        missing = [f for f in FEATURES if f not in data["weights"]]
        if missing:
            raise ValueError(
                f"{path} has no weight for {', '.join(missing)}: refit it with "
                "`python -m evaluation.hallucination --fit-weights`"
            )
        return cls(tuple(float(data["weights"][f]) for f in FEATURES), float(data["bias"]),
                   float(data["threshold"]))  # fmt: skip

    def score(self, features: Sequence[float]) -> float:
        z = self.bias + float(np.dot(self.weights, features))
        return 1.0 / (1.0 + math.exp(-z))


@dataclass(frozen=True)
class SentenceCheck:
    sentence: str
    citations: tuple[int, ...]  # the [n] markers in this sentence (1-based source numbers)
    score: float  # 0..1 support by its verified citation (all sources when it has none)
    supported: bool
    issues: tuple[str, ...]
    best_source: int | None  # the source number that supports it best (the first verified one when supported)
    wrong_citation: bool  # the model cited another source than the one it was written from (now re-cited)
    judged: bool = False  # the LLM judge was asked
    entailment: float | None = None  # the NLI model's probability for the scored source, when one is set
    attributed: tuple[int, ...] = ()  # the verified citations: what the answer shows (attribution.attribute)
    span: str = ""  # the sentence of the first verified source that supports this one ("" when unsupported)
    shared_words: int = 0  # content words in the longest word sequence it shares with that source


@dataclass(frozen=True)
class GroundednessReport:
    score: float  # the weakest sentence's score: one unsupported claim makes the answer unreliable
    sentences: tuple[SentenceCheck, ...]

    @property
    def unsupported(self) -> tuple[SentenceCheck, ...]:
        return tuple(s for s in self.sentences if not s.supported)

    @property
    def wrong_citations(self) -> tuple[SentenceCheck, ...]:
        return tuple(s for s in self.sentences if s.wrong_citation)

    def to_dict(self) -> dict[str, Any]:
        return {"score": self.score, "sentences": [asdict(s) for s in self.sentences]}


def feature_vector(similarity: float, lexical: LexicalFindings) -> tuple[float, ...]:
    """The combiner's inputs, in FEATURES order; counts are capped so one long list cannot dominate."""
    return (
        similarity,
        float(min(len(lexical.missing_figures), 2)),
        float(min(len(lexical.missing_names), 2)),
        float(lexical.negation_mismatch),
        float(bool(lexical.opposed)),
        lexical.novel_fraction,
    )


class GroundednessChecker:
    def __init__(
        self,
        *,
        embedder: Embedder,
        judge: LLMClient | None = None,
        threshold: float | None = None,
        combiner: Combiner | None = None,
        judge_band: tuple[float, float] = (0.25, 0.75),
        hard_veto: bool = True,
        nli: EntailmentModel | None = None,
        min_shared_words: int = MIN_SHARED_WORDS,
        verifier: Verifier | None = None,
    ) -> None:
        """`threshold` overrides the fitted one (NLI_THRESHOLD with `nli`); the judge is asked when a
        score falls in `judge_band`; `min_shared_words` is the run that says a sentence was written
        from a source (serving.grounding.attribution).

        With `hard_veto`, a claim with a figure or name its source lacks is never supported. A trained
        `verifier` (serving.grounding.verifier) scores claims in place of the fitted combiner, at its own
        calibrated threshold; `nli` takes precedence over it.
        """
        if nli is not None and verifier is not None:
            raise ValueError("set an NLI model or the trained verifier, not both")
        self.hard_veto = hard_veto
        self.evidence = EvidenceFinder(embedder)
        self.combiner = combiner or Combiner.load()
        self.nli = nli
        self.verifier = verifier
        default = (
            NLI_THRESHOLD if nli is not None
            else verifier.head.threshold if verifier is not None
            else self.combiner.threshold
        )  # fmt: skip
        self.threshold = default if threshold is None else threshold
        self.judge = LLMJudge(judge) if judge is not None else None
        self.judge_band = judge_band
        self.min_shared_words = min_shared_words

    def _evidence(self, claim: str, source: str, question: str) -> tuple[Evidence, LexicalFindings]:
        found = self.evidence.best(claim, source)
        lexical = check_lexical(
            claim, source, evidence=found.sentence, region=found.region, question=question
        )
        return found, lexical

    def features(
        self, claim: str, source: str, *, question: str = ""
    ) -> tuple[tuple[float, ...], LexicalFindings]:
        found, lexical = self._evidence(claim, source, question)
        return feature_vector(found.similarity, lexical), lexical

    def entailment(self, claim: str, source: str) -> float | None:
        """The NLI model's (or the verifier's) support for `claim` by the passage of `source` nearest to
        it; None without one."""
        return self._entailments(claim, [self._evidence(claim, source, "")])[0]

    def _entailments(
        self, claim: str, evidence: Sequence[tuple[Evidence, LexicalFindings]]
    ) -> list[float | None]:
        """One batch per claim: on a GPU the pairs cost about one pair's time."""
        if self.verifier is not None:
            features = [feature_vector(f.similarity, lexical) for f, lexical in evidence]
            return list(self.verifier.support(claim, [f for f, _ in evidence], features))
        if self.nli is None:
            return [None] * len(evidence)
        return list(self.nli.entailment([(f.region, claim) for f, _ in evidence]))

    def _support(
        self, claim: str, source: str, found: Evidence, lexical: LexicalFindings, entailment: float | None
    ) -> tuple[float, bool]:
        """(score, whether the LLM judge was asked)."""
        if entailment is not None:
            score = entailment
        else:
            score = self.combiner.score(feature_vector(found.similarity, lexical))
        if self.hard_veto and lexical.vetoes:
            # a figure or name the source lacks is not outweighed by similar wording
            score = min(score, VETO_FACTOR * self.threshold)
        judged = False
        low, high = self.judge_band
        if self.judge is not None and low <= score <= high:
            verdict = self.judge.support(claim, source)
            if verdict is not None:
                score, judged = (score + verdict) / 2, True
        return score, judged

    def check_claim(self, claim: Claim, sources: Sequence[str], *, question: str = "") -> SentenceCheck:
        """Support of one claim by every source, and the citation it gets (serving.grounding.attribution):
        the source it shares the longest run of words with, else the one supporting it best."""
        evidence = [self._evidence(claim.text, source, question) for source in sources]
        entailments = self._entailments(claim.text, evidence)
        checked = {
            n: self._support(claim.text, sources[n - 1], *evidence[n - 1], entailments[n - 1])
            for n in range(1, len(sources) + 1)
        }
        language = detect_language(claim.text)
        overlaps = {n: overlap(claim.text, sources[n - 1], language=language) for n in checked}
        vetoed = frozenset(n for n in checked if self.hard_veto and evidence[n - 1][1].vetoes)
        attributed = attribute(
            claim.citations, overlaps, {n: s for n, (s, _) in checked.items()},
            threshold=self.threshold, vetoed=vetoed, min_shared=self.min_shared_words,
        )  # fmt: skip
        own = max(attributed or sources_to_check(claim.citations, len(sources)), key=lambda n: checked[n][0])
        score, judged = checked[own]
        lexical, entailment = evidence[own - 1][1], entailments[own - 1]
        if own not in vetoed and overlaps[own].copied(self.min_shared_words):
            # made of one run of the source's own words: the soft checks (negation or opposites in the
            # sentence around it, embedding distance) judge paraphrases, not copies
            score = max(score, self.threshold)
        supported = score >= self.threshold
        best = own if supported else max(checked, key=lambda n: checked[n][0])
        model_cited = {n for n in claim.citations if n in checked}
        wrong = bool(model_cited) and supported and set(attributed) != model_cited
        issues = lexical.issues
        if wrong:
            issues = (*issues, f"written from source {own}, not from the one cited")
        elif not supported and not issues:
            issues = (
                "no close evidence in the cited source"
                if entailment is None
                else f"the {'verifier' if self.verifier else 'NLI model'} finds no support in the cited "
                f"source ({entailment:.2f})",
            )
        shared = overlaps[own]
        span = (
            ""
            if not supported
            else shared.span
            if shared.shared >= MIN_SHARED_WORDS
            else evidence[own - 1][0].sentence
        )
        return SentenceCheck(
            sentence=claim.sentence, citations=claim.citations, score=score, supported=supported,
            issues=issues, best_source=best, wrong_citation=wrong, judged=judged, entailment=entailment,
            attributed=attributed, span=span, shared_words=shared.shared if supported else 0,
        )  # fmt: skip

    def check(self, answer: str, sources: Sequence[str], *, question: str = "") -> GroundednessReport:
        """`sources[i]` is the text of source number i + 1; an answer with no claims scores 1.0.

        A name the answer repeats from `question` is the asker's own word, not an invented one
        ("Snow White and the Huntsmen" where the source says "Huntsman"); whether the sources know
        the question's terms at all is `serving.answerability`'s check.
        """
        if not sources:
            claims = split_claims(answer)
            checks = tuple(
                SentenceCheck(
                    c.sentence, c.citations, 0.0, False, ("no sources to check against",), None, False
                )
                for c in claims
            )
            return GroundednessReport(0.0 if checks else 1.0, checks)
        checks = tuple(self.check_claim(c, sources, question=question) for c in split_claims(answer))
        score = min((c.score for c in checks), default=1.0)
        return GroundednessReport(score, checks)

    def nearest(self, text: str, sources: Sequence[str]) -> tuple[int, str]:
        """The source number (1-based) and the one- or two-sentence window of it closest to `text`."""
        found = [self.evidence.best(text, source) for source in sources]
        best = max(range(len(found)), key=lambda i: found[i].similarity)
        return best + 1, found[best].window

    def score_pair(self, document: str, claim_text: str) -> float:
        """Support of a whole generated text (e.g. a summary) by one document: its weakest sentence."""
        return self.check(claim_text, [document]).score
