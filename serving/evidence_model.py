"""A second, stronger embedder that re-scores the closest hits for the evidence bar.

The index embedder has to embed every chunk on a CPU, so by default it is small (multilingual-e5-small,
4-bit).
Whether the sources answer the question at all is decided on a few hits per question, where a larger
model is affordable. On CLAPnq, EmbeddingGemma-300M's cosine over the three closest hits separates
answerable from unanswerable questions with AUC 0.915 (tune half) / 0.911 (report half), where
e5-small's gives 0.867 / 0.875 (bench/answers/abstention-evidence-model.json, clapnq-evidence-model.json).
On our own handbook questions it does worse than e5 (AUC 0.90 against 0.94), so it is an option, not
the default, and its bar (`serving.evidence_bar`) must be chosen for it. Passage vectors are cached by
content hash, so a chunk is embedded once.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from retrieval.embedding import Embedder
from retrieval.types import Chunk, Hit

DENSE = "dense"  # the index embedder's question-chunk cosine, set by the retriever
EVIDENCE = "evidence"  # the evidence model's cosine, set here


@dataclass(frozen=True)
class EvidenceModel:
    """`passage_template` lays out what the model reads for a chunk: EmbeddingGemma was trained on
    "title: … | text: …", and giving it the real title instead of its default "title: none" lifts the
    CLAPnq AUC from 0.875 to 0.914 (129 tune questions)."""

    embedder: Embedder
    top_k: int
    passage_template: str

    def passage(self, chunk: Chunk) -> str:
        text = "\n".join([*chunk.heading_path, chunk.text])
        return self.passage_template.format(title=chunk.title or "none", text=text)

    def rescore(self, question: str, hits: list[Hit]) -> list[Hit]:
        """The hits, in their order, with the evidence model's cosine added to the `top_k` that the index
        embedder found closest (the others get none).

        Closest by cosine, not by fused rank: BM25 can lift chunks that share the question's words above
        the one that answers it (training-budget chunks for a question on vacation days), and the evidence bar asks how
        close the best chunk is, not the first.
        """
        by_dense = sorted(range(len(hits)), key=lambda i: -hits[i].scores.get(DENSE, float("-inf")))
        chosen = by_dense[: self.top_k]
        if not chosen:
            return hits
        query = self.embedder.embed_query(question)
        passages = self.embedder.embed_passages([self.passage(hits[i].chunk) for i in chosen])
        cosines = dict(zip(chosen, (float(c) for c in passages @ query), strict=True))
        return [
            replace(h, scores={**h.scores, EVIDENCE: cosines[i]}) if i in cosines else h
            for i, h in enumerate(hits)
        ]


def evidence_hits(question: str, hits: list[Hit], model: EvidenceModel | None) -> tuple[list[Hit], str]:
    """The hits with the score the evidence bar is held to, and the key of that score."""
    if model is None:
        return hits, DENSE
    return model.rescore(question, hits), EVIDENCE
