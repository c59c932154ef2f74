"""What Bron posts to Slack is escaped before it goes out, whoever wrote it.

Document text, front matter, questions and the model's own words can all carry Slack control
sequences: `<!channel>` pings everyone, `<https://evil|HR portal>` is a link that hides its
address, and in the markdown a stream is written in, `[HR portal](https://evil)` does the same.
One function escapes answer text on every path (streamed chunks, the post-and-update fallback, the
final blocks), so what the user sees while Bron writes is exactly as safe as the finished message.
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit

# characters a URL may keep inside Slack's `<url|label>`; everything else is percent-encoded
_URL_SAFE = ":/?#[]@!$&'()*+,;=%~-._"


def escape_mrkdwn(value: str) -> str:
    """Slack text needs only &, < and > escaped: without a raw `<` no mention, link or ping can form."""
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def escape_answer(value: str) -> str:
    """Answer text as it may be posted in mrkdwn or streamed as markdown.

    Besides &, < and >, a markdown link or reference definition is broken apart (`](` and `]:` get a
    space) so `[text](url)` shows its address instead of hiding it. Citation markers `[1]` are left
    as they are. Escaping is per character pair, so escaping the pieces of a stream one by one gives
    the same text as escaping the whole, provided a piece never ends in `]` (see `StreamEscaper`).
    """
    return escape_mrkdwn(value).replace("](", "] (").replace("]:", "] :")


class StreamEscaper:
    """`escape_answer` for text that arrives in pieces: a trailing `]` is held until the next piece
    shows whether a `(` or `:` follows it, so a link cannot be assembled across two appends."""

    def __init__(self) -> None:
        self._held = ""

    def feed(self, piece: str) -> str:
        text = self._held + piece
        if text.endswith("]"):
            text, self._held = text[:-1], "]"
        else:
            self._held = ""
        return escape_answer(text)

    def flush(self) -> str:
        text, self._held = self._held, ""
        return escape_answer(text)


def plain_http_url(value: str) -> bool:
    """An http(s) address with a host and no spaces or control characters: fit to be a link."""
    if not value.startswith(("http://", "https://")):
        return False
    if any(c.isspace() or ord(c) < 32 for c in value):
        return False
    try:
        return bool(urlsplit(value).netloc)
    except ValueError:
        return False


def slack_link(url: str, label: str) -> str | None:
    """`<url|label>` with the URL percent-encoded and the label escaped; None when `url` is no plain
    http(s) address (the caller then shows it as text). A `|`, `>` or space in the URL can therefore
    never end the link early and let the rest be read as mrkdwn."""
    if not plain_http_url(url):
        return None
    encoded = escape_mrkdwn(quote(url, safe=_URL_SAFE))
    return f"<{encoded}|{escape_mrkdwn(label).replace('|', '¦')}>"
