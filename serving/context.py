"""Building the prompt: numbered, delimited sources that fit the model's window.

Source text is wrapped in <source> tags with markup-like sequences neutralised, so an instruction
inside a document ("ignore previous instructions") reaches the model as quoted data. The budget is
in tokens, estimated from characters (about 3.5 per token for Dutch and English subword vocabularies),
with a margin; exact counting would need the server's tokenizer on every request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from importlib import resources

from openai.types.chat import ChatCompletionMessageParam

from retrieval.types import Chunk, Hit
from serving.verification import strip_markers

LANGUAGE_NAMES = {"nl": "Dutch", "en": "English"}
# the conversation before a follow-up: the last few turns, each answer cut short, and at most this
# share of the budget, so that the sources keep the room
HISTORY_TURNS = 3
HISTORY_ANSWER_CHARS = 300
HISTORY_SHARE = 0.25
HISTORY_LEAD = {
    "en": "Earlier in this conversation (to understand the question; not a source):",
    "nl": "Eerder in dit gesprek (om de vraag te begrijpen; geen bron):",
}


CHARS_PER_TOKEN = 3.5


def estimate_tokens(text: str) -> int:
    return int(len(text) / CHARS_PER_TOKEN) + 1


def _prompt(name: str) -> str:
    return resources.files("serving").joinpath("prompts", name).read_text(encoding="utf-8")


# a question may take this share of the token budget; the rest is for the sources
QUESTION_SHARE = 0.4


def max_question_chars(token_budget: int) -> int:
    """The longest question that still leaves the sources their room in the prompt."""
    return int(token_budget * QUESTION_SHARE * CHARS_PER_TOKEN)


def _neutralise(text: str) -> str:
    return text.replace("<", "‹").replace(">", "›")


def _attribute(text: str) -> str:
    """A title or section inside `<source ... title="...">`: a `"` or line break must not end it."""
    return " ".join(_neutralise(text).replace('"', "'").split())


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
    # each source as the prompt showed it (`source_text`, cut where the budget cut it): what the check reads
    texts: list[str] = field(default_factory=list)


def build_context(
    question: str,
    hits: list[Hit],
    *,
    language: str,
    token_budget: int,
    history: list[tuple[str, str]] | None = None,
) -> Context:
    """Fit the best hits (in rank order) into `token_budget`; sources are numbered from 1 in that order.

    `history` is earlier (question, answer) turns of the same conversation, oldest first: given only
    for a follow-up (serving.conversation), it goes before the sources in a <history> block of its
    own (`history_block`), so the model reads it as what was said, never as a source to cite.
    """
    lang = LANGUAGE_NAMES.get(language, "English")
    system = _prompt("system.txt").format(language=lang)
    template = _prompt("user.txt")
    used = estimate_tokens(system) + estimate_tokens(template) + estimate_tokens(question)
    earlier = history_block(history or [], language=language, token_budget=int(token_budget * HISTORY_SHARE))
    used += estimate_tokens(earlier)
    blocks: list[str] = []
    chosen: list[Hit] = []
    texts: list[str] = []
    for hit in hits:
        c = hit.chunk
        head = f'<source id="{len(chosen) + 1}" title="{_attribute(c.title)}" section="{_attribute(c.heading or c.title)}">\n'
        body = _neutralise(c.text)
        cost = estimate_tokens(head + body) + 3
        if used + cost > token_budget:
            if chosen:
                continue
            # the best source, cut to the room left (at least a few lines of it)
            keep = max(int((token_budget - used) * CHARS_PER_TOKEN) - len(head) - 12, 400)
            body = body[:keep]
            c = replace(c, text=c.text[:keep])
        blocks.append(f"{head}{body}\n</source>")
        chosen.append(hit)
        texts.append(source_text(c))
        used += cost
    user = template.format(sources="\n".join(blocks), question=_neutralise(question), language=lang)
    messages: list[ChatCompletionMessageParam] = [
        {"role": "system", "content": system},
        {"role": "user", "content": f"{earlier}\n\n{user}" if earlier else user},
    ]
    return Context(messages=messages, sources=chosen, texts=texts)


def history_block(history: Sequence[tuple[str, str]], *, language: str, token_budget: int) -> str:
    """The last HISTORY_TURNS turns as a delimited block, newest kept first when the budget is short.

    Answers lose their [n] markers (they pointed at that turn's sources, not this one's) and are cut
    to HISTORY_ANSWER_CHARS; the text is neutralised like a source's, so it cannot close the block.
    """
    lines: list[str] = []
    used = 0
    for q, a in reversed(list(history)[-HISTORY_TURNS:]):
        answer = strip_markers(a)
        if len(answer) > HISTORY_ANSWER_CHARS:
            answer = answer[:HISTORY_ANSWER_CHARS].rsplit(" ", 1)[0] + " …"
        turn = f"Q: {_neutralise(q)}\nA: {_neutralise(answer)}"
        if used + estimate_tokens(turn) > token_budget:
            break
        lines.insert(0, turn)
        used += estimate_tokens(turn)
    if not lines:
        return ""
    lead = HISTORY_LEAD.get(language, HISTORY_LEAD["en"])
    return f"{lead}\n<history>\n" + "\n".join(lines) + "\n</history>"
