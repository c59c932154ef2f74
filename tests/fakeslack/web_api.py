"""How the fake Web API answers each method, and the workspace state behind it.

No HTTP here: `Workspace.answer(method, args, token)` returns the JSON body Slack
would send. Messages the bot posts, updates and streams are kept per channel,
so `conversations.replies`/`history` read back what the bot (and the seeded
users) wrote, the way a bot reads thread context in real Slack.
"""

from __future__ import annotations

import copy
import itertools
import json
import threading
import time
from collections.abc import Callable
from typing import Any

from tests.fakeslack.ids import APP_ID, BOT_ID, BOT_USER_ID, TEAM_DOMAIN, TEAM_ID

Body = dict[str, Any]
Message = dict[str, Any]


def ts_key(ts: str) -> tuple[int, int]:
    """Sort key for Slack `ts` strings (seconds, then the 6-digit sequence)."""
    seconds, _, seq = ts.partition(".")
    return int(seconds), int(seq or 0)


def json_arg(value: Any) -> Any:
    """Form-encoded calls send lists and objects as JSON strings; JSON calls send them as-is."""
    if isinstance(value, str) and value[:1] in "[{":
        return json.loads(value)
    return value


def _error(code: str) -> Body:
    return {"ok": False, "error": code}


class Workspace:
    """The fake's channels, messages and views, guarded by one lock."""

    def __init__(
        self,
        *,
        socket_url: Callable[[], str],
        known_methods: frozenset[str],
        trigger_ttl: float = 3.0,
        stream_ttl: float = 300.0,
    ) -> None:
        self._lock = threading.Lock()
        self.trigger_ttl = trigger_ttl  # Slack: a trigger_id works once, within 3 s of the click
        self.stream_ttl = stream_ttl  # a stream left without appends this long is no longer streaming
        self._used_triggers: set[str] = set()
        self._stream_seen: dict[tuple[str, str], float] = {}
        self._seq = itertools.count(1)
        self._latest = (1700000000, 0)
        self._channels: dict[str, list[Message]] = {}
        self._streaming: set[tuple[str, str]] = set()
        self._socket_url = socket_url
        self.ephemerals: list[Body] = []
        self.views: list[Body] = []
        self.users: dict[str, Body] = {}
        self.replies_pages = 0
        self.usergroups: dict[str, list[str]] = {}  # user group id → member ids (usergroups.users.list)
        self.ext_shared: set[str] = set()  # channels shared with another organisation (Slack Connect)
        self.prompts: dict[str, list[Body]] = {}  # suggested prompts per DM, as an agent app sets them
        self._handlers: dict[str, Callable[[Body], Body]] = {
            "auth.test": self._auth_test,
            "apps.connections.open": lambda args: {"ok": True, "url": self._socket_url()},
            "chat.postMessage": self._post_message,
            "chat.update": self._update,
            "chat.delete": self._delete,
            "chat.postEphemeral": self._post_ephemeral,
            "chat.getPermalink": self._permalink,
            "chat.startStream": self._start_stream,
            "chat.appendStream": self._append_stream,
            "chat.stopStream": self._stop_stream,
            "conversations.replies": self._replies,
            "conversations.history": self._history,
            "reactions.add": self._react,
            "views.open": self._open_view,
            "views.push": self._open_view,
            "views.update": self._view,
            "views.publish": self._view,
            "users.info": self._user_info,
            "conversations.info": self._conversation_info,
            "usergroups.users.list": self._usergroup_members,
            "assistant.threads.setSuggestedPrompts": self._set_prompts,
        }
        self.known_methods = known_methods | frozenset(self._handlers)

    # -- public -----------------------------------------------------------------------

    def next_ts(self) -> str:
        """A `ts` after every message seen so far (100 µs steps from 1700000000.000100)."""
        seconds, micros = self._latest
        micros += 100
        self._latest = (seconds + micros // 1_000_000, micros % 1_000_000)
        return f"{self._latest[0]}.{self._latest[1]:06d}"

    def answer(self, method: str, args: Body, *, token: str | None) -> Body:
        """The body Slack would answer; auth errors first, like Slack."""
        if method not in self.known_methods:
            return _error("unknown_method")
        if not token:
            return _error("not_authed")
        if token.startswith("xapp-") != (method == "apps.connections.open"):
            return _error("not_allowed_token_type")
        handler = self._handlers.get(method)
        if handler is None:
            return {"ok": True}
        with self._lock:
            try:
                return handler(args)
            except json.JSONDecodeError:
                return _error("invalid_arguments")

    def add_message(
        self, channel: str, text: str, *, user: str, ts: str | None = None, thread_ts: str | None = None
    ) -> str:
        """Put a user's message into a channel (what Slack holds before it sends the event)."""
        with self._lock:
            if ts is not None and self._find(channel, ts) is not None:
                return ts  # a redelivered event carries a message Slack already holds
            message: Message = {"type": "message", "user": user, "text": text, "ts": ts or self.next_ts()}
            if thread_ts and thread_ts != message["ts"]:
                message["thread_ts"] = thread_ts
            self._insert(channel, message)
            return str(message["ts"])

    def remove_message(self, channel: str, ts: str) -> Message | None:
        """A person deletes their own message (what Slack has done before it sends `message_deleted`)."""
        with self._lock:
            return self._remove(channel, ts)

    def edit_message(self, channel: str, ts: str, text: str) -> tuple[Message, Message]:
        """A person edits their message: (before, after), as `message_changed` carries them."""
        with self._lock:
            message = self._find(channel, ts)
            if message is None:
                raise KeyError(f"no message {ts} in {channel}")
            before = copy.deepcopy(message)
            message["text"] = text
            message["edited"] = {"user": message.get("user"), "ts": self.next_ts()}
            return before, copy.deepcopy(message)

    def messages(self, channel: str, thread_ts: str | None = None, *, bot_only: bool = True) -> list[Message]:
        """Copies of the channel's messages (one thread if `thread_ts`), oldest first."""
        with self._lock:
            found = self._channels.get(channel, [])
            if thread_ts is not None:
                found = [m for m in found if thread_ts in (m["ts"], m.get("thread_ts"))]
            if bot_only:
                found = [m for m in found if m.get("bot_id") == BOT_ID]
            return copy.deepcopy(found)

    # -- state helpers (lock held) --------------------------------------------------------

    def _insert(self, channel: str, message: Message) -> None:
        self._latest = max(self._latest, ts_key(message["ts"]))
        messages = self._channels.setdefault(channel, [])
        messages.append(message)
        messages.sort(key=lambda m: ts_key(m["ts"]))
        parent = self._find(channel, message.get("thread_ts"))
        if parent is not None and parent is not message:
            parent["thread_ts"] = parent["ts"]
            parent["reply_count"] = parent.get("reply_count", 0) + 1
            parent["latest_reply"] = message["ts"]

    def _remove(self, channel: str, ts: str) -> Message | None:
        message = self._find(channel, ts)
        if message is None:
            return None
        self._channels[channel].remove(message)
        parent = self._find(channel, message.get("thread_ts"))
        if parent is not None and parent is not message:
            parent["reply_count"] = max(parent.get("reply_count", 1) - 1, 0)
        return message

    def _find(self, channel: str, ts: str | None) -> Message | None:
        return next((m for m in self._channels.get(channel, []) if m["ts"] == ts), None)

    def _bot_message(self, channel: str, args: Body, text: str) -> Message:
        if args.get("thread_ts"):  # a reply comes after its parent, even one the fake never stored
            self._latest = max(self._latest, ts_key(str(args["thread_ts"])))
        message: Message = {
            "type": "message",
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "team": TEAM_ID,
            "text": text,
            "ts": self.next_ts(),
        }
        for key in ("blocks", "metadata", "attachments"):
            if args.get(key):
                message[key] = json_arg(args[key])
        if args.get("thread_ts"):
            message["thread_ts"] = args["thread_ts"]
        self._insert(channel, message)
        return message

    # -- handlers (lock held) ----------------------------------------------------------

    def _auth_test(self, args: Body) -> Body:
        return {
            "ok": True,
            "url": f"https://{TEAM_DOMAIN}.slack.com/",
            "team": "Bron Test",
            "user": "bron",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _post_message(self, args: Body) -> Body:
        channel, markdown = args.get("channel"), args.get("markdown_text")
        if not channel:
            return _error("channel_not_found")
        if markdown is not None and (args.get("text") or args.get("blocks")):
            return _error("markdown_text_conflict")
        if not (args.get("text") or args.get("blocks") or markdown or args.get("attachments")):
            return _error("no_text")
        message = self._bot_message(channel, args, markdown or args.get("text") or "")
        return {"ok": True, "channel": channel, "ts": message["ts"], "message": copy.deepcopy(message)}

    def _update(self, args: Body) -> Body:
        channel, ts = args.get("channel", ""), args.get("ts")
        message = self._find(channel, ts)
        if message is None:
            return _error("message_not_found")
        if "text" in args or "markdown_text" in args:
            message["text"] = args.get("markdown_text") or args.get("text") or ""
        if "blocks" in args:
            message["blocks"] = json_arg(args["blocks"])
        message["edited"] = {"user": BOT_USER_ID, "ts": self.next_ts()}
        return {
            "ok": True,
            "channel": channel,
            "ts": ts,
            "text": message["text"],
            "message": copy.deepcopy(message),
        }

    def _delete(self, args: Body) -> Body:
        """chat.delete: a bot token deletes only the bot's own messages (others: cant_delete_message)."""
        channel, ts = str(args.get("channel") or ""), str(args.get("ts") or "")
        if not channel:
            return _error("channel_not_found")
        message = self._find(channel, ts)
        if message is None:
            return _error("message_not_found")
        if message.get("bot_id") != BOT_ID:
            return _error("cant_delete_message")
        self._remove(channel, ts)
        self._streaming.discard((channel, ts))
        return {"ok": True, "channel": channel, "ts": ts}

    def _post_ephemeral(self, args: Body) -> Body:
        if not args.get("user"):
            return _error("user_not_in_channel")
        self.ephemerals.append(dict(args))
        return {"ok": True, "message_ts": self.next_ts()}

    def _permalink(self, args: Body) -> Body:
        channel, ts = args.get("channel", ""), str(args.get("message_ts", ""))
        link = f"https://{TEAM_DOMAIN}.slack.com/archives/{channel}/p{ts.replace('.', '')}"
        return {"ok": True, "channel": channel, "permalink": link}

    @staticmethod
    def _stream_text(args: Body) -> str:
        chunks = json_arg(args.get("chunks")) or []
        streamed = "".join(c.get("text", "") for c in chunks if c.get("type") == "markdown_text")
        return str(args.get("markdown_text") or "") + streamed

    def _start_stream(self, args: Body) -> Body:
        channel = args.get("channel")
        if not channel or not args.get("thread_ts"):
            return _error("invalid_arguments")
        if not str(channel).startswith("D"):  # outside a DM Slack must be told whom the stream is for
            if not args.get("recipient_team_id"):
                return _error("missing_recipient_team_id")
            if not args.get("recipient_user_id"):
                return _error("missing_recipient_user_id")
        message = self._bot_message(channel, {"thread_ts": args["thread_ts"]}, self._stream_text(args))
        self._streaming.add((channel, message["ts"]))
        self._stream_seen[(channel, message["ts"])] = time.monotonic()
        return {"ok": True, "channel": channel, "ts": message["ts"]}

    def _append_stream(self, args: Body) -> Body:
        channel, ts = args.get("channel", ""), args.get("ts", "")
        message = self._find(channel, ts)
        if message is None:
            return _error("message_not_found")
        seen = self._stream_seen.get((channel, ts), 0.0)
        if (channel, ts) in self._streaming and time.monotonic() - seen > self.stream_ttl:
            self._streaming.discard((channel, ts))  # expired: Slack ends a stream left idle
        if (channel, ts) not in self._streaming:
            return _error("message_not_in_streaming_state")
        self._stream_seen[(channel, ts)] = time.monotonic()
        message["text"] += self._stream_text(args)
        return {"ok": True, "channel": channel, "ts": ts}

    def _stop_stream(self, args: Body) -> Body:
        answer = self._append_stream(args)
        if answer["ok"]:
            message = self._find(answer["channel"], answer["ts"])
            assert message is not None
            for key in ("blocks", "metadata"):
                if args.get(key):
                    message[key] = json_arg(args[key])
            self._streaming.discard((answer["channel"], answer["ts"]))
            answer["message"] = copy.deepcopy(message)
        return answer

    def _replies(self, args: Body) -> Body:
        channel, ts = args.get("channel", ""), args.get("ts")
        thread = [m for m in self._channels.get(channel, []) if ts in (m["ts"], m.get("thread_ts"))]
        if not thread:
            return _error("thread_not_found")
        limit = int(args.get("limit") or 1000)
        start = int(str(args.get("cursor") or "0").removeprefix("offset:") or 0)
        page = thread[start : start + limit]
        more = start + limit < len(thread)
        self.replies_pages += 1
        return {
            "ok": True,
            "messages": copy.deepcopy(page),
            "has_more": more,
            "response_metadata": {"next_cursor": f"offset:{start + limit}" if more else ""},
        }

    def _history(self, args: Body) -> Body:
        top = [
            m
            for m in self._channels.get(args.get("channel", ""), [])
            if m.get("thread_ts", m["ts"]) == m["ts"]
        ]
        limit = int(args.get("limit") or 100)
        newest_first = list(reversed(top))
        return {
            "ok": True,
            "messages": copy.deepcopy(newest_first[:limit]),
            "has_more": len(top) > limit,
            "response_metadata": {"next_cursor": ""},
        }

    def _react(self, args: Body) -> Body:
        """Reactions on messages the fake never saw are accepted, so tests need not seed every message."""
        message = self._find(args.get("channel", ""), args.get("timestamp"))
        if message is None:
            return {"ok": True}
        reactions = message.setdefault("reactions", [])
        existing = next((r for r in reactions if r["name"] == args.get("name")), None)
        if existing is not None and BOT_USER_ID in existing["users"]:
            return _error("already_reacted")
        if existing is None:
            reactions.append({"name": args.get("name"), "users": [BOT_USER_ID], "count": 1})
        else:
            existing["users"].append(BOT_USER_ID)
            existing["count"] += 1
        return {"ok": True}

    def _open_view(self, args: Body) -> Body:
        """views.open / views.push: the trigger_id must be fresh (3 s) and unused."""
        trigger = str(args.get("trigger_id") or "")
        if not trigger:
            return _error("invalid_arguments")
        issued = trigger.split(".")
        if (
            len(issued) == 3
            and issued[1].isdigit()
            and time.time() - int(issued[1]) / 1000 > self.trigger_ttl
        ):
            return _error("expired_trigger_id")
        if trigger in self._used_triggers:
            return _error("exchanged_trigger_id")
        self._used_triggers.add(trigger)
        return self._view(args)

    def _view(self, args: Body) -> Body:
        view = dict(json_arg(args.get("view")) or {})
        view.setdefault("id", args.get("view_id") or f"V{next(self._seq):010d}")
        view.update({"team_id": TEAM_ID, "app_id": APP_ID, "bot_id": BOT_ID, "state": {"values": {}}})
        view["hash"] = f"{self.next_ts()}.hash"
        self.views.append(copy.deepcopy(view))
        return {"ok": True, "view": view}

    def _set_prompts(self, args: Body) -> Body:
        """An agent app's prompts belong to the DM; with a `thread_ts` Slack answers ok and ignores them."""
        if not args.get("channel_id"):
            return _error("channel_not_found")
        if not args.get("thread_ts"):
            self.prompts[str(args["channel_id"])] = list(json_arg(args.get("prompts")) or [])
        return {"ok": True}

    def _usergroup_members(self, args: Body) -> Body:
        group = str(args.get("usergroup", ""))
        if group not in self.usergroups:
            return _error("no_such_subteam")
        return {"ok": True, "users": list(self.usergroups[group])}

    def _conversation_info(self, args: Body) -> Body:
        channel = str(args.get("channel", ""))
        if not channel:
            return _error("channel_not_found")
        shared = channel in self.ext_shared
        return {"ok": True, "channel": {
            "id": channel, "is_channel": channel.startswith("C"), "is_group": channel.startswith("G"),
            "is_im": channel.startswith("D"), "is_private": not channel.startswith("C"),
            "is_shared": shared, "is_ext_shared": shared, "is_org_shared": False, "is_pending_ext_shared": False,
            "shared_team_ids": [TEAM_ID, "T0OTHERORG1"] if shared else [TEAM_ID],
        }}  # fmt: skip

    def _user_info(self, args: Body) -> Body:
        user_id = str(args.get("user", ""))
        default = {
            "id": user_id,
            "team_id": TEAM_ID,
            "name": f"user-{user_id.lower()}",
            "real_name": f"User {user_id}",
            "tz": "Europe/Amsterdam",
            "locale": "nl-NL",
            "is_bot": False,
            "deleted": False,
            "profile": {"display_name": f"user-{user_id.lower()}", "real_name": f"User {user_id}"},
        }
        return {"ok": True, "user": self.users.get(user_id, default)}
