"""A fake intranet website: pages with ETag / Last-Modified, robots.txt, a paged sitemap index.

What it models: conditional GET (If-None-Match, If-Modified-Since → 304), 301 redirects for moved
pages, 404 for deleted ones, robots.txt Disallow and Sitemap lines, a sitemap index split into
sitemaps of `sitemap_page` URLs, pages reachable only by links, 429 + Retry-After (FakeServer), and a
request path resolved as nginx resolves it (percent-decoded, slashes merged, dot segments removed), so
`/pub/%2e%2e/hr/x` is the page `/hr/x` (and, with `case_insensitive`, `/HR/x` too, as on IIS).
What it does not model: logins/SSO and cookies, JavaScript-rendered pages, gzip transfer encoding,
Range requests, canonical links, hreflang, Crawl-delay, sitemaps with <lastmod> driving anything.
"""

from __future__ import annotations

import hashlib
import html
import posixpath
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from urllib.parse import unquote, urlsplit

from tests.connectors.fakes.server import FakeServer, Reply, Request


@dataclass
class Page:
    title: str
    text: str
    links: list[str] = field(default_factory=list)
    in_sitemap: bool = True
    version: int = 1
    modified: datetime = field(default_factory=lambda: datetime(2026, 1, 1, tzinfo=UTC))


class FakeSite:
    def __init__(self, *, sitemap_page: int = 3, case_insensitive: bool = False) -> None:
        self.case_insensitive = case_insensitive  # as IIS and SharePoint serve paths
        self.pages: dict[str, Page] = {}
        self.redirects: dict[str, str] = {}
        self.disallow: list[str] = []
        self.sitemap_page = sitemap_page
        self.etag_salt = "a"
        self._clock = datetime(2026, 1, 1, tzinfo=UTC)
        self._lock = threading.Lock()
        self.server = FakeServer(self.handle)
        self.url = self.server.url

    def _tick(self) -> datetime:
        self._clock += timedelta(minutes=1)
        return self._clock

    def put(
        self, path: str, title: str, text: str, *, links: list[str] | None = None, in_sitemap: bool = True
    ) -> None:
        with self._lock:
            old = self.pages.get(path)
            self.pages[path] = Page(title, text, links if links is not None else (old.links if old else []),
                                    in_sitemap, (old.version + 1) if old else 1, self._tick())  # fmt: skip
            self.redirects.pop(path, None)

    def delete(self, path: str) -> None:
        with self._lock:
            self.pages.pop(path, None)

    def move(self, old: str, new: str) -> None:
        """The page gets a new address; the old one answers 301 (what a CMS does on rename)."""
        with self._lock:
            page = self.pages.pop(old)
            page.version += 1
            page.modified = self._tick()
            self.pages[new] = page
            self.redirects[old] = new
            for p in self.pages.values():
                p.links = [new if link == old else link for link in p.links]

    def forget_validators(self) -> None:
        """Every ETag changes (a server restored from backup): the crawler's validators are worthless."""
        self.etag_salt += "x"

    def etag(self, path: str, page: Page) -> str:
        return '"' + hashlib.sha1(f"{self.etag_salt}{path}{page.version}".encode()).hexdigest()[:16] + '"'

    def render(self, page: Page) -> bytes:
        nav = "".join(
            f'<li><a href="{html.escape(link)}">{html.escape(link)}</a></li>' for link in page.links
        )
        paras = "".join(f"<p>{html.escape(p)}</p>" for p in page.text.split("\n\n"))
        return (
            f"<!doctype html><html><head><title>{html.escape(page.title)}</title></head><body>"
            f"<nav><ul>{nav}</ul></nav><main><h1>{html.escape(page.title)}</h1>{paras}</main>"
            "<footer>Intranet</footer></body></html>"
        ).encode()

    def handle(self, req: Request) -> Reply:
        raw = unquote(urlsplit(req.path).path)
        path = posixpath.normpath("/" + raw.lstrip("/")) + ("/" if raw.endswith("/") and raw != "/" else "")
        path = "/" + path.lstrip("/")
        with self._lock:
            if path == "/robots.txt":
                lines = [
                    "User-agent: *",
                    *(f"Disallow: {d}" for d in self.disallow),
                    f"Sitemap: {self.url}/sitemap.xml",
                ]
                return Reply(200, "\n".join(lines).encode(), {"Content-Type": "text/plain"})
            if path.startswith("/sitemap"):
                return self._sitemap(path)
            if path in self.redirects:
                return Reply(301, b"", {"Location": self.url + self.redirects[path]})
            page = self.pages.get(path)
            if page is None and self.case_insensitive:
                page = next((pg for p, pg in self.pages.items() if p.lower() == path.lower()), None)
                path = next((p for p in self.pages if p.lower() == path.lower()), path)
            if page is None:
                return Reply(404, b"not found", {"Content-Type": "text/plain"})
            etag = self.etag(path, page)
            modified = format_datetime(page.modified, usegmt=True)
            headers = {"ETag": etag, "Last-Modified": modified, "Content-Type": "text/html; charset=utf-8"}
            inm = req.headers.get("if-none-match")
            ims = req.headers.get("if-modified-since")
            if inm is not None:
                if inm == etag:
                    return Reply(304, b"", headers)
            elif ims is not None and ims == modified:
                return Reply(304, b"", headers)
            return Reply(200, self.render(page), headers)

    def _sitemap(self, path: str) -> Reply:
        """The sitemap index, or one of its sitemaps (`sitemap_page` URLs each); the lock is held."""
        listed = sorted(p for p, page in self.pages.items() if page.in_sitemap)
        parts = [listed[i : i + self.sitemap_page] for i in range(0, len(listed), self.sitemap_page)]
        ns = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'
        xml = {"Content-Type": "application/xml"}
        if path == "/sitemap.xml":
            body = "".join(
                f"<sitemap><loc>{self.url}/sitemap-{i}.xml</loc></sitemap>" for i in range(len(parts))
            )
            return Reply(200, f'<?xml version="1.0"?><sitemapindex {ns}>{body}</sitemapindex>'.encode(), xml)
        i = int(path[len("/sitemap-") : -len(".xml")])
        if i >= len(parts):
            return Reply(404)
        body = "".join(f"<url><loc>{self.url}{html.escape(p)}</loc></url>" for p in parts[i])
        return Reply(200, f'<?xml version="1.0"?><urlset {ns}>{body}</urlset>'.encode(), xml)

    def close(self) -> None:
        self.server.close()
