"""Block Kit for answers, sources and flags; pure functions from `Answer` (or stored rows) to dicts.

Built with slack_sdk's Block Kit models, which check Slack's own limits (lengths, counts) as they are
made, and turned into the dicts the Web API calls take.

An answer message is: the text with its [n] markers (sentences the grounding check could not
support marked with ⚠️), the numbered sources as links, a groundedness line, the feedback buttons
and a Sources button. The buttons carry the interaction id, so a click finds its answer even on an
ephemeral message that has no channel/ts Bron could look up.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ContextActionsBlock,
    ContextBlock,
    FeedbackButtonObject,
    FeedbackButtonsElement,
    MarkdownTextObject,
    SectionBlock,
)

from bot.asking import doubtful_sentences, grounding_dict, mark_sentences
from bot.slack.escaping import escape_answer, escape_mrkdwn, slack_link
from bot.slack.texts import score, text
from feedback.models import Flag, RetrievedChunk
from retrieval.types import Hit
from serving.answer import Answer

Block = dict[str, Any]

FEEDBACK_ACTION = "bron_feedback"
SOURCES_ACTION = "bron_sources"
FEEDBACK_DETAILS_ACTION = "bron_feedback_details"
SECTION_LIMIT = 3000
WARNING = "⚠️"

escape = escape_mrkdwn  # the name the other Slack modules import


def section(mrkdwn: str) -> Block:
    return SectionBlock(text=MarkdownTextObject(text=mrkdwn)).to_dict()


def context_line(mrkdwn: str) -> Block:
    return ContextBlock(elements=[MarkdownTextObject(text=mrkdwn)]).to_dict()


def button_row(action_id: str, label: str, value: str) -> Block:
    """One button in an actions block; `value` carries what the click needs (an interaction id)."""
    return ActionsBlock(elements=[ButtonElement(action_id=action_id, text=label, value=value)]).to_dict()


def source_line(number: int, *, title: str, heading: str, location: str) -> str:
    """`[1] <url|Title › Heading>` for a web page, `[1] Title › Heading — `path`` for a file.

    The location comes from a document's front matter (or a stored row), so it is percent-encoded
    into the link, and shown as escaped text when it is no plain http(s) address.
    """
    label = f"{title} › {heading}" if heading else title
    link = slack_link(location, label)
    if link is not None:
        return f"[{number}] {link}"
    shown = escape(location).replace("`", "'")
    return f"[{number}] {escape(label)} — `{shown}`"


def marked_text(answer: Answer) -> str:
    """The answer as mrkdwn, each sentence the grounding check did not support, or supported only
    within its margin, prefixed with ⚠️: a guess is never shown as a fact."""
    return mark_sentences(
        escape_answer(answer.text), [escape_answer(s) for s in doubtful_sentences(answer)], WARNING
    )


def text_sections(body: str) -> list[Block]:
    """Sections of at most 3000 characters (Slack's limit), split at paragraph or line ends."""
    blocks: list[Block] = []
    while body:
        if len(body) <= SECTION_LIMIT:
            piece, body = body, ""
        else:
            cut = max(body.rfind("\n", 0, SECTION_LIMIT), body.rfind(" ", 0, SECTION_LIMIT))
            cut = cut if cut > 0 else SECTION_LIMIT
            piece, body = body[:cut], body[cut:].lstrip()
        blocks.append(section(piece))
    return blocks


def feedback_actions(interaction_id: str) -> Block:
    return ContextActionsBlock(
        elements=[
            FeedbackButtonsElement(
                action_id=FEEDBACK_ACTION,
                positive_button=FeedbackButtonObject(
                    text="👍", value=f"up:{interaction_id}", accessibility_label="Good answer"
                ),
                negative_button=FeedbackButtonObject(
                    text="👎", value=f"down:{interaction_id}", accessibility_label="Bad answer"
                ),
            )
        ]
    ).to_dict()


def answer_footer(answer: Answer, *, interaction_id: str | None) -> list[Block]:
    """Sources, groundedness and buttons: what follows the answer text (a streamed answer's final blocks)."""
    lang = answer.language
    lines = [
        source_line(c.number, title=c.chunk.title, heading=c.chunk.heading, location=c.chunk.location)
        for c in answer.citations
    ]
    blocks: list[Block] = []
    if lines:
        label = text(lang, "closest" if answer.abstained else "sources")
        blocks += text_sections(f"*{label}*\n" + "\n".join(lines))
    if answer.groundedness is not None:
        context = [text(lang, "grounded", score=score(lang, answer.groundedness))]
        if answer.quoted:
            context.append(text(lang, "quoted"))
        stored = grounding_dict(answer)
        if stored.get("unsupported"):
            context.append(text(lang, "unsupported"))
        if stored.get("weak"):
            context.append(text(lang, "weak"))
        if answer.uncovered_terms:
            context.append(text(lang, "uncovered", terms=", ".join(answer.uncovered_terms)))
        blocks.append(context_line(" · ".join(context)))
    if interaction_id is not None:
        blocks.append(feedback_actions(interaction_id))
        blocks.append(button_row(SOURCES_ACTION, text(lang, "sources_button"), interaction_id))
    return blocks


def answer_blocks(answer: Answer, *, interaction_id: str | None) -> list[Block]:
    """The whole answer message, for posting or updating (the non-streamed path)."""
    return text_sections(marked_text(answer)) + answer_footer(answer, interaction_id=interaction_id)


def chunk_blocks(
    title_line: str,
    chunks: Sequence[RetrievedChunk],
    *,
    spans: Mapping[int, Sequence[str]] | None = None,
    language: str = "en",
) -> list[Block]:
    """The chunks an earlier answer used (`/bron-sources <link>` and the Sources button).

    A cited chunk shows the sentences of it the answer rests on (`spans`, per citation number, from
    `bot.asking.supporting_spans`), so that a person can check the citation; other chunks a snippet.
    """
    blocks: list[Block] = [section(f"*{escape(_snippet(title_line, 300))}*")]
    for number, chunk in enumerate(chunks, start=1):
        line = source_line(
            chunk.citation or number, title=chunk.title, heading=chunk.heading, location=chunk.location
        )
        supporting = (spans or {}).get(chunk.citation or 0, [])
        if supporting:
            quoted = "\n".join(f">{escape(_snippet(span, 600))}" for span in supporting)
            blocks += text_sections(f"{line}\n_{text(language, 'supporting')}_\n{quoted}")
        else:
            blocks += text_sections(f"{line}\n>{escape(_snippet(chunk.snippet))}")
    return blocks[:50]


def hit_blocks(title_line: str, hits: Iterable[Hit]) -> list[Block]:
    """A plain source search: no generation, just the chunks and where they are."""
    blocks: list[Block] = [section(f"*{escape(_snippet(title_line, 300))}*")]
    for hit in hits:
        c = hit.chunk
        line = source_line(hit.rank, title=c.title, heading=c.heading, location=c.location)
        blocks += text_sections(f"{line}\n>{escape(_snippet(c.text))}")
    return blocks[:50]


def flag_blocks(title_line: str, flags: Sequence[Flag]) -> list[Block]:
    blocks: list[Block] = [section(f"*{escape(_snippet(title_line, 300))}*")]
    for flag in flags:
        i = flag.interaction
        when = flag.created_at.strftime("%Y-%m-%d %H:%M")
        where = f" in <#{i.channel}>" if i.channel and i.channel.startswith(("C", "G")) else ""
        grounded = f", grounded {i.groundedness:.2f}" if i.groundedness is not None else ""
        blocks += text_sections(
            f"*#{flag.id}* {when}{where}: {escape(', '.join(flag.reasons))}{grounded}\n"
            f"*Q:* {escape(_snippet(i.question, 200))}\n*A:* {escape(_snippet(i.answer, 300))}"
        )
    return blocks[:50]


def _snippet(value: str, limit: int = 280) -> str:
    flat = " ".join(value.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"
