"""What the Slack app subscribes to: one list that the code registers and the manifest must match.

`deploy/slack-manifest.yaml` is written by hand for the Slack admin; a test parses it and checks it
against these constants and against the listeners the built `App` actually has, so the app never
subscribes to an event it does not acknowledge (Socket Mode resends unacknowledged events).
"""

from __future__ import annotations

COMMAND_ASK = "/bron"
COMMAND_SOURCES = "/bron-sources"
COMMAND_FLAGS = "/bron-flags"
COMMANDS = (COMMAND_ASK, COMMAND_SOURCES, COMMAND_FLAGS)

# Bot events (manifest names). `message.*` all arrive as the `message` event type.
BOT_EVENTS = (
    "app_mention",
    "message.channels",
    "message.groups",
    "message.im",
    "reaction_added",
    "assistant_thread_started",
    "assistant_thread_context_changed",
)

BOT_SCOPES = (
    "app_mentions:read",
    "assistant:write",
    "channels:history",
    "chat:write",
    "commands",
    "groups:history",
    "im:history",
    "reactions:read",
)


def event_type(manifest_event: str) -> str:
    """`message.im` → `message`: the `type` the event carries in its payload."""
    return manifest_event.split(".", 1)[0]
