"""Building the prompt: numbered, delimited sources that fit the model's window.

Source text is wrapped in <source> tags with markup-like sequences neutralised, so an instruction
inside a document ("ignore previous instructions") reaches the model as quoted data. The budget is
in tokens, estimated from characters (about 3.5 per token for Dutch and English subword vocabularies),
with a margin; exact counting would need the server's tokenizer on every request.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

from openai.types.chat import ChatCompletionMessageParam

from retrieval.types import Chunk, Hit

LANGUAGE_NAMES = {"nl": "Dutch", "en": "English"}


def estimate_tokens(text: str) -> int:
    return int(len(text) / 3.5) + 1


def _prompt(name: str) -> str:
    return resources.files("serving").joinpath("prompts", name).read_text(encoding="utf-8")


def _neutralise(text: str) -> str:
    return text.replace("<", "‹").replace(">", "›")


def source_text(chunk: Chunk) -> str:
    """A source as the model reads it: title and section, then the text.

    The groundedness check must read the same, or a name the model took from a title ("the Order of
    Patrons of Husbandry") counts as invented.
    """
    lines = [chunk.title, chunk.heading if chunk.heading not in ("", chunk.title) else "", chunk.text]
    return "\n".join(line for line in lines if line)


@dataclass(frozen=True)
class Context:
    messages: list[ChatCompletionMessageParam]
    sources: list[Hit]


def build_context(
    question: str,
    hits: list[Hit],
    *,
    language: str,
    token_budget: int,
    history: list[tuple[str, str]] | None = None,
) -> Context:
    """Fit the best hits (in rank order) into `token_budget`; sources are numbered from 1 in that order.

    `history` is earlier (question, answer) turns of the same thread, oldest first, kept short.
    """
    lang = LANGUAGE_NAMES.get(language, "English")
    system = _prompt("system.txt").format(language=lang)
    template = _prompt("user.txt")
    used = estimate_tokens(system) + estimate_tokens(template) + estimate_tokens(question)
    turns: list[ChatCompletionMessageParam] = []
    for q, a in (history or [])[-3:]:
        turns += [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
        used += estimate_tokens(q) + estimate_tokens(a)
    blocks: list[str] = []
    chosen: list[Hit] = []
    for hit in hits:
        c = hit.chunk
        heading = _neutralise(c.heading or c.title)
        block = (
            f'<source id="{len(chosen) + 1}" title="{_neutralise(c.title)}" section="{heading}">\n'
            f"{_neutralise(c.text)}\n</source>"
        )
        cost = estimate_tokens(block)
        if used + cost > token_budget:
            if chosen:
                continue
            block = block[: int((token_budget - used) * 3.5)] + "\n</source>"
        blocks.append(block)
        chosen.append(hit)
        used += cost
    user = template.format(sources="\n".join(blocks), question=question, language=lang)
    messages: list[ChatCompletionMessageParam] = [{"role": "system", "content": system}, *turns]
    messages.append({"role": "user", "content": user})
    return Context(messages=messages, sources=chosen)
