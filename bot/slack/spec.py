"""What the Slack app subscribes to: one list that the code registers and the manifest must match.

`deploy/slack-manifest.yaml` is written by hand for the Slack admin; a test validates it against
Slack's manifest schema and the rule for new apps (`agent_view`), and checks it against these
constants, against the listeners the built `App` actually has and against the Web API methods the
code calls, so the app never subscribes to an event it does not acknowledge (Socket Mode resends
unacknowledged events) and never asks an admin for a scope it does not use.
"""

from __future__ import annotations

COMMAND_ASK = "/bron"
COMMAND_SOURCES = "/bron-sources"
COMMAND_FLAGS = "/bron-flags"
COMMANDS = (COMMAND_ASK, COMMAND_SOURCES, COMMAND_FLAGS)

# Bot events (manifest names) and the scope each needs (Slack's event reference); `message.*` all
# arrive as the `message` event type, deletions and edits too (bot/slack/withdrawn.py). `app_home_opened` (tab "messages") and `app_context_changed`
# replace the legacy assistant_thread_* events under `agent_view`.
EVENT_SCOPES: dict[str, tuple[str, ...]] = {
    "app_home_opened": (),
    "app_context_changed": (),
    "app_mention": ("app_mentions:read",),
    "message.channels": ("channels:history",),
    "message.groups": ("groups:history",),
    "message.im": ("im:history",),
    "message.mpim": ("mpim:history",),
    "reaction_added": ("reactions:read",),
}
BOT_EVENTS = tuple(EVENT_SCOPES)

BOT_SCOPES = (
    "app_mentions:read",
    "assistant:write",
    "channels:history",
    "channels:read",  # whether a channel an answer is shared to is shared with another organisation
    "chat:write",
    "commands",
    "groups:history",
    "groups:read",  # the same for private channels
    "im:history",
    "mpim:history",
    "reactions:read",
    "usergroups:read",  # who belongs to the user groups granted collections (bot/slack/access.py)
    "users:read",  # whether an asker is a guest or from another organisation
)


def event_type(manifest_event: str) -> str:
    """`message.im` → `message`: the `type` the event carries in its payload."""
    return manifest_event.split(".", 1)[0]
