"""Which collections one person may search from one place in Slack.

A person holds `dm_collections` (every full member of the workspace) plus the collections granted
to the Slack user groups they belong to (`group_collections`, read with `usergroups.users.list`).
A DM searches what the person holds; a channel answer is read by the whole channel, so it searches
only what both the channel (`channels`, else `default_collections`) and the asker hold, and in a
channel shared with another organisation (Slack Connect) only what `external_collections` allows.
Guests (`is_restricted`, `is_ultra_restricted`) hold `guest_collections`, people from another
organisation `external_collections`; both are empty unless set. Whatever Slack cannot confirm (an
API error, an unknown user) grants nothing. Answers from `users.info` and group member lists are
cached for `access_cache_s`, so a question costs no Web API call in the common case.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeVar

from slack_sdk import WebClient
from slack_sdk.errors import SlackClientError

from bot.settings import SlackSettings
from bot.slack.questions import Question, collections_for

log = logging.getLogger(__name__)
T = TypeVar("T")


class SlackAccess:
    """Resolves a person's scope; holds only caches, so one instance serves every listener."""

    def __init__(self, settings: SlackSettings, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self._clock = clock
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str], tuple[float, Any]] = {}

    def _cached(self, key: tuple[str, str], fetch: Callable[[], T]) -> T:
        now = self._clock()
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and now - hit[0] < self.settings.access_cache_s:
                return hit[1]  # type: ignore[no-any-return]
        value = fetch()  # raises on a Slack error: nothing is cached, the next question asks again
        with self._lock:
            self._cache[key] = (now, value)
        return value

    def _home(self, client: WebClient) -> tuple[str | None, str | None]:
        def fetch() -> tuple[str | None, str | None]:
            auth = client.auth_test()
            return auth.get("team_id"), auth.get("enterprise_id")

        return self._cached(("auth", ""), fetch)

    def _user(self, client: WebClient, user: str) -> dict[str, Any]:
        return self._cached(("user", user), lambda: dict(client.users_info(user=user)["user"]))

    def _members(self, client: WebClient, group: str) -> frozenset[str]:
        return self._cached(
            ("group", group),
            lambda: frozenset(client.usergroups_users_list(usergroup=group).get("users") or []),
        )

    def person(self, client: WebClient, user: str) -> tuple[str, ...]:
        """The collections `user` holds anywhere; none when Slack cannot say who they are."""
        s = self.settings
        try:
            info = self._user(client, user)
            team, enterprise = self._home(client)
        except (SlackClientError, KeyError) as exc:
            log.warning("access of %s not established, nothing granted: %s", user, exc)
            return ()
        if info.get("deleted") or info.get("is_bot"):
            return ()
        if info.get("is_restricted") or info.get("is_ultra_restricted"):
            return tuple(s.guest_collections)
        user_enterprise = (info.get("enterprise_user") or {}).get("enterprise_id")
        same_org = info.get("team_id") == team or (enterprise is not None and user_enterprise == enterprise)
        if not same_org:
            return tuple(s.external_collections)
        held = list(s.dm_collections)
        for group, collections in s.group_collections.items():
            try:
                if user in self._members(client, group):
                    held += collections
            except SlackClientError as exc:
                log.warning("members of user group %s not read, its collections not granted: %s", group, exc)
        return tuple(dict.fromkeys(held))

    def shared_externally(self, client: WebClient, channel: str) -> bool:
        """Whether people of another organisation can read `channel` (Slack Connect).

        Slash commands and buttons carry no such flag, unlike events, so `conversations.info` is asked;
        when Slack cannot say, the answer is yes (fail closed).
        """

        def fetch() -> bool:
            info = client.conversations_info(channel=channel).get("channel") or {}
            return bool(info.get("is_ext_shared") or info.get("is_pending_ext_shared"))

        try:
            return self._cached(("conversation", channel), fetch)
        except SlackClientError as exc:
            log.warning("sharing of %s not established, treated as shared with another organisation: %s",
                        channel, exc)  # fmt: skip
            return True

    def audience(self, client: WebClient, channel: str) -> tuple[str, ...]:
        """What everyone who can read `channel` may see: its collections, narrowed in Slack Connect."""
        if channel.startswith("D"):  # a 1:1 DM with Bron: read by the asker alone
            return tuple(collections_for(self.settings, channel, is_dm=True))
        allowed = collections_for(self.settings, channel, is_dm=False)
        if self.shared_externally(client, channel):
            return tuple(c for c in allowed if c in self.settings.external_collections)
        return tuple(allowed)

    def scope(
        self, client: WebClient, *, user: str, channel: str, is_dm: bool, shared_externally: bool = False
    ) -> tuple[str, ...]:
        """What a question from `user` in `channel` may search (DM: the person's; else the intersection)."""
        held = self.person(client, user)
        if is_dm:
            return held
        allowed = set(collections_for(self.settings, channel, is_dm=False))
        if shared_externally:
            allowed &= set(self.settings.external_collections)
        return tuple(c for c in held if c in allowed)

    def scoped(self, client: WebClient, question: Question, *, shared_externally: bool = False) -> Question:
        """`question` with the collections its asker may search where they asked."""
        scope = self.scope(client, user=question.user, channel=question.channel, is_dm=question.is_dm,
                           shared_externally=shared_externally)  # fmt: skip
        return replace(question, collections=scope)
