"""A groundedness verifier Bron trains itself: a small logistic head, opt-in, not the default.

No NLI or hallucination-detection model can be installed here, so Bron learns one from what it can
read (evaluation/verifier.py; data card bench/verifier/DATA.md). For each (claim, evidence) pair the
checker has already found the evidence window with e5 and run its lexical checks; a head may add what
e5 sees in the pair (the element-wise product and distance of the claim's and window's vectors, which
the checker already holds, and the vector of the pair read as one text). The head is stored as JSON
(`verifier_head.json`, with the design, seed and command that made it) and plugs in where an NLI model
would (`BRON_SERVING__VERIFIER_HEAD`), at its own calibrated threshold; the figure/name veto still
holds. Measured against the shipped checker it wins on some sets and loses on others
(bench/README.md, "Groundedness verifier"), so the fitted combiner stays the default.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from retrieval.embedding import Embedder
from serving.errors import ModelFileError
from serving.grounding.evidence import Evidence

HEAD_FILE = Path(__file__).with_name("verifier_head.json")
Floats = npt.NDArray[np.float32]


def cross_text(claim: str, window: str) -> str:
    """How the pair is read as one text by the encoder (the same in training and in the product)."""
    return f"claim: {claim} | passage: {window}"


def embedding_features(claim: Floats, window: Floats, cross: Floats, blocks: Sequence[str]) -> Floats:
    """The encoder's part of the feature vector, for one pair of unit vectors (and the pair's own)."""
    parts: list[Floats] = []
    for block in blocks:
        if block == "cosine":
            parts.append(np.asarray([float(claim @ window)], dtype=np.float32))
        elif block == "product":
            parts.append((claim * window).astype(np.float32))
        elif block == "distance":
            parts.append(np.abs(claim - window).astype(np.float32))
        elif block == "cross":
            parts.append(cross.astype(np.float32))
        else:
            raise ValueError(f"unknown feature block {block!r}")
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)


@dataclass(frozen=True)
class VerifierHead:
    """P(supported) = sigmoid(bias + coef . (features - mean) / scale); `threshold` is its decision."""

    blocks: tuple[str, ...]  # encoder feature blocks after the six checker features
    mean: Floats
    scale: Floats
    coef: Floats
    bias: float
    threshold: float
    meta: dict[str, Any]

    @classmethod
    def load(cls, path: Path = HEAD_FILE) -> VerifierHead:
        try:
            data = json.loads(path.read_text())
            mean, scale, coef = (np.asarray(data[k], dtype=np.float32) for k in ("mean", "scale", "coef"))
            head = cls(tuple(data["blocks"]), mean, scale, coef, float(data["bias"]),
                       float(data["threshold"]), dict(data.get("meta", {})))  # fmt: skip
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelFileError(f"cannot read the verifier head at {path}: {exc}") from exc
        if not len(head.mean) == len(head.scale) == len(head.coef):
            raise ModelFileError(f"the verifier head at {path} has arrays of different lengths")
        return head

    def save(self, path: Path) -> None:
        data = {
            "blocks": list(self.blocks), "bias": round(self.bias, 6), "threshold": round(self.threshold, 6),
            "meta": self.meta,
            **{k: [round(float(v), 6) for v in getattr(self, k)] for k in ("mean", "scale", "coef")},
        }  # fmt: skip
        path.write_text(json.dumps(data) + "\n")

    @property
    def needs_encoder(self) -> bool:
        return bool(self.blocks)

    def score(self, features: npt.NDArray[np.floating[Any]]) -> npt.NDArray[np.float64]:
        """Rows of features (checker features, then encoder blocks) -> P(supported)."""
        z = self.bias + ((np.asarray(features, dtype=np.float64) - self.mean) / self.scale) @ self.coef
        out: npt.NDArray[np.float64] = 1.0 / (1.0 + np.exp(-z))
        return out


class Verifier:
    """The head and the encoder it was trained with, which is the checker's own e5 embedder by default
    (its vectors of the claim and the window are already cached by the check, so only the pair's own
    text is new), or another model folder (EmbeddingGemma) where the head was trained on that."""

    def __init__(self, head: VerifierHead, embedder: Embedder) -> None:
        wanted = head.meta.get("encoder")
        if wanted and wanted != embedder.name:
            raise ModelFileError(
                f"the verifier head was trained on {wanted}'s vectors, not on {embedder.name}'s: "
                "retrain it with `python -m evaluation.verifier --write-head` or use that encoder"
            )
        self.head = head
        self.embedder = embedder
        self.name = f"verifier:{head.meta.get('design', 'head')}"

    def support(
        self, claim: str, evidence: Sequence[Evidence], checker_features: Sequence[Sequence[float]]
    ) -> list[float]:
        """P(supported) of `claim` by each source's evidence, given the checker's features for it.

        The claim's and the windows' vectors are the ones the checker found the evidence with, so only
        a head that reads the pair's own text ("cross") embeds anything.
        """
        if not evidence:
            return []
        rows = np.asarray(checker_features, dtype=np.float32)
        if self.head.needs_encoder:
            encoded = []
            cross = (_unit(self.embedder.embed_passages([cross_text(claim, e.window) for e in evidence]))
                     if "cross" in self.head.blocks else None)  # fmt: skip
            for i, e in enumerate(evidence):
                if e.claim_vector is None or e.window_vector is None:
                    raise ValueError(
                        "the verifier needs the evidence vectors (EvidenceFinder.best gives them)"
                    )
                pair = cross[i] if cross is not None else np.zeros(0, dtype=np.float32)
                encoded.append(embedding_features(e.claim_vector, e.window_vector, pair, self.head.blocks))
            rows = np.hstack([rows, np.vstack(encoded)])
        return [float(p) for p in self.head.score(rows)]


def _unit(vectors: Floats) -> Floats:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    out: Floats = (vectors / np.maximum(norms, 1e-9)).astype(np.float32)
    return out
