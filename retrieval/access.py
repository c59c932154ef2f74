"""Which collection a document belongs to, decided so that an ingest can only ever narrow an audience.

A collection is the unit of access: a channel, a DM or a user group is granted collections, and a chunk
is shown only inside a search filtered to collections its reader holds. `public` is the open collection
(what a plain corpus path gets); every other name is a restricted audience of its own.

Each corpus root is recorded in the index with its key (the namespace of its doc ids) and collection, so
a later sync of a wider root never takes over a restricted subtree, and a plain path re-synced at start
keeps the collection it was last ingested with. The records are chunkless document records (id
`key/`, the JSON in the hash field): every backend stores them without a schema of its own.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from retrieval.errors import DocumentError

OPEN_COLLECTION = "public"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class CollectionError(DocumentError):
    """A document's collection cannot be established; it must not be served, not even an older copy."""


def checked_collection(name: str, *, where: str) -> str:
    """A collection name Bron can filter on exactly; anything else cannot be established."""
    if not _NAME.fullmatch(name):
        raise CollectionError(
            f"{where}: collection {name!r} is not a valid name (letters, digits, '_', '.', '-'; "
            "at most 64); the document is not served"
        )
    return name


def may_narrow(outer: str, inner: str) -> bool:
    """Whether `inner` is `outer` or a narrower audience of it (only `public` can be narrowed)."""
    return inner == outer or outer == OPEN_COLLECTION


def narrowed(root_collection: str, requested: str | None, *, where: str) -> str:
    """The collection a document gets when its front matter asks for `requested` inside its root."""
    if requested is None or requested == root_collection:
        return root_collection
    requested = checked_collection(requested, where=where)
    if not may_narrow(root_collection, requested):
        raise CollectionError(
            f"{where}: front matter asks for collection {requested!r} inside a {root_collection!r} root; "
            "front matter may only narrow a public root, so the document is not served"
        )
    return requested


@dataclass(frozen=True)
class RootRecord:
    """One ingested corpus root: the namespace of its doc ids and the collection it is served to."""

    key: str
    path: Path
    collection: str

    @property
    def record_id(self) -> str:
        return f"{self.key}/"

    def record_value(self) -> str:
        return json.dumps({"path": str(self.path), "collection": self.collection}, sort_keys=True)

    def owns(self, file: Path) -> bool:
        return file == self.path or file.is_relative_to(self.path)


def is_root_record(doc_id: str) -> bool:
    return doc_id.endswith("/")


def root_records(known: Mapping[str, str]) -> dict[Path, RootRecord]:
    """The roots recorded in an index, by real path (links resolved), read from its document hashes.

    Real paths, because one folder reached through a link or a second mount must meet its own record:
    under another name its restricted subfolders would be read as the wider root's own files.
    """
    roots: dict[Path, RootRecord] = {}
    for doc_id, value in known.items():
        if not is_root_record(doc_id):
            continue
        try:
            data = json.loads(value)
            record = RootRecord(key=doc_id[:-1], path=Path(os.path.realpath(data["path"])),
                                collection=str(data["collection"]))  # fmt: skip
        except (ValueError, KeyError, TypeError):
            continue
        roots[record.path] = record
    return roots


def new_root_key(path: Path, roots: Mapping[Path, RootRecord], collection: str) -> str:
    """A readable, unused namespace for a root: its folder name, numbered if another root has it.

    A key whose root has gone from disk is taken over (the corpus moved) by a root of the same
    collection, or of any if the gone root was public; a key of a root that still exists never is, so
    two folders with the same name never share or prune each other's documents. A restricted root's
    documents never pass to a wider root under their own ids: they stay, and ingest holds back their
    text wherever it turns up under a wider root (retrieval/ingest.py).
    """
    name = (path.name if path.is_dir() else path.parent.name) or "root"
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
    live = {
        r.key
        for r in roots.values()
        if r.path != path and (r.path.exists() or r.collection not in (OPEN_COLLECTION, collection))
    }
    candidate, n = name, 1
    while candidate in live:
        n += 1
        candidate = f"{name}-{n}"
    return candidate
