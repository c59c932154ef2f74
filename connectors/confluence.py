"""Confluence Cloud (REST v2) as a source: one change stream per space, failing closed on restrictions.

Plain REST over httpx, like the Graph connector: the `atlassian-python-api` client wraps v1 and adds
requests and its own retry rules, for four calls (spaces, a space's pages, a page's storage body, a
page's read restrictions). v2 has no change feed, so each sync lists a space's current pages
(cursor-paged; the `next` link is the resume cursor) and fetches a page's body only when its version
number moved. A page with read restrictions, its own or an ancestor's, gets the container
`<SPACE>/#restricted`, which maps to no collection unless configured: Bron cannot tell who may read
it. Restriction changes do not bump a page's version, so restrictions are read on every listing.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator, Mapping
from datetime import datetime
from html import escape
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
from pydantic import SecretStr

from connectors.base import (
    Change,
    ChangeBatch,
    ChangeKind,
    CursorExpired,
    FetchedDocument,
    KnownItem,
    SourceError,
)
from connectors.http import Http


class ConfluenceClient:
    """Basic auth with an Atlassian API token; `url` is the site's wiki root (https://x.atlassian.net/wiki)."""

    def __init__(self, http: Http, *, url: str, email: str, api_token: SecretStr) -> None:
        self.http = http
        self.wiki = url.rstrip("/")
        parts = urlsplit(self.wiki)
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.api = self.wiki + "/api/v2"
        token = base64.b64encode(f"{email}:{api_token.get_secret_value()}".encode()).decode()
        self._headers = {"Authorization": f"Basic {token}", "Accept": "application/json"}

    def get(self, url: str) -> httpx.Response:
        if url.startswith("/"):
            url = self.origin + url
        r = self.http.get(url, headers=self._headers)
        if r.status_code in (401, 403):
            raise SourceError(
                f"Confluence refused {url.split('?')[0]} ({r.status_code}); check the email and API token, "
                "and that the account may view the space"
            )
        return r

    def json(self, url: str) -> dict[str, Any]:
        r = self.get(url)
        if r.status_code != 200:
            raise SourceError(f"Confluence {url.split('?')[0]} answered {r.status_code}: {r.text[:200]}")
        body: dict[str, Any] = r.json()
        return body


def _when(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


class ConfluenceSpaceSource:
    """The current pages of one space."""

    def __init__(self, name: str, client: ConfluenceClient, *, space_key: str, page_size: int = 100) -> None:
        self.name = name
        self.client = client
        self.space_key = space_key
        self.page_size = page_size
        self._space_id: str | None = None

    def _space(self) -> str:
        if self._space_id is None:
            found = self.client.json(f"{self.client.api}/spaces?keys={quote(self.space_key)}").get(
                "results", []
            )
            if not found:
                raise SourceError(f"{self.name}: no space {self.space_key!r} visible to this account")
            self._space_id = str(found[0]["id"])
        return self._space_id

    def changes(self, cursor: str | None, known: Mapping[str, KnownItem]) -> Iterator[ChangeBatch]:
        url = (
            cursor or f"{self.client.api}/spaces/{self._space()}/pages?limit={self.page_size}&status=current"
        )
        parents: dict[str, str | None] = {}
        restricted: dict[str, bool] = {}
        while True:
            r = self.client.get(url)
            if r.status_code == 400 and cursor is not None and "cursor=" in url:
                raise CursorExpired(f"{self.name}: the listing cursor is no longer accepted")
            if r.status_code != 200:
                raise SourceError(f"{self.name}: pages answered {r.status_code}: {r.text[:200]}")
            body = r.json()
            pages = body.get("results", [])
            for page in pages:
                parents[str(page["id"])] = str(page["parentId"]) if page.get("parentId") else None
            changes = []
            for page in pages:
                page_id = str(page["id"])
                locked = self._restricted(page_id, parents, restricted)
                version = (page.get("version") or {}).get("number")
                changes.append(
                    Change(
                        page_id,
                        ChangeKind.UPSERT,
                        container=self.space_key + ("/#restricted" if locked else ""),
                        version=f"{version}|{'r' if locked else 'o'}",
                        extra={
                            "title": page.get("title"),
                            "webui": (page.get("_links") or {}).get("webui"),
                            "modified": (page.get("version") or {}).get("createdAt"),
                        },
                    )
                )
            next_link = (body.get("_links") or {}).get("next")
            next_url = (
                self.client.origin + next_link if next_link and next_link.startswith("/") else next_link
            )
            yield ChangeBatch(changes, next_url)  # None at the end: the next sync lists the space again
            if not next_url:
                return
            url = next_url

    def _restricted(self, page_id: str, parents: dict[str, str | None], memo: dict[str, bool]) -> bool:
        """Read restrictions on the page or any ancestor (they are inherited down the tree)."""
        if page_id in memo:
            return memo[page_id]
        body = self.client.json(f"{self.client.wiki}/rest/api/content/{page_id}/restriction/byOperation/read")
        limits = body.get("restrictions") or {}
        if any((limits.get(k) or {}).get("results") for k in ("user", "group")):
            memo[page_id] = True
            return True
        if page_id not in parents:  # an ancestor outside this listing page
            page = self.client.json(f"{self.client.api}/pages/{page_id}")
            parents[page_id] = str(page["parentId"]) if page.get("parentId") else None
        parent = parents[page_id]
        memo[page_id] = self._restricted(parent, parents, memo) if parent else False
        return memo[page_id]

    def fetch(self, change: Change) -> FetchedDocument | None:
        r = self.client.get(f"{self.client.api}/pages/{change.item_id}?body-format=storage")
        if r.status_code == 404:
            return None
        if r.status_code != 200:
            raise RuntimeError(f"page answered {r.status_code}")
        page = r.json()
        title = str(page.get("title") or change.extra.get("title") or "")
        storage = ((page.get("body") or {}).get("storage") or {}).get("value", "")
        webui = (page.get("_links") or {}).get("webui") or change.extra.get("webui")
        html = f"<html><head><title>{escape(title)}</title></head><body><h1>{escape(title)}</h1>{storage}</body></html>"
        return FetchedDocument(
            title=title or None,
            url=self.client.wiki + webui if webui else None,
            updated_at=_when((page.get("version") or {}).get("createdAt") or change.extra.get("modified")),
            content=html.encode(),
            media_type="text/html",
        )
