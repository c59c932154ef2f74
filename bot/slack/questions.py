"""Turning Slack payloads into questions, and deciding which messages Bron answers.

Pure functions of the payload and the settings, so the routing rules (mention needed or not, which
collections a channel may search) are tested without Slack.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Literal

from bot.settings import SlackSettings

_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
_LINK = re.compile(r"https://[^/\s]+\.slack\.com/archives/([CDG][A-Z0-9]+)/p(\d{10})(\d{6})(?:\?\S*)?")

Route = Literal["answer", "follow_up", "files_only", "ignore"]
# `file_share`: a file with (maybe) words; `thread_broadcast`: a thread reply also sent to the channel.
HANDLED_SUBTYPES = (None, "file_share", "thread_broadcast")


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
    """DMs search only `dm_collections`; a configured channel its own list; others (group DMs too,
    which several people read) `default_collections`."""
    if is_dm:
        return tuple(settings.dm_collections)
    policy = settings.channels.get(channel)
    return tuple(policy.collections if policy is not None else settings.default_collections)


QUESTION_WORDS = frozenset((
    "what", "when", "where", "which", "who", "whom", "whose", "why", "how", "wat", "wanneer", "waar",
    "waarom", "welke", "welk", "wie", "wiens", "hoe", "hoeveel", "hoelang", "waarmee", "waarvoor",
    "waarover", "waaraan", "waarop",
))  # fmt: skip
# English yes/no questions open with an auxiliary ("Can I…", "Is it…"); Dutch ones with the finite
# verb followed by its subject ("Mag ik…", "Krijg je…"), where a statement puts the verb second
# ("Dan krijg ik…"): so any first word followed by a Dutch subject pronoun. "we" is left out, since
# English statements open with "So we…". A leading "and", "en", "but", "maar", "so", "dus" is skipped.
AUXILIARIES = frozenset((
    "am", "is", "are", "was", "were", "do", "does", "did", "can", "could", "shall", "should", "will",
    "would", "may", "might", "must", "have", "has", "had",
))  # fmt: skip
DUTCH_SUBJECTS = frozenset(("ik", "je", "jij", "u", "hij", "zij", "ze", "het", "wij", "jullie", "men", "er"))
_LEADING = frozenset(("and", "en", "but", "maar", "so", "dus", "ok", "oké", "okay"))
ACKNOWLEDGEMENTS = frozenset(
    (
        "thanks", "thank you", "thanks a lot", "thank you very much", "thx", "ty", "cheers", "ok", "okay",
        "oké", "oke", "great", "perfect", "cool", "nice", "got it", "top", "super", "prima", "helder",
        "duidelijk", "dank", "dank je", "dank je wel", "dankjewel", "dank u", "dank u wel", "dankuwel",
        "bedankt", "merci", "mooi", "fijn", "ok thanks", "ok dank je", "top dank je", "super bedankt",
    )
)  # fmt: skip
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")
_EMOJI = re.compile(r":[a-z0-9_+'-]+:(?::skin-tone-\d:)?")  # Slack writes emoji as :name:


def _words(text: str) -> list[str]:
    """Lower-cased words, without mentions and emoji."""
    return [w.lower() for w in _WORD.findall(_EMOJI.sub(" ", _MENTION.sub(" ", text)))]


def looks_like_question(text: str) -> bool:
    """A question mark, a Dutch or English question word first, or a verb-first (inverted) opening."""
    if "?" in text:
        return True
    words = _words(text)
    while words and words[0] in _LEADING:
        words = words[1:]
    if not words:
        return False
    if words[0] in QUESTION_WORDS or (words[0] in AUXILIARIES and len(words) > 1):
        return True
    return len(words) > 2 and words[1] in DUTCH_SUBJECTS and words[0] not in DUTCH_SUBJECTS


def is_acknowledgement(text: str) -> bool:
    """`thanks`, `top`, `dank je wel!`, or only emoji and punctuation: nothing to answer."""
    words = _words(text)
    return not words or " ".join(words) in ACKNOWLEDGEMENTS


def answers_in_thread(text: str, *, user: str, askers: Collection[str], bot_user_id: str | None) -> bool:
    """The thread rule, for a reply in a channel thread Bron answered (decidable from the text alone):

    answer when the message mentions Bron, or when it comes from someone Bron answered in this
    thread, mentions nobody else and reads as a question; never an acknowledgement or emoji only,
    never a message that mentions someone else and not Bron.
    """
    mentioned = {m.group(1) for m in _MENTION.finditer(text)}
    if bot_user_id in mentioned:
        return not is_acknowledgement(text)
    if mentioned or is_acknowledgement(text):
        return False
    return user in askers and looks_like_question(text)


def route_message(event: dict[str, Any], settings: SlackSettings, *, bot_user_id: str | None) -> Route:
    """What to do with a `message` event (mentions are answered by the `app_mention` listener).

    DMs are answered unless they are only an acknowledgement; a reply in a channel or group-DM thread
    may be a follow-up (the caller applies `answers_in_thread` with the thread's askers); a top-level
    message only in an `answer_all` channel, and only a question. A file shared with words is read as
    its words; a message sent "also to the channel" from a thread is a thread reply.
    """
    if event.get("subtype") not in HANDLED_SUBTYPES or event.get("bot_id") or not event.get("user"):
        return "ignore"
    if event.get("user") == bot_user_id:
        return "ignore"
    if not event.get("text"):
        return "files_only" if event.get("files") and event.get("channel_type") == "im" else "ignore"
    if event.get("channel_type") == "im":
        return "ignore" if is_acknowledgement(event["text"]) else "answer"
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
    # a group DM (mpim) is read by all its members: it is scoped like a channel, not as the asker's DM
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
