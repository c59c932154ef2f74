"""Showing answers in a terminal, and the local chat (`bron chat`) that runs the same pipeline as Slack."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape

from bot.asking import (
    AskContext,
    AskResult,
    ask,
    doubtful_sentences,
    grounding_dict,
    mark_sentences,
    supporting_spans,
)
from bot.runtime import Runtime
from feedback.errors import StoreError
from feedback.resilient import save_feedback
from serving.answer import Answer, QuestionError
from serving.errors import GenerationError

SOURCES_LABEL = {"en": ("Sources", "Closest sources"), "nl": ("Bronnen", "Dichtstbijzijnde bronnen")}


def render_text(answer: Answer) -> str:
    """The answer with ⚠ before each sentence not to be taken as fact, its sources and its check."""
    lines = [mark_sentences(answer.text, doubtful_sentences(answer), "⚠"), ""]
    label = SOURCES_LABEL.get(answer.language, SOURCES_LABEL["en"])[1 if answer.abstained else 0]
    lines.append(f"{label}:")
    spans = {} if answer.abstained else supporting_spans(grounding_dict(answer))
    for c in answer.citations:
        heading = f" › {c.chunk.heading}" if c.chunk.heading else ""
        lines.append(f"[{c.number}] {c.chunk.title}{heading} ({c.chunk.location})")
        lines += [f"    “{span}”" for span in spans.get(c.number, [])]
    if answer.groundedness is not None:
        lines.append("")
        lines.append(f"Groundedness: {answer.groundedness:.2f}")
        if answer.quoted:
            lines.append("  quoted word for word: the model's own wording did not pass the check")
        stored = grounding_dict(answer)
        for s in stored.get("unsupported", []):
            lines.append(f"  ⚠ not supported by the cited sources: {s}")
        for s in stored.get("weak", []):
            lines.append(f"  ⚠ only weakly supported by the cited sources (check it there): {s}")
        if answer.uncovered_terms:
            lines.append(
                f"  ⚠ no document uses these words from the question (check the answer fits): {', '.join(answer.uncovered_terms)}"
            )
    return "\n".join(lines)


def to_json(result: AskResult) -> dict[str, Any]:
    a = result.answer
    spans = {} if a.abstained else supporting_spans(grounding_dict(a))
    return {
        "question": a.question,
        "language": a.language,
        "answer": a.text,
        "abstained": a.abstained,
        "quoted": a.quoted,
        "model": a.model,
        "interaction_id": result.interaction_id,
        "citations": [
            {
                "number": c.number,
                "chunk_id": c.chunk.chunk_id,
                "doc_id": c.chunk.doc_id,
                "title": c.chunk.title,
                "heading_path": list(c.chunk.heading_path),
                "location": c.chunk.location,
                "supporting_spans": spans.get(c.number, []),
            }
            for c in a.citations
        ],
        "retrieved": [
            {
                "rank": h.rank,
                "chunk_id": h.chunk.chunk_id,
                "doc_id": h.chunk.doc_id,
                "title": h.chunk.title,
                "heading_path": list(h.chunk.heading_path),
                "score": h.score,
                "scores": h.scores,
                "ranks": h.ranks,
                "text": h.chunk.text,
            }
            for h in a.hits
        ],
        "groundedness": grounding_dict(a) or None,
        "flags": result.flagged,
        "timings_ms": {k: round(v, 1) for k, v in a.timings_ms.items()},
    }


def chat_loop(runtime: Runtime, console: Console, *, user: str = "local-user") -> None:
    """Read questions until EOF or /quit; `/down [reason]` and `/up` rate the last answer."""
    console.print("[bold]Bron[/bold] — ask about the documents. Commands: /up, /down \\[reason], /quit")
    history: list[tuple[str, str]] = []
    last: AskResult | None = None
    while True:
        try:
            line = console.input("[bold cyan]you>[/bold cyan] ").strip()
        except (EOFError, KeyboardInterrupt):
            console.print()
            return
        if not line:
            continue
        if line in ("/quit", "/exit"):
            return
        if line.startswith(("/up", "/down")):
            if last is None or last.interaction_id is None:
                console.print("[yellow]Nothing to rate yet.[/yellow]")
                continue
            vote = "up" if line.startswith("/up") else "down"
            reason = line.split(maxsplit=1)[1] if " " in line else None
            try:
                saved = save_feedback(
                    runtime.store, last.interaction_id, vote=vote, user=user, comment=reason,
                    rules=runtime.settings.store.flags, spool=runtime.spool, source="chat",
                )  # fmt: skip
                console.print("Thanks, noted." if vote == "up" else "Thanks — flagged for review.")
                if saved.spooled:
                    console.print(
                        "[yellow]The database is down: saved locally, stored once it is back.[/yellow]"
                    )
            except StoreError as exc:
                console.print(f"[red]{escape(str(exc))}[/red]")
            continue
        try:
            # the local chat is a member's DM: it searches what every member holds, never more
            collections = tuple(runtime.settings.slack.dm_collections)
            ctx = AskContext(surface="chat", asker=user, history=tuple(history), collections=collections)
            result = ask(runtime, line, ctx)
        except (GenerationError, QuestionError) as exc:
            console.print(f"[red]{escape(str(exc))}[/red]")
            continue
        console.print(escape(render_text(result.answer)))
        last = result
        # a declined question still sets the topic its follow-up leans on ("and from age 55?")
        history.append((line, result.answer.text))
