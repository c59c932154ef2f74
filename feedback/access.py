"""Who may read a recorded answer: a viewer whose scope holds the collection of every chunk it used.

An answer is built from its chunks, so its question, text and sources are as restricted as the most
restricted of them. Where the question and answer text are shown (review, flags, exports, sharing),
the collections the question was searched in count too: the history the model read and its draft can
carry what those hold even when every chunk kept is public. A chunk without a recorded collection (stored before collections were) is shown
to no scoped viewer. A scope of None is unrestricted: an operator at the CLI, who holds the database.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from sqlalchemy import ColumnElement, exists, or_

from feedback.models import Interaction, RetrievedChunk

Scope = Collection[str] | None


def may_see(collections: Iterable[str | None], scope: Scope) -> bool:
    """Whether a viewer with `scope` may see an answer whose chunks have these collections."""
    return scope is None or all(c is not None and c in scope for c in collections)


def searched_within(searched: Iterable[str] | None, scope: Scope) -> bool:
    """Whether every collection a question was searched in lies in `scope` (unknown: only unscoped)."""
    return scope is None or (searched is not None and all(c in scope for c in searched))


def may_read(interaction: Interaction, scope: Scope) -> bool:
    """Whether a viewer with `scope` may read this question and answer, not only its sources."""
    return searched_within(interaction.collections, scope) and may_see(
        (c.collection for c in interaction.chunks), scope
    )


def visible(interaction_id: Any, scope: Collection[str]) -> ColumnElement[bool]:
    """SQL: the interaction has no chunk outside `scope` (for a WHERE on a row holding its id)."""
    outside = exists().where(
        RetrievedChunk.interaction_id == interaction_id,
        or_(RetrievedChunk.collection.is_(None), RetrievedChunk.collection.not_in(sorted(scope))),
    )
    return ~outside
