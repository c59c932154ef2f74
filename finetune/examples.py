"""Training examples: the chat-format records of `train.jsonl`, and reading `bron export sft` files.

One JSON object per line, `{"messages": [system, user, assistant], "meta": {...}}`, the format TRL,
most fine-tuning tools and the feedback export share. The user message is the prompt exactly as
`serving.context.build_context` writes it at answer time (numbered `<source>` blocks, then the
question), so the adapter learns the format it will be served with. `meta` keeps what the pipeline
needs later: the document (to split without leakage), language, origin, and the source texts (to
check groundedness at evaluation).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finetune.errors import ExampleFormatError
from retrieval.analysis import detect_language, words

_SOURCE_BLOCK = re.compile(r"<source id=\"(\d+)\"[^>]*>\n?(.*?)\n?</source>", re.S)
_QUESTION_LINE = re.compile(r"^(?:Question|Vraag):\s*(.+)$", re.M)  # prompts before <question> tags
_QUESTION_BLOCK = re.compile(r"<question>\n?(.*?)\n?</question>", re.S)


@dataclass(frozen=True)
class Example:
    messages: tuple[dict[str, str], ...]
    question: str
    answer: str
    doc_id: str
    language: str
    origin: str  # "corpus" (generated from a chunk) or "feedback" (a reviewer's correction)
    sources: tuple[str, ...] = ()  # texts of the numbered sources in the prompt, source 1 first
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def prompt(self) -> list[dict[str, str]]:
        """Everything before the assistant's answer: what a model is asked at evaluation."""
        return [dict(m) for m in self.messages[:-1]]

    def to_json(self) -> dict[str, Any]:
        meta = {**self.meta, "question": self.question, "doc_id": self.doc_id, "language": self.language,
                "origin": self.origin, "sources": list(self.sources)}  # fmt: skip
        return {"messages": [dict(m) for m in self.messages], "meta": meta}


def normalise_question(text: str) -> str:
    """The deduplication key: folded words only, so case, accents and punctuation do not matter."""
    return " ".join(words(text))


def sources_in_prompt(prompt: str) -> tuple[str, ...]:
    """The `<source id=n>` texts of a Bron prompt, ordered by their number."""
    found = sorted(((int(n), text.strip()) for n, text in _SOURCE_BLOCK.findall(prompt)), key=lambda p: p[0])
    return tuple(text for _, text in found)


def _doc_id(meta: dict[str, Any], fallback: str) -> str:
    for key in ("doc_id", "cited_doc_id"):
        if isinstance(meta.get(key), str) and meta[key]:
            return str(meta[key])
    for key in ("doc_ids", "cited_doc_ids", "sources", "citations"):
        value = meta.get(key)
        if isinstance(value, list) and value:
            first = value[0]
            if isinstance(first, str):
                return first
            if isinstance(first, dict) and first.get("doc_id"):
                return str(first["doc_id"])
    return fallback


def example_from_json(obj: Any, *, where: str, origin: str = "feedback") -> Example:
    """Validate one chat record (as `bron export sft` writes it) and read what the pipeline needs."""
    if not isinstance(obj, dict) or not isinstance(obj.get("messages"), list):
        raise ExampleFormatError(f"{where}: expected an object with a 'messages' list")
    messages = obj["messages"]
    roles = [m.get("role") if isinstance(m, dict) else None for m in messages]
    if len(messages) < 2 or roles[-1] != "assistant" or "user" not in roles:
        raise ExampleFormatError(
            f"{where}: messages must contain a user turn and end with the assistant's answer"
        )
    if not all(isinstance(m.get("content"), str) for m in messages):
        raise ExampleFormatError(f"{where}: every message needs a string 'content'")
    raw_meta = obj.get("meta")
    meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
    user = next(m["content"] for m in reversed(messages) if m["role"] == "user")
    asked = _QUESTION_BLOCK.findall(user) or _QUESTION_LINE.findall(user)
    question = str(meta.get("question") or (asked[-1] if asked else user)).strip()
    sources = meta.get("sources")
    texts = (
        tuple(str(s) for s in sources)
        if isinstance(sources, list) and all(isinstance(s, str) for s in sources)
        else sources_in_prompt(user)
    )
    return Example(
        messages=tuple({"role": str(m["role"]), "content": str(m["content"])} for m in messages),
        question=question,
        answer=messages[-1]["content"].strip(),
        doc_id=_doc_id(meta, fallback=f"{origin}:{normalise_question(question)[:60]}"),
        language=str(meta.get("language") or detect_language(question)),
        origin=str(meta.get("origin") or origin),
        sources=texts,
        meta={k: v for k, v in meta.items() if k not in {"question", "sources"}},
    )


def read_examples(path: Path, *, origin: str = "feedback") -> Iterator[Example]:
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ExampleFormatError(f"{path}:{n}: not JSON ({exc.msg})") from exc
            yield example_from_json(obj, where=f"{path}:{n}", origin=origin)


def write_examples(path: Path, examples: Iterable[Example]) -> int:
    n = 0
    with path.open("w", encoding="utf-8") as fh:
        for ex in examples:
            fh.write(json.dumps(ex.to_json(), ensure_ascii=False) + "\n")
            n += 1
    return n
