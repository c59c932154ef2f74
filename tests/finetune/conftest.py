"""Fixtures for the fine-tuning pipeline: real handbook chunks and hand-written corrections.

The corrections are rendered with `finetune.data.render` into the chat format `bron export sft`
writes, so they exercise the same reader the pipeline uses on real exports.
"""

from __future__ import annotations

import json
import random
from dataclasses import replace
from pathlib import Path

import pytest

from finetune.data import CorpusAccess, DataSettings, Pair, load_chunks, render
from finetune.examples import Example, write_examples
from retrieval.types import Chunk

HANDBOOK = Path(__file__).resolve().parents[2] / "retrieval" / "sample_handbook"
FIXTURES = Path(__file__).with_name("fixtures")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "finetune: needs .venv-ft (torch, transformers, peft); trains for a few steps"
    )


@pytest.fixture(scope="session")
def handbook_chunks() -> list[Chunk]:
    return load_chunks([HANDBOOK], access=CorpusAccess(roots={HANDBOOK: "public"}))


def handbook_pairs(chunks: list[Chunk]) -> list[Pair]:
    """The hand-written question/answer pairs, each tied to the real chunk that holds its answer."""
    pairs = []
    for row in json.loads((FIXTURES / "handbook_qa.json").read_text()):
        chunk = next(c for c in chunks if c.doc_id.endswith(row["doc"]) and row["needle"] in c.text)
        pairs.append(Pair(row["question"], row["answer"], chunk))
    return pairs


def write_corrections(path: Path, chunks: list[Chunk], *, distractors: int = 2) -> list[Example]:
    """A `bron export sft`-style file: one served prompt and corrected answer per line."""
    rng = random.Random(7)
    settings = DataSettings(distractors=distractors)
    examples = [render(p, chunks, settings=settings, rng=rng) for p in handbook_pairs(chunks)]
    examples = [replace(e, origin="feedback") for e in examples]
    write_examples(path, examples)
    return examples
