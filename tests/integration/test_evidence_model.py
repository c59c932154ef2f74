"""The optional evidence model (EmbeddingGemma-300M from `make evidence-model`) on Bron's own handbook.

It was chosen on CLAPnq, an English Wikipedia set; these are our Dutch and English dev questions, 52 that
the handbook answers and 6 it does not. Skipped, with the reason, where the model is not installed
(`.ci/run` installs it).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.runtime import Runtime, open_runtime
from bot.settings import Settings
from retrieval.analysis import detect_language
from retrieval.ingest import ingest_paths
from serving.answer import evidence_score
from serving.evidence_model import DENSE, EVIDENCE

ROOT = Path(__file__).resolve().parents[2]
MODEL = Path(os.environ.get("BRON_TEST_EVIDENCE_MODEL", ROOT / ".bron" / "models" / "embeddinggemma-300m"))
QUESTIONS = json.loads((ROOT / "retrieval" / "sample_handbook_questions.json").read_text(encoding="utf-8"))

pytestmark = pytest.mark.skipif(
    not (MODEL / "modules.json").is_file(), reason=f"no evidence model at {MODEL}: run `make evidence-model`"
)


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("evidence"),
        serving={"evidence_model": MODEL, "evidence_bar": 0.5},  # type: ignore[arg-type]
    )
    with open_runtime(settings, with_llm=False) as rt:
        ingest_paths([ROOT / "retrieval" / "sample_handbook"], backend=rt.backend, embedder=rt.embedder)
        yield rt


def _auc(pos: list[float], neg: list[float]) -> float:
    return sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg) / (len(pos) * len(neg))


def test_the_evidence_model_parts_answerable_from_unanswerable_handbook_questions(runtime: Runtime) -> None:
    model = runtime.evidence_model
    assert model is not None and runtime.policy.min_dense_score == 0.5
    scores: dict[str, dict[bool, list[float]]] = {DENSE: {True: [], False: []}, EVIDENCE: {True: [], False: []}}
    for q in QUESTIONS:
        hits = runtime.retriever.search(q["question"], k=runtime.policy.top_k).hits
        rescored = model.rescore(q["question"], hits)
        assert sum(EVIDENCE in h.scores for h in rescored) == min(len(hits), model.top_k)
        language = detect_language(q["question"])
        for key, hs in ((DENSE, hits), (EVIDENCE, rescored)):
            score = evidence_score(hs, language, cross_language_margin=runtime.policy.cross_language_margin, key=key)
            assert score is not None
            scores[key][q["doc"] is not None].append(score)
    e5 = _auc(scores[DENSE][True], scores[DENSE][False])
    gemma = _auc(scores[EVIDENCE][True], scores[EVIDENCE][False])
    assert len(scores[EVIDENCE][True]) == 52 and len(scores[EVIDENCE][False]) == 6
    assert gemma >= 0.9, (gemma, e5)
