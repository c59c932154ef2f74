"""Who a stored row belongs to: the Slack user id, or, with `BRON_STORE__PSEUDONYMISE_USERS`, a keyed hash.

A pseudonym is HMAC-SHA256 of the id under a key only the deployment holds (GDPR art. 4(5)): the
database alone no longer says who asked what, yet the same person always gets the same value, so
the thread rule, per-user feedback and `bron privacy export|erase` still find their rows. A plain
SHA-256 would not do: Slack ids are short and guessable, so anyone could hash them all.

Every write and lookup of a person's id in the store goes through `pseudonym` (via `stored_user`
or `FeedbackStore.stored_user`), never its own comparison. The prefix makes a stored value
recognisable and the function idempotent: a value that is already a pseudonym is kept as it is,
so a spooled answer hashed before the outage is not hashed again when it is replayed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from pydantic import SecretStr
from sqlalchemy.orm import Session

PREFIX = "hmac-sha256:"
SESSION_KEY = "bron.user_key"  # where FeedbackStore leaves the key in each session's `info`
MIN_KEY_CHARS = 32


def pseudonym(user: str | None, key: SecretStr | None) -> str | None:
    """The value stored for `user`: the id itself without a key, else PREFIX + base64url(HMAC) (55 chars,
    within the 64 of the columns). No id (None or empty) stays as it is."""
    if not user or key is None or user.startswith(PREFIX):
        return user
    digest = hmac.new(key.get_secret_value().encode(), user.encode(), hashlib.sha256).digest()
    return PREFIX + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def stored_user(session: Session, user: str | None) -> str | None:
    """`pseudonym` with the key of the store this session belongs to (none: ids are stored as they are)."""
    key = session.info.get(SESSION_KEY)
    return pseudonym(user, key if isinstance(key, SecretStr) else None)
