"""Feedback-store settings: which database, and when an answer is flagged for review."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, SecretStr


class FlagRules(BaseModel):
    """An answer is flagged as a possible hallucination when any rule fires."""

    on_thumbs_down: bool = True
    min_groundedness: float = 0.5
    on_unsupported_sentence: bool = True
    on_no_citation: bool = True
    on_uncovered_question: bool = True
    # the check rejected the model's own draft and Bron quoted the sources instead: the draft and the
    # passage side by side are what a reviewer corrects into training data
    on_quoted: bool = True


class StoreSettings(BaseModel):
    url: str | None = None
    spool_path: Path | None = None
    flags: FlagRules = FlagRules()
    retention_days: int | None = None
    # with retention_days set, `bron run` purges (and compacts) this often; 0: only `bron purge` does
    retention_interval_h: float = 6.0
    # The review page (`bron review`) uses HTTP basic auth: user name one of `reviewers`, password
    # `review_token` (BRON_STORE__REVIEW_TOKEN). Without a token the page refuses to start.
    reviewers: list[str] = []
    review_token: SecretStr | None = None
    # The collections each reviewer may review (review page, /bron-flags); one not listed: `public` only.
    reviewer_collections: dict[str, list[str]] = {}
    # A reviewer's own review-page password, required for one granted more than `public`: the shared
    # `review_token` would let any reviewer sign in under their name.
    reviewer_passwords: dict[str, SecretStr] = {}

    def review_scope(self, reviewer: str) -> tuple[str, ...]:
        return tuple(self.reviewer_collections.get(reviewer, ["public"]))
