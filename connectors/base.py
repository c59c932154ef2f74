"""The one small contract every connector implements, and the values that cross it.

A connector is split into change streams (`Source`): a website is one, a SharePoint site is one per
document library plus one for its pages. A stream lists what changed since a cursor it handed out
before, in batches that each carry the cursor to resume from; the sync engine (connectors/sync.py)
owns everything else: comparing with what is indexed, collections, pruning, the guard and the state.
New, changed, renamed and permission-changed items are all upserts of a stable item id: the engine
tells them apart by comparing with what it stored.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol


class ChangeKind(StrEnum):
    UPSERT = "upsert"
    DELETE = "delete"
    UNCHANGED = "unchanged"  # seen in a listing, known not to have changed (e.g. HTTP 304)
    FAILED = "failed"  # could not be read this time: keep what is indexed, report it


@dataclass(frozen=True)
class FetchedDocument:
    """A document's content as the source serves it, with what Bron shows and maps it by."""

    title: str | None
    url: str | None
    updated_at: datetime | None
    content: bytes
    media_type: str


@dataclass(frozen=True)
class Change:
    """One item in a listing. `container` is what the collection mapping keys on (a site's library,
    a URL path); `version` (eTag, version number) lets the engine skip fetching an unchanged item;
    `document` is set when the listing already had the content (a crawler must fetch to list)."""

    item_id: str
    kind: ChangeKind
    container: str | None = None
    version: str | None = None
    document: FetchedDocument | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True)
class ChangeBatch:
    """Changes to apply together; `cursor` is where the listing resumes once they are applied."""

    changes: list[Change]
    cursor: str | None


@dataclass(frozen=True)
class KnownItem:
    """What the engine stored about an item, lent to the source (validators, links, this pass)."""

    item_id: str
    version: str | None
    collection: str | None
    extra: Mapping[str, Any]
    seen_this_pass: bool


class CursorExpired(Exception):
    """The stored cursor is no longer accepted (Graph's 410 resyncRequired): list everything again."""


class SourceError(Exception):
    """A source could not be listed (unreachable, refused credentials): nothing is pruned."""


class Source(Protocol):
    """One change stream. `name` is unique and stable: state and document ids are keyed by it."""

    name: str

    def changes(self, cursor: str | None, known: Mapping[str, KnownItem]) -> Iterator[ChangeBatch]:
        """Batches of changes since `cursor` (None: list everything); raises CursorExpired."""
        ...

    def fetch(self, change: Change) -> FetchedDocument | None:
        """The item's current content; None when it is gone."""
        ...


def collection_for(container: str | None, mapping: Mapping[str, str]) -> str | None:
    """The collection of the longest configured prefix of `container`, on `/` boundaries.

    None when nothing matches: the engine then does not serve the item (fail closed). A mapping key
    `*` is an explicit catch-all, never implied, and never covers a marked (`/#…`) container.
    """
    if container is None:
        return None
    # `<container>/#unique`, `<SPACE>/#restricted`: an item whose readers Bron cannot tell is never
    # covered by its container's key or by `*`, only by a key naming the marker itself
    marked = "/#" in container
    # without regard to case: IIS, SharePoint and Confluence keys name one place in any letters, so a
    # link spelled `/HR/x` must meet the `/hr/` key rather than fall to a wider one
    folded = container.casefold()
    best: tuple[int, str] | None = None
    for key, collection in mapping.items():
        if key == "*" or (marked and "/#" not in key):
            continue
        stem = key.rstrip("/").casefold()
        matches = folded in (key.casefold(), stem) or folded.startswith(stem + "/") or stem == ""
        if matches and (best is None or len(stem) > best[0]):
            best = (len(stem), collection)
    if best is not None:
        return best[1]
    return None if marked else mapping.get("*")
