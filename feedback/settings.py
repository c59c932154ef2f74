"""Feedback-store settings: which database, and when an answer is flagged for review."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, SecretStr, ValidationInfo, field_validator

from feedback.people import MIN_KEY_CHARS


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
    # GDPR pseudonymisation (feedback/people.py): askers and voters are stored as HMAC-SHA256 of their
    # Slack id under this key, from `user_key` or the file `user_key_file` (a mounted secret). Keep the
    # key: under another one, stored pseudonyms no longer match anyone.
    user_key: SecretStr | None = None
    user_key_file: Path | None = None
    pseudonymise_users: bool = False

    @field_validator("pseudonymise_users")
    @classmethod
    def _needs_a_key(cls, on: bool, info: ValidationInfo) -> bool:
        """Refuse to start with the option on and no usable key, rather than store plain ids.

        The error names the settings, never the key (the CLI prints a refused value)."""
        if on:
            _read_key(info.data.get("user_key"), info.data.get("user_key_file"))
        return on

    def pseudonym_key(self) -> SecretStr | None:
        """The key to hash user ids with, or None when pseudonymisation is off."""
        return _read_key(self.user_key, self.user_key_file) if self.pseudonymise_users else None

    def review_scope(self, reviewer: str) -> tuple[str, ...]:
        return tuple(self.reviewer_collections.get(reviewer, ["public"]))


def _read_key(key: SecretStr | None, path: Path | None) -> SecretStr:
    if key is None and path is not None:
        try:
            key = SecretStr(path.read_text(encoding="utf-8").strip())
        except OSError as exc:
            raise ValueError(
                f"the key file BRON_STORE__USER_KEY_FILE ({path}) cannot be read: {exc}"
            ) from None
    if key is None:
        raise ValueError(
            "pseudonymising user ids needs a key: set BRON_STORE__USER_KEY or BRON_STORE__USER_KEY_FILE "
            "(e.g. the output of `openssl rand -hex 32`)"
        )
    if len(key.get_secret_value()) < MIN_KEY_CHARS:
        raise ValueError(
            f"the key for pseudonymising user ids must have at least {MIN_KEY_CHARS} characters "
            "(Slack ids are short and guessable; a short key can be found by trying them all)"
        )
    return key
