"""An intranet website as a source: sitemaps plus the links within one site, politely.

A website has no change feed, so every sync lists the site again, cheaply: robots.txt is obeyed
(stdlib `urllib.robotparser`), sitemaps (`sitemapindex`, gzip) seed the crawl, links found in pages
extend it within the start URL's host and path, and every page already known is asked for with
`If-None-Match` / `If-Modified-Since`, so an unchanged page is a bodiless 304. A page's links are
stored with it, so a 304 still tells the crawler where to go and a resumed sync skips pages it
already visited in this pass without asking the server again.
"""

from __future__ import annotations

import gzip
import logging
import re
import time
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Iterator, Mapping
from datetime import datetime
from email.utils import parsedate_to_datetime
from urllib.parse import unquote, urldefrag, urljoin, urlsplit, urlunsplit
from urllib.robotparser import RobotFileParser

from connectors.base import Change, ChangeBatch, ChangeKind, FetchedDocument, KnownItem, SourceError
from connectors.http import Http

log = logging.getLogger(__name__)

INDEXED_TYPES = frozenset(
    {"text/html", "application/xhtml+xml", "text/plain", "text/markdown", "application/pdf"}
)


_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def _resolved(path: str) -> str:
    """Slashes merged and dot segments removed, as web servers resolve a path (a trailing `/` kept)."""
    kept: list[str] = []
    for segment in re.split(r"/+", path):
        if segment == "..":
            if kept:
                kept.pop()
        elif segment not in ("", "."):
            kept.append(segment)
    tail = "/" if kept and (path.endswith("/") or path.rsplit("/", 1)[-1] in (".", "..")) else ""
    return "/" + "/".join(kept) + tail


def normalize(url: str) -> str:
    """One spelling per page: no fragment, lower-case scheme and host, `/` for an empty path, escaped
    unreserved characters decoded and dot segments removed (RFC 3986, section 6.2.2)."""
    url, _ = urldefrag(url)
    parts = urlsplit(url)
    path = re.sub(
        r"%([0-9A-Fa-f]{2})",
        lambda m: chr(int(m[1], 16)) if chr(int(m[1], 16)) in _UNRESERVED else m[0].upper(),
        parts.path,
    )
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), _resolved(path), parts.query, ""))


def container_of(url: str) -> str:
    """The path a page's collection is decided by: the resource the server serves, wholly decoded and
    resolved (`/pub/..%2fhr/x` is `/hr/x`), without `;parameters`; a spelling never widens a page."""
    decoded = unquote(urlsplit(url).path)
    return _resolved("/".join(segment.split(";", 1)[0] for segment in decoded.split("/")))


