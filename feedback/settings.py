"""Feedback-store settings: which database, and when an answer is flagged for review."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel


class FlagRules(BaseModel):
    """An answer is flagged as a possible hallucination when any rule fires."""

    on_thumbs_down: bool = True
    min_groundedness: float = 0.5
    on_unsupported_sentence: bool = True
    on_no_citation: bool = True


class StoreSettings(BaseModel):
    url: str | None = None
    spool_path: Path | None = None
    flags: FlagRules = FlagRules()
    retention_days: int | None = None
    reviewers: list[str] = []
