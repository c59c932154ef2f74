"""Turning Slack payloads into questions, and deciding which messages Bron answers.

Pure functions of the payload and the settings, so the routing rules (mention needed or not, which
collections a channel may search) are tested without Slack.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from bot.settings import SlackSettings

_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
_LINK = re.compile(r"https://[^/\s]+\.slack\.com/archives/([CDG][A-Z0-9]+)/p(\d{10})(\d{6})(?:\?\S*)?")

Route = Literal["answer", "follow_up", "ignore"]


@dataclass(frozen=True)
class Question:
    """One question to answer, and where the answer goes."""

    text: str
    channel: str
    user: str
    ts: str
    thread_ts: str
    team_id: str | None
    surface: str
    collections: tuple[str, ...]
    is_dm: bool = False


def strip_mention(text: str, bot_user_id: str | None) -> str:
    """Remove the bot's own mention; other people's mentions stay (they can be part of the question)."""
    if bot_user_id:
        text = re.sub(rf"<@{re.escape(bot_user_id)}(?:\|[^>]*)?>", " ", text)
    return " ".join(text.split())


def mentions(text: str, user_id: str | None) -> bool:
    return user_id is not None and any(m.group(1) == user_id for m in _MENTION.finditer(text))


def collections_for(settings: SlackSettings, channel: str, *, is_dm: bool) -> tuple[str, ...]:
    """DMs search only `dm_collections`; a configured channel its own list; others `default_collections`."""
    if is_dm:
        return tuple(settings.dm_collections)
    policy = settings.channels.get(channel)
    return tuple(policy.collections if policy is not None else settings.default_collections)


def looks_like_question(text: str) -> bool:
    return text.rstrip().endswith("?")


def route_message(event: dict[str, Any], settings: SlackSettings, *, bot_user_id: str | None) -> Route:
    """What to do with a `message` event (mentions are answered by the `app_mention` listener).

    DMs are always answered; a reply in a thread may be a follow-up (the caller checks that Bron
    answered in that thread); a top-level message only in an `answer_all` channel, and only a question.
    """
    if event.get("subtype") or event.get("bot_id") or not event.get("user") or not event.get("text"):
        return "ignore"
    if event.get("user") == bot_user_id:
        return "ignore"
    if event.get("channel_type") == "im":
        return "answer"
    if mentions(event["text"], bot_user_id):
        return "ignore"  # the app_mention event for the same message answers it
    thread_ts = event.get("thread_ts")
    if thread_ts and thread_ts != event.get("ts"):
        return "follow_up"
    policy = settings.channels.get(event.get("channel", ""))
    if policy is not None and policy.answer_all and looks_like_question(event["text"]):
        return "answer"
    return "ignore"


def question_from_event(
    event: dict[str, Any],
    settings: SlackSettings,
    *,
    bot_user_id: str | None,
    team_id: str | None,
    surface: str,
) -> Question:
    channel = str(event["channel"])
    is_dm = event.get("channel_type") == "im" or channel.startswith("D")
    ts = str(event["ts"])
    return Question(
        text=strip_mention(str(event.get("text", "")), bot_user_id),
        channel=channel,
        user=str(event.get("user", "")),
        ts=ts,
        thread_ts=str(event.get("thread_ts") or ts),
        team_id=team_id or event.get("team"),
        surface=surface,
        collections=collections_for(settings, channel, is_dm=is_dm),
        is_dm=is_dm,
    )


def parse_message_link(text: str) -> tuple[str, str] | None:
    """`https://x.slack.com/archives/C123/p1700000000000100` → ("C123", "1700000000.000100")."""
    match = _LINK.search(text.strip().strip("<>"))
    if match is None:
        return None
    return match.group(1), f"{match.group(2)}.{match.group(3)}"


def strip_message_link(text: str) -> str:
    """The text around a message link (what `/bron-sources <link> words` searches when the link is no answer)."""
    return " ".join(_LINK.sub(" ", text.replace("<", " ").replace(">", " ")).split())


def is_thumbs(reaction: str) -> Literal["up", "down"] | None:
    """`-1`, `thumbsdown` (any skin tone) → down; `+1`, `thumbsup` → up; anything else → None."""
    base = reaction.split("::", 1)[0]
    if base in ("-1", "thumbsdown"):
        return "down"
    if base in ("+1", "thumbsup"):
        return "up"
    return None