def _links(html: bytes, base: str) -> tuple[list[str], bool, bool]:
    """(links, noindex, nofollow) of one HTML page."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    robots = ""
    for meta in soup.find_all("meta"):
        if str(meta.get("name", "")).lower() == "robots":
            robots += str(meta.get("content", "")).lower()
    base_tag = soup.find("base", href=True)
    if base_tag is not None:
        base = urljoin(base, str(base_tag["href"]))
    links = []
    for a in soup.find_all("a", href=True):
        if "nofollow" in str(a.get("rel", "")).lower():
            continue
        links.append(normalize(urljoin(base, str(a["href"]))))
    return links, "noindex" in robots, "nofollow" in robots


def _http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None


class WebsiteSource:
    """One site, from `start_url` down; item ids are normalized URLs, containers their paths."""

    def __init__(
        self,
        name: str,
        start_url: str,
        *,
        http: Http,
        sitemaps: list[str] | None = None,
        follow_links: bool = True,
        max_pages: int = 50_000,
        batch_size: int = 50,
        user_agent: str = "Bron",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.start_url = normalize(start_url)
        parts = urlsplit(self.start_url)
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.base_path = parts.path if parts.path.endswith("/") else parts.path.rsplit("/", 1)[0] + "/"
        self.http = http
        self.sitemaps = sitemaps
        self.follow_links = follow_links
        self.max_pages = max_pages
        self.batch_size = batch_size
        self.user_agent = user_agent
        self.headers = dict(headers or {})

    def in_scope(self, url: str) -> bool:
        parts = urlsplit(url)
        return (
            parts.scheme in ("http", "https")
            and f"{parts.scheme}://{parts.netloc}" == self.origin
            and container_of(url).startswith(self.base_path)
        )

    def _robots(self) -> RobotFileParser:
        rp = RobotFileParser()
        r = self.http.get(self.origin + "/robots.txt", headers=self.headers)
        if r.status_code >= 500:
            # RFC 9309: an unreachable robots.txt means the whole site is off limits for now
            raise SourceError(f"{self.origin}/robots.txt answered {r.status_code}; not crawling")
        rp.parse(r.text.splitlines() if r.status_code == 200 else [])
        return rp

    def _sitemap_urls(self, rp: RobotFileParser) -> list[str]:
        todo = list(self.sitemaps or rp.site_maps() or [self.origin + "/sitemap.xml"])
        seen: set[str] = set()
        urls: list[str] = []
        while todo:
            sitemap = todo.pop(0)
            if sitemap in seen or len(seen) > 1000:
                continue
            seen.add(sitemap)
            r = self.http.get(sitemap, headers=self.headers)
            if r.status_code != 200:
                log.info("%s: sitemap %s answered %d", self.name, sitemap, r.status_code)
                continue
            data = r.content
            if data[:2] == b"\x1f\x8b":
                data = gzip.decompress(data)
            try:
                root = ET.fromstring(data)
            except ET.ParseError as exc:
                log.warning("%s: sitemap %s is not valid XML (%s)", self.name, sitemap, exc)
                continue
            tag = root.tag.rsplit("}", 1)[-1]
            locs = [el.text.strip() for el in root.iter() if el.tag.rsplit("}", 1)[-1] == "loc" and el.text]
            if tag == "sitemapindex":
                todo.extend(locs)
            else:
                urls.extend(normalize(u) for u in locs)
        return urls

    def changes(self, cursor: str | None, known: Mapping[str, KnownItem]) -> Iterator[ChangeBatch]:
        """Every page of the site (a website has no change feed, so the cursor is unused)."""
        rp = self._robots()
        delay = rp.crawl_delay(self.user_agent)
        queue: deque[str] = deque()
        queued: set[str] = set()

        def enqueue(url: str) -> None:
            if url not in queued and self.in_scope(url):
                queued.add(url)
                queue.append(url)

        for url in self._sitemap_urls(rp):
            enqueue(url)
        enqueue(self.start_url)
        batch: list[Change] = []
        visited = 0
        while queue and visited < self.max_pages:
            url = queue.popleft()
            k = known.get(url)
            if not rp.can_fetch(self.user_agent, url):
                if k is not None:
                    batch.append(Change(url, ChangeKind.DELETE))
                continue
            if k is not None and k.seen_this_pass:  # a resumed pass: done already
                for link in k.extra.get("links", []):
                    enqueue(link)
                continue
            visited += 1
            change, links = self._visit(url, k)
            if delay:
                time.sleep(float(delay))
            for link in links:
                enqueue(link)
            if change is not None:
                batch.append(change)
            if len(batch) >= self.batch_size:
                yield ChangeBatch(batch, None)
                batch = []
        yield ChangeBatch(batch, None)

    def _visit(self, url: str, k: KnownItem | None) -> tuple[Change | None, list[str]]:
        headers = dict(self.headers)
        if k is not None:
            if k.extra.get("etag"):
                headers["If-None-Match"] = str(k.extra["etag"])
            if k.extra.get("last_modified"):
                headers["If-Modified-Since"] = str(k.extra["last_modified"])
        r = self.http.get(url, headers=headers)
        path = container_of(url)
        if r.status_code == 304 and k is not None:
            return Change(url, ChangeKind.UNCHANGED, container=path, extra=dict(k.extra)), list(
                k.extra.get("links", [])
            )
        if r.status_code == 401:
            raise SourceError(f"{url}: 401 Unauthorized; check the source's credentials")
        if r.status_code in (403, 404, 410):
            return (Change(url, ChangeKind.DELETE) if k is not None else None), []
        if r.status_code != 200:
            kept = list(k.extra.get("links", [])) if k is not None else []
            return Change(url, ChangeKind.FAILED, error=f"HTTP {r.status_code}"), kept
        final = normalize(str(r.url))
        if final != url:  # redirected: the page lives at its new address now
            return (Change(url, ChangeKind.DELETE) if k is not None else None), [final]
        media_type = r.headers.get("Content-Type", "text/html").split(";")[0].strip().lower()
        links: list[str] = []
        noindex = False
        if media_type in ("text/html", "application/xhtml+xml"):
            links, noindex, nofollow = _links(r.content, url)
            if nofollow or not self.follow_links:
                links = []
        if noindex or media_type not in INDEXED_TYPES:
            return (Change(url, ChangeKind.DELETE) if k is not None else None), links
        extra = {
            "etag": r.headers.get("ETag"),
            "last_modified": r.headers.get("Last-Modified"),
            "links": links,
        }
        document = FetchedDocument(
            title=None,
            url=url,
            updated_at=_http_date(r.headers.get("Last-Modified")),
            content=r.content,
            media_type=media_type,
        )
        return Change(url, ChangeKind.UPSERT, container=path, document=document, extra=extra), links

    def fetch(self, change: Change) -> FetchedDocument | None:
        """The page without validators (the engine asks when a page's collection changed)."""
        r = self.http.get(change.item_id, headers=self.headers)
        if r.status_code in (403, 404, 410):
            return None
        if r.status_code != 200:
            raise RuntimeError(f"HTTP {r.status_code}")
        return FetchedDocument(
            title=None,
            url=change.item_id,
            updated_at=_http_date(r.headers.get("Last-Modified")),
            content=r.content,
            media_type=r.headers.get("Content-Type", "text/html").split(";")[0].strip().lower(),
        )
