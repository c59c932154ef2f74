"""SharePoint Online and OneDrive through Microsoft Graph (v1.0), with app-only credentials.

Why plain REST over httpx rather than the `msgraph-sdk`: the SDK pulls in Kiota, azure-identity and
dozens of generated modules for the five calls a sync needs (token, site, drives, delta, content;
pages and web parts for site pages); the calls are small and documented, and httpx is already here.

- Document libraries are read with `driveItem: delta`: the first call lists everything, the
  `@odata.deltaLink` it ends with is the cursor; a 410 Gone (resyncRequired) means list again.
- A file with its own permissions (not inherited from its library) gets the container
  `<library>/#unique`, which maps to no collection unless configured: Bron cannot tell who may read
  it, so it is not served. Sharing changes arrive in the delta feed (`Prefer:
  deltashowsharingchanges`), so a file that loses its inheritance leaves the library's collection.
- Site pages have no delta: each sync lists them and fetches only those whose eTag changed.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

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
from connectors.office import docx_to_markdown, pptx_to_markdown

MEDIA_TYPES = {
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".txt": "text/plain",
    ".html": "text/html",
    ".htm": "text/html",
    ".aspx": "text/html",
    ".pdf": "application/pdf",
    ".docx": "office/docx",
    ".pptx": "office/pptx",
}


def _suffix(name: str) -> str:
    return "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""


def _when(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


class GraphClient:
    """Bearer tokens by the client-credentials grant, renewed before expiry and once on a 401."""

    def __init__(
        self,
        http: Http,
        *,
        tenant_id: str,
        client_id: str,
        client_secret: SecretStr,
        graph_url: str = "https://graph.microsoft.com/v1.0",
        login_url: str = "https://login.microsoftonline.com",
    ) -> None:
        self.http = http
        self.tenant_id = tenant_id
        self.client_id = client_id
        self._secret = client_secret
        self.graph_url = graph_url.rstrip("/")
        self.login_url = login_url.rstrip("/")
        self._token: str | None = None
        self._expires = 0.0

    def _fetch_token(self) -> str:
        r = self.http.request(
            "POST",
            f"{self.login_url}/{self.tenant_id}/oauth2/v2.0/token",
            data={
                "client_id": self.client_id,
                "client_secret": self._secret.get_secret_value(),
                "scope": "https://graph.microsoft.com/.default",
                "grant_type": "client_credentials",
            },
        )
        if r.status_code != 200:
            # the body names the cause (AADSTS7000215 wrong secret, ...) and never holds the secret
            raise SourceError(f"Microsoft Entra token request refused ({r.status_code}): {r.text[:300]}")
        body = r.json()
        self._expires = time.monotonic() + float(body.get("expires_in", 3599)) - 120
        token: str = body["access_token"]
        return token

    def get(self, url: str, *, headers: Mapping[str, str] | None = None) -> httpx.Response:
        if not url.startswith("http"):
            url = self.graph_url + url
        for attempt in range(2):
            if self._token is None or time.monotonic() > self._expires:
                self._token = self._fetch_token()
            r = self.http.get(url, headers={**(headers or {}), "Authorization": f"Bearer {self._token}"})
            if r.status_code != 401 or attempt:
                break
            self._token = None
        if r.status_code in (401, 403):
            raise SourceError(
                f"Microsoft Graph refused {url.split('?')[0]} ({r.status_code}); the app needs the "
                "Sites.Read.All (or Files.Read.All) application permission with admin consent"
            )
        return r

    def json(self, url: str) -> dict[str, Any]:
        r = self.get(url)
        if r.status_code != 200:
            raise SourceError(f"Microsoft Graph {url.split('?')[0]} answered {r.status_code}: {r.text[:200]}")
        body: dict[str, Any] = r.json()
        return body

    def values(self, url: str) -> Iterator[dict[str, Any]]:
        next_url: str | None = url
        while next_url:
            body = self.json(next_url)
            yield from body.get("value", [])
            next_url = body.get("@odata.nextLink")


def _convert(name: str, data: bytes) -> tuple[bytes, str]:
    media_type = MEDIA_TYPES.get(_suffix(name), "")
    if media_type == "office/docx":
        return docx_to_markdown(data).encode(), "text/markdown"
    if media_type == "office/pptx":
        return pptx_to_markdown(data).encode(), "text/markdown"
    return data, media_type


class GraphDriveSource:
    """One document library (or one user's OneDrive) as a change stream over `delta`."""

    def __init__(
        self,
        name: str,
        client: GraphClient,
        *,
        drive_id: str,
        container: str,
        page_size: int = 200,
        max_bytes: int = 50_000_000,
    ) -> None:
        self.name = name
        self.client = client
        self.drive_id = drive_id
        self.container = container
        self.page_size = page_size
        self.max_bytes = max_bytes

    def changes(self, cursor: str | None, known: Mapping[str, KnownItem]) -> Iterator[ChangeBatch]:
        url = cursor or f"/drives/{self.drive_id}/root/delta?$top={self.page_size}"
        headers = {"Prefer": "deltashowsharingchanges, hierarchicalsharing"}
        while True:
            r = self.client.get(url, headers=headers)
            if r.status_code == 410:
                raise CursorExpired(f"{self.name}: delta token expired ({r.text[:120]})")
            if r.status_code != 200:
                raise SourceError(f"{self.name}: delta answered {r.status_code}: {r.text[:200]}")
            body = r.json()
            changes = [c for c in (self._change(item, known) for item in body.get("value", [])) if c]
            next_link, delta_link = body.get("@odata.nextLink"), body.get("@odata.deltaLink")
            yield ChangeBatch(changes, next_link or delta_link)
            if not next_link:
                return
            url = next_link

    def _change(self, item: dict[str, Any], known: Mapping[str, KnownItem]) -> Change | None:
        item_id = f"{self.drive_id}/{item['id']}"
        if "deleted" in item:
            return Change(item_id, ChangeKind.DELETE)
        if "file" not in item:
            return None  # folders and the root: a library maps as a whole
        name = str(item.get("name", ""))
        if _suffix(name) not in MEDIA_TYPES:
            return Change(item_id, ChangeKind.DELETE)  # renamed to a type Bron does not read
        if int(item.get("size", 0)) > self.max_bytes:
            return Change(item_id, ChangeKind.FAILED, error=f"{name}: larger than {self.max_bytes} bytes")
        k = known.get(item_id)
        version = str(item.get("eTag") or item.get("cTag") or "")
        sharing_changed = str(item.get("@microsoft.graph.sharedChanged", "")).lower() == "true"
        if k is None or k.version != version or sharing_changed or "unique" not in k.extra:
            unique = self._has_unique_permissions(item["id"])
        else:
            unique = bool(k.extra["unique"])
        extra = {
            "name": name,
            "web_url": item.get("webUrl"),
            "modified": item.get("lastModifiedDateTime"),
            "unique": unique,
        }
        # the eTag does not change with sharing, so a sharing change must not look unchanged
        version = f"{version}|{'u' if unique else 'i'}"
        container = self.container + ("/#unique" if unique else "")
        return Change(item_id, ChangeKind.UPSERT, container=container, version=version, extra=extra)

    def _has_unique_permissions(self, graph_id: str) -> bool:
        """True when any permission on the item is its own rather than inherited from its library."""
        for perm in self.client.values(f"/drives/{self.drive_id}/items/{graph_id}/permissions"):
            if not perm.get("inheritedFrom"):
                return True
        return False

    def fetch(self, change: Change) -> FetchedDocument | None:
        graph_id = change.item_id.split("/", 1)[1]
        r = self.client.get(f"/drives/{self.drive_id}/items/{graph_id}/content")
        if r.status_code == 404:
            return None
        if r.status_code != 200:
            raise RuntimeError(f"content answered {r.status_code}")
        name = str(change.extra.get("name", ""))
        content, media_type = _convert(name, r.content)
        return FetchedDocument(
            title=name.rsplit(".", 1)[0] if media_type != "text/html" else None,
            url=change.extra.get("web_url"),
            updated_at=_when(change.extra.get("modified")),
            content=content,
            media_type=media_type,
        )


class GraphPagesSource:
    """A site's modern pages (sitePage): listed in full each sync, fetched only when the eTag moved."""

    def __init__(
        self, name: str, client: GraphClient, *, site_id: str, container: str, page_size: int = 200
    ) -> None:
        self.name = name
        self.client = client
        self.site_id = site_id
        self.container = container
        self.page_size = page_size

    def changes(self, cursor: str | None, known: Mapping[str, KnownItem]) -> Iterator[ChangeBatch]:
        url = cursor or f"/sites/{self.site_id}/pages/microsoft.graph.sitePage?$top={self.page_size}"
        while True:
            r = self.client.get(url)
            if r.status_code == 410:
                raise CursorExpired(f"{self.name}: page listing link expired")
            if r.status_code != 200:
                raise SourceError(f"{self.name}: pages answered {r.status_code}: {r.text[:200]}")
            body = r.json()
            changes = [
                Change(
                    f"{self.site_id}/pages/{page['id']}",
                    ChangeKind.UPSERT,
                    container=self.container,
                    version=str(page.get("eTag") or page.get("lastModifiedDateTime") or ""),
                    extra={
                        "title": page.get("title") or page.get("name"),
                        "web_url": page.get("webUrl"),
                        "modified": page.get("lastModifiedDateTime"),
                    },
                )
                for page in body.get("value", [])
            ]
            next_link = body.get("@odata.nextLink")
            yield ChangeBatch(changes, next_link)  # None at the end: the next sync lists them all again
            if not next_link:
                return
            url = next_link

    def fetch(self, change: Change) -> FetchedDocument | None:
        page_id = change.item_id.rsplit("/", 1)[1]
        r = self.client.get(f"/sites/{self.site_id}/pages/{page_id}/microsoft.graph.sitePage/webparts")
        if r.status_code == 404:
            return None
        if r.status_code != 200:
            raise RuntimeError(f"webparts answered {r.status_code}")
        title = str(change.extra.get("title") or "")
        parts = [str(p.get("innerHtml", "")) for p in r.json().get("value", []) if p.get("innerHtml")]
        from html import escape

        body = f"<html><head><title>{escape(title)}</title></head><body><h1>{escape(title)}</h1>{''.join(parts)}</body></html>"
        return FetchedDocument(
            title=title or None,
            url=change.extra.get("web_url"),
            updated_at=_when(change.extra.get("modified")),
            content=body.encode(),
            media_type="text/html",
        )


def site_streams(
    source: str, client: GraphClient, site: str, *, pages: bool, page_size: int, max_bytes: int
) -> list[GraphDriveSource | GraphPagesSource]:
    """A SharePoint site ("contoso.sharepoint.com:/sites/hr") as one stream per library plus its pages.

    Containers are `<site>/<library name>` and `<site>/SitePages`, the keys of the collection mapping.
    """
    info = client.json(f"/sites/{quote(site, safe=':/')}")
    site_id = str(info["id"])
    streams: list[GraphDriveSource | GraphPagesSource] = []
    for drive in client.values(f"/sites/{site_id}/drives"):
        container = f"{site}/{drive['name']}"
        streams.append(
            GraphDriveSource(
                f"{source}/{container}",
                client,
                drive_id=str(drive["id"]),
                container=container,
                page_size=page_size,
                max_bytes=max_bytes,
            )
        )
    if pages:
        container = f"{site}/SitePages"
        streams.append(
            GraphPagesSource(
                f"{source}/{container}", client, site_id=site_id, container=container, page_size=page_size
            )
        )
    return streams


def onedrive_stream(
    source: str, client: GraphClient, user: str, *, page_size: int, max_bytes: int
) -> GraphDriveSource:
    """A user's OneDrive for Business; its container is `users/<user principal name>`."""
    drive = client.json(f"/users/{quote(user)}/drive")
    container = f"users/{user}"
    return GraphDriveSource(f"{source}/{container}", client, drive_id=str(drive["id"]), container=container,
                            page_size=page_size, max_bytes=max_bytes)  # fmt: skip
