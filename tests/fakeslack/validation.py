"""Check recorded Web API calls against Slack's method reference and Block Kit models.

The reference is the per-method JSON in `shared/slack-api-ref/methods/` (a
sibling of the repository; `BRON_SLACK_API_REF` overrides the path). A call is
wrong when Slack would reject or silently ignore part of it: unknown method,
a required argument missing, an argument Slack does not know, JSON sent to a
method that only takes form/query input, or blocks that fail slack_sdk's
models. Each problem is a sentence naming the call and the field.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from slack_sdk.models.blocks import Block

from tests.fakeslack.records import Call
from tests.fakeslack.web_api import json_arg

# Known gaps in the reference (see its README): Bolt adds `team_id` to some calls,
# and slack_sdk may stream `chunks` where the reference requires `markdown_text`.
_ADDED_BY_CLIENTS = frozenset({"team_id"})
_ALTERNATIVES = {("chat.appendStream", "markdown_text"): "chunks"}
# slack_sdk 3.48 models context_actions and feedback_buttons, but not where they may go;
# the Block Kit docs say these elements live only in a context_actions block, and vice versa.
_CONTEXT_ONLY_ELEMENTS = frozenset({"feedback_buttons", "icon_button"})
MESSAGE_BLOCK_LIMIT = 50
VIEW_BLOCK_LIMIT = 100


def reference_dir() -> Path:
    override = os.environ.get("BRON_SLACK_API_REF")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2].parent / "shared" / "slack-api-ref"


@functools.cache
def load_methods(directory: Path | None = None) -> dict[str, dict[str, Any]]:
    """Method name → reference entry; fails loudly when the reference is not where it should be."""
    folder = (directory or reference_dir()) / "methods"
    files = sorted(folder.glob("*.json"))
    if not files:
        raise FileNotFoundError(
            f"no Slack method reference in {folder}: put shared/ next to the repository "
            "or point BRON_SLACK_API_REF at a copy of slack-api-ref/"
        )
    # methods the shared reference lacks, transcribed from Slack's docs (each file says so)
    extra = sorted((Path(__file__).parent / "reference_extra" / "methods").glob("*.json"))
    return {path.stem: json.loads(path.read_text()) for path in [*files, *extra]}


def check_call(call: Call) -> list[str]:
    spec = load_methods().get(call.method)
    if spec is None:
        return [f"{call.method}: not a method in the Slack reference"]
    problems: list[str] = []
    args_spec = spec.get("args", {})
    known = set(args_spec.get("properties", {})) | _ADDED_BY_CLIENTS
    for name in args_spec.get("required", []):
        present = bool(call.token) if name == "token" else name in call.args
        alternative = _ALTERNATIVES.get((call.method, name))
        if not present and not (alternative and alternative in call.args):
            problems.append(f"{call.method}: required argument {name!r} is missing")
    problems += [f"{call.method}: unknown argument {name!r}" for name in sorted(set(call.args) - known)]
    if call.content_type == "application/json" and not spec.get("json_input_supported"):
        problems.append(f"{call.method}: sent as JSON, but this method takes only form or query arguments")
    if "blocks" in call.args:
        problems += [f"{call.method}: {p}" for p in check_blocks(call.args["blocks"])]
    if "view" in call.args:
        view = json_arg(call.args["view"])
        blocks = view.get("blocks", []) if isinstance(view, dict) else None
        problems += [f"{call.method} view: {p}" for p in check_blocks(blocks, limit=VIEW_BLOCK_LIMIT)]
    return problems


def check_blocks(blocks: Any, *, limit: int = MESSAGE_BLOCK_LIMIT) -> list[str]:
    """Problems with a Block Kit array (a list, or the JSON string form-encoded calls carry)."""
    parsed = json_arg(blocks)
    if not isinstance(parsed, list):
        return [f"blocks must be a JSON array, got {type(parsed).__name__}"]
    problems = [f"{len(parsed)} blocks, Slack allows at most {limit}"] if len(parsed) > limit else []
    for index, block in enumerate(parsed):
        problems += [f"blocks[{index}]{p}" for p in _check_block(block)]
    return problems


def _check_block(block: Any) -> list[str]:
    if not isinstance(block, dict) or not isinstance(block.get("type"), str):
        return [": not an object with a 'type'"]
    kind = block["type"]
    try:
        model = Block.parse(dict(block))
        if model is None:
            return [f": unknown block type {kind!r}"]
        model.validate_json()
        rendered = model.to_dict()
    except Exception as error:  # slack_sdk raises TypeError, SlackObjectFormationError, AttributeError...
        return [f" ({kind}): {type(error).__name__}: {error}"]
    problems = [
        f".{path}: field slack_sdk's {kind} model does not know" for path in _dropped(block, rendered)
    ]
    return problems + list(_misplaced(block))


def _dropped(given: Any, rendered: Any, path: str = "") -> Iterator[str]:
    """Paths present in the input but missing after a slack_sdk round trip, i.e. ignored fields."""
    if isinstance(given, dict) and isinstance(rendered, dict):
        for key, value in given.items():
            if key not in rendered:
                if value is not None:
                    yield f"{path}{key}"
            else:
                yield from _dropped(value, rendered[key], f"{path}{key}.")
    elif isinstance(given, list) and isinstance(rendered, list) and len(given) == len(rendered):
        for index, (item, out) in enumerate(zip(given, rendered, strict=True)):
            yield from _dropped(item, out, f"{path.rstrip('.')}[{index}].")


def _misplaced(block: dict[str, Any]) -> Iterator[str]:
    in_context = block["type"] == "context_actions"
    for index, element in enumerate(block.get("elements") or []):
        kind = element.get("type") if isinstance(element, dict) else None
        if in_context and kind not in _CONTEXT_ONLY_ELEMENTS:
            yield f".elements[{index}]: context_actions takes only feedback_buttons or icon_button, not {kind!r}"
        if not in_context and kind in _CONTEXT_ONLY_ELEMENTS:
            yield f".elements[{index}]: {kind} must sit in a context_actions block, not {block['type']!r}"
