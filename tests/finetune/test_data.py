"""The training-set builder on the real sample handbook: parsing, grounding filter, dedup, split, balance."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from finetune.cli import app
from finetune.data import (
    DataSettings,
    Pair,
    balance_languages,
    build_dataset,
    deduplicate,
    lexical_support,
    parse_generated,
    validation_documents,
    write_dataset,
)
from finetune.errors import ExampleFormatError
from finetune.examples import example_from_json, read_examples
from retrieval.types import Chunk
from tests.finetune.conftest import handbook_pairs, write_corrections


def test_parse_generated_accepts_the_format_and_rejects_the_rest() -> None:
    assert parse_generated("QUESTION: How long must a password be\nANSWER: At least 14 characters [1].") == (
        "How long must a password be?", "At least 14 characters [1].")  # fmt: skip
    assert (
        parse_generated("VRAAG: Hoeveel vakantiedagen krijg ik?\nANTWOORD: Je krijgt 25 dagen [1].")
        is not None
    )
    assert parse_generated("**QUESTION:** Who pays?\n**ANSWER:** The employer pays 13% of it [1]") is not None
    assert parse_generated("QUESTION: Who pays the pension?\nANSWER: The employer pays it.") == (
        "Who pays the pension?",
        "The employer pays it. [1]",
    )  # the marker is added; grounding still filters
    assert parse_generated("QUESTION: Who pays the pension?\nANSWER: The employer pays [2].") is None
    assert parse_generated("Sure! Here is a question about pensions.") is None
    assert parse_generated("QUESTION: Hoe dien je een declaratie in? [1]\nANSWER: Via de app Declaro [1].") == (
        "Hoe dien je een declaratie in?", "Via de app Declaro [1].")  # fmt: skip


def test_lexical_fallback_requires_numbers_and_names_from_the_source() -> None:
    source = "Veldhoven Koffie pays 13% of the pension base through Brightwater Premiepensioen."
    assert lexical_support("The company pays 13% of the base [1].", source) == 1.0
    assert lexical_support("The company pays 15% of the base [1].", source) == 0.0
    assert lexical_support("It goes through Zilverberg Pensioen [1].", source) == 0.0


def test_corrections_file_reads_back_with_document_language_and_sources(tmp_path: Path,
                                                                       handbook_chunks: list[Chunk]) -> None:  # fmt: skip
    written = write_corrections(tmp_path / "sft.jsonl", handbook_chunks)
    read = list(read_examples(tmp_path / "sft.jsonl"))
    assert [e.question for e in read] == [e.question for e in written]
    first = read[0]
    assert (
        first.origin == "feedback" and first.doc_id == "sample_handbook/pension.md" and first.language == "en"
    )
    assert [m["role"] for m in first.messages] == ["system", "user", "assistant"]
    gold = first.meta["gold_source"]
    assert "13% of the pension base" in first.sources[gold - 1]
    assert f"[{gold}]" in first.answer
    assert {e.language for e in read} == {"en", "nl"}


def test_export_without_meta_sources_takes_them_from_the_prompt(
    handbook_chunks: list[Chunk], tmp_path: Path
) -> None:
    obj = write_corrections(tmp_path / "sft.jsonl", handbook_chunks)[3].to_json()
    obj["meta"] = {"interaction_id": 7, "doc_ids": ["sample_handbook/parental-leave.md"]}
    ex = example_from_json(obj, where="x")
    assert ex.doc_id == "sample_handbook/parental-leave.md"
    assert (
        ex.question == "How much parental leave is every parent entitled to?"
    )  # from the prompt's Question: line
    assert len(ex.sources) == 3 and any("26 times" in s for s in ex.sources)
    with pytest.raises(ExampleFormatError, match="end with the assistant"):
        example_from_json({"messages": obj["messages"][:2]}, where="f.jsonl:3")


def test_split_is_by_document_and_both_languages_are_validated(tmp_path: Path,
                                                               handbook_chunks: list[Chunk]) -> None:  # fmt: skip
    corrections = write_corrections(tmp_path / "sft.jsonl", handbook_chunks)
    pairs = [Pair(f"Generated question {i} about {c.title}?", f"{c.title} says so [1].", c)
             for i, c in enumerate(handbook_chunks[::4])]  # fmt: skip
    data = build_dataset(
        chunks=handbook_chunks, pairs=pairs, corrections=corrections, settings=DataSettings()
    )
    train_docs, valid_docs = {e.doc_id for e in data.train}, {e.doc_id for e in data.valid}
    assert train_docs and valid_docs and not train_docs & valid_docs
    assert {e.language for e in data.valid} == {"en", "nl"}
    # no text of a held-out document appears in any training prompt, not even as a distractor
    held_texts = [c.text for c in handbook_chunks if c.doc_id in valid_docs]
    train_prompts = "\n".join(m["content"] for e in data.train for m in e.messages)
    assert not [t for t in held_texts if t in train_prompts]
    card = write_dataset(data, tmp_path / "out", settings=DataSettings(), inputs={})
    assert card["documents_in_both_splits"] == []
    assert card["splits"]["train"]["examples"] == len(data.train)
    lines = (tmp_path / "out" / "train.jsonl").read_text().splitlines()
    assert len(lines) == len(data.train) and json.loads(lines[0])["messages"][-1]["role"] == "assistant"
    import hashlib

    assert (
        card["files"]["train.jsonl"]["sha256"]
        == hashlib.sha256((tmp_path / "out" / "train.jsonl").read_bytes()).hexdigest()
    )


def test_rendered_pairs_cite_the_gold_chunk_among_distractors(handbook_chunks: list[Chunk]) -> None:
    pairs = handbook_pairs(handbook_chunks)
    data = build_dataset(chunks=handbook_chunks, pairs=pairs, corrections=[], settings=DataSettings(seed=3))
    positions: Counter[int] = Counter()
    for ex in [*data.train, *data.valid]:
        gold = ex.meta["gold_source"]
        positions[gold] += 1
        assert (
            len(ex.sources) == 3
            and f"[{gold}]" in ex.answer
            and "[1]" not in ex.answer.replace("[1]", "", gold == 1)
        )
        assert ex.messages[1]["content"].count("<source id=") == 3
        assert ex.question in ex.messages[1]["content"]
    assert len(positions) > 1  # the answer is not always source 1


def test_duplicates_are_dropped_and_a_correction_beats_a_generated_pair(handbook_chunks: list[Chunk],
                                                                        tmp_path: Path) -> None:  # fmt: skip
    correction = write_corrections(tmp_path / "sft.jsonl", handbook_chunks)[0]
    generated = Pair("how much of the pension contribution does Veldhoven Koffie pay", "Some answer [1].",
                     handbook_chunks[0])  # fmt: skip
    dropped: Counter[str] = Counter()
    kept = deduplicate([correction, generated, correction], dropped)
    assert kept == [correction] and dropped["duplicate"] == 2


def test_the_larger_language_is_capped(handbook_chunks: list[Chunk]) -> None:
    en = [c for c in handbook_chunks if c.language == "en"][:10]
    nl = [c for c in handbook_chunks if c.language == "nl"][:2]
    items = [Pair(f"Question number {i} here?", "Answer [1].", c) for i, c in enumerate(en + nl)]
    dropped: Counter[str] = Counter()
    kept = balance_languages(list(items), max_ratio=1.5, seed=1, dropped=dropped)
    assert Counter(i.language for i in kept) == {"en": 3, "nl": 2} and dropped["language_balance"] == 7


def test_a_single_document_language_is_never_held_out_entirely(handbook_chunks: list[Chunk]) -> None:
    items = [Pair(f"Q {c.chunk_id}?", "A [1].", c) for c in handbook_chunks]
    held = validation_documents(items, fraction=0.9, seed=1)
    for lang in ("en", "nl"):
        docs = {c.doc_id for c in handbook_chunks if c.language == lang}
        assert 0 < len(docs & held) < len(docs)


def test_cli_builds_from_corrections_without_an_llm(tmp_path: Path, handbook_chunks: list[Chunk]) -> None:
    write_corrections(tmp_path / "sft.jsonl", handbook_chunks)
    result = CliRunner().invoke(app, ["data", "--out", str(tmp_path / "d"), "--sft", str(tmp_path / "sft.jsonl"),
                                      "--no-generate"])  # fmt: skip
    assert result.exit_code == 0, result.output
    card = json.loads((tmp_path / "d" / "data_card.json").read_text())
    train = card["splits"]["train"]["by_origin"]["feedback"]
    assert train + card["dropped"].get("shows_validation_document", 0) == 12
    assert card["splits"]["valid"]["examples"] == 4 and card["documents_in_both_splits"] == []
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": "nope"}\n')
    result = CliRunner().invoke(
        app, ["data", "--out", str(tmp_path / "e"), "--sft", str(bad), "--no-generate"]
    )
    assert result.exit_code == 1 and "bad.jsonl:1" in result.output
