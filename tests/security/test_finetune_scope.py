"""`bron finetune data --corpus PATH` trains an adapter that answers in every channel, so it may learn
only from documents whose collection is established and selected (`--collection`, default public):
never from a restricted folder inside the corpus, a page that narrowed itself with front matter, a
folder the index has no record of, or text the index serves to a restricted collection. On 4c78605 it
read every file under PATH as public and the hr text went into train.jsonl/valid.jsonl."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from tests.load.http_load import serving
from tests.security.conftest import bron, said

SECRET = "# Salarissen\n\nHet salaris van de directeur is 250000 euro per jaar; dat is vertrouwelijk.\n"
OPEN = "# Welkom\n\nWelkom bij de koffiebranderij; de koffie is gratis en de kantine opent om acht uur.\n"
ROUTE = "# Route\n\nDe fietsenstalling ligt achter het gebouw, naast de ingang van het magazijn.\n"


def generator() -> Starlette:
    """The LLM's stand-in for question generation: a new question each call, an answer citing [1]."""
    numbers = itertools.count(1)

    async def completions(_: Request) -> Response:
        reply = (
            f"QUESTION: What does part number {next(numbers)} of the handbook say?\nANSWER: It says it [1]."
        )

        async def chunks() -> AsyncIterator[str]:
            base = {"id": "cmpl-ft", "object": "chat.completion.chunk", "created": 0, "model": "bron-local"}
            for delta in ({"content": reply}, {}):
                choice = {"index": 0, "delta": delta, "finish_reason": None if delta else "stop"}
                yield f"data: {json.dumps({**base, 'choices': [choice]})}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(chunks(), media_type="text/event-stream")

    return Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"])])


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _data(out: Path, url: str, *corpus: Path, extra: tuple[str, ...] = ()) -> str:
    args = ["finetune", "data", "--out", str(out), "--llm-url", f"{url}/v1", "--no-grounding-model", *extra]
    for path in corpus:
        args += ["--corpus", str(path)]
    result = bron(*args)
    assert result.exit_code == 0, said(result)
    return "".join((out / name).read_text() for name in ("train.jsonl", "valid.jsonl"))


def test_finetune_data_learns_only_from_public_documents(data_dir: Path, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    _write(docs / "hr" / "salarissen.md", SECRET)
    _write(docs / "handbook" / "welkom.md", OPEN)
    _write(docs / "handbook" / "route.md", ROUTE)
    _write(
        docs / "handbook" / "bonus.md", "---\ncollection: hr\n---\n" + SECRET.replace("Salarissen", "Bonus")
    )
    unrecorded = _write(tmp_path / "elders" / "notities.md", SECRET.replace("Salarissen", "Notities")).parent
    assert bron("ingest", str(docs / "hr"), "--collection", "hr").exit_code == 0
    assert bron("ingest", str(docs)).exit_code == 0
    with serving(generator()) as url:
        written = _data(tmp_path / "out", url, docs, unrecorded)
        assert "koffiebranderij" in written and "fietsenstalling" in written
        assert "250000" not in written
        # a renamed hr folder is still recognised by its text
        (docs / "hr").rename(docs / "personeel")
        assert "250000" not in _data(tmp_path / "out2", url, docs)
        # hr is learnt only when asked for, and the public pages stay
        both = _data(tmp_path / "out3", url, docs, extra=("--collection", "public", "--collection", "hr"))
        assert "250000" in both and "koffiebranderij" in both


def test_finetune_data_without_an_index_refuses_rather_than_guessing_public(
    data_dir: Path, tmp_path: Path
) -> None:
    _write(tmp_path / "docs" / "hr" / "salarissen.md", SECRET)
    result = bron("finetune", "data", "--out", str(tmp_path / "out"), "--corpus", str(tmp_path / "docs"),
                  "--no-generate")  # fmt: skip
    assert result.exit_code == 1 and "no Bron index" in said(result)
    assert not (tmp_path / "out" / "train.jsonl").exists()
