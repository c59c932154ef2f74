"""What Slack checks when an admin creates an app from `deploy/slack-manifest.yaml`.

Two layers: the JSON schema Slack publishes (`shared/slack-manifest-schema/`, a sibling of the
repository), and the rule the schema does not encode: a new app's AI surface must be
`features.agent_view` (with an `agent_description`); the legacy `assistant_view` is refused.
Beyond Slack's own checks, `scope_problems` says which scopes and events the code has no use for,
from the method and event reference in `shared/slack-api-ref/`.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import jsonschema

from tests.fakeslack.validation import load_methods, reference_dir

SCHEMA_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "slack-manifest-schema"
_CALL = re.compile(r"\.([a-z]+(?:_[a-zA-Z]+)+)\(")
# Bolt's helpers and slack_sdk's chat_stream call these methods for the code.
_HELPERS = {
    "set_status": ("assistant.threads.setStatus",),
    "set_suggested_prompts": ("assistant.threads.setSuggestedPrompts",),
    "say": ("chat.postMessage",),
    "chat_stream": ("chat.startStream", "chat.appendStream", "chat.stopStream"),
}


@functools.cache
def manifest_schema() -> dict[str, Any]:
    loaded = json.loads((SCHEMA_DIR / "manifest.schema.1.0.0.json").read_text())
    assert isinstance(loaded, dict)
    return loaded


def check_manifest(manifest: Mapping[str, Any]) -> list[str]:
    """Why Slack would refuse this manifest for a new app (empty when it would accept it)."""
    validator = jsonschema.Draft7Validator(manifest_schema())
    problems = [
        f"{'.'.join(str(p) for p in error.absolute_path) or '(top)'}: {error.message}"
        for error in sorted(validator.iter_errors(dict(manifest)), key=lambda e: list(e.absolute_path))
    ]
    features = manifest.get("features") or {}
    if "assistant_view" in features:
        problems.append("features.assistant_view: new apps must use features.agent_view")
    agent = features.get("agent_view")
    if not isinstance(agent, dict) or not agent.get("agent_description"):
        problems.append("features.agent_view.agent_description: required for an agent app")
    return problems


def methods_called(sources: Iterable[Path]) -> set[str]:
    """Web API methods the code calls: `client.chat_postMessage(` → `chat.postMessage`, and helpers'."""
    by_attribute = {name.replace(".", "_"): name for name in load_methods()}
    found: set[str] = set()
    for path in sources:
        code = path.read_text()
        for match in _CALL.finditer(code):
            attribute = match.group(1)
            if attribute in by_attribute:
                found.add(by_attribute[attribute])
        for helper, methods in _HELPERS.items():
            if re.search(rf"\b{helper}\(", code):
                found.update(methods)
    return found


# Methods whose scope depends on the conversation type, called for every type Bron answers in:
# `conversations.info` on public (channels:read) and private (groups:read) channels when an answer is shared.
_PER_CONVERSATION_TYPE = {"conversations.info": ("channels:read", "groups:read")}


def needed_scopes(events: Mapping[str, Iterable[str]], methods: Iterable[str], *, commands: bool) -> set[str]:
    """The smallest bot scope set: each event's scopes, `commands`, and for each method one of its scopes."""
    needed = {scope for scopes in events.values() for scope in scopes}
    if commands:
        needed.add("commands")
    reference = load_methods()
    for method in sorted(methods):
        if method in _PER_CONVERSATION_TYPE:
            needed.update(_PER_CONVERSATION_TYPE[method])
            continue
        options = [s.replace(".", ":") for s in (reference[method].get("scope") or {}).get("bot", [])]
        if options and not needed.intersection(options):
            needed.add(options[0])
    return needed


def event_reference_scopes(event: str) -> list[str] | None:
    """The scopes Slack's event reference lists for `event`, or None when the reference lacks it."""
    path = reference_dir() / "events" / f"{event}.json"
    if not path.exists():
        return None
    return [s.replace(".", ":") for s in json.loads(path.read_text()).get("scopes", [])]
