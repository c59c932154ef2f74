"""A fake Confluence Cloud: REST v2 spaces and pages, v1 read restrictions, Basic auth with an API token.

Follows the published API for the calls Bron makes: `GET /wiki/api/v2/spaces?keys=`,
`/wiki/api/v2/spaces/{id}/pages?limit=&status=current` (cursor paging through a relative
`_links.next`), `/wiki/api/v2/pages/{id}?body-format=storage` (`body.storage.value`,
`version.number`, `parentId`, `_links.webui`) and `/wiki/rest/api/content/{id}/restriction/byOperation/read`
(`restrictions.user.results` / `restrictions.group.results`); 401 without the right Basic credentials;
429 + Retry-After via FakeServer. Cursors of an earlier "epoch" answer 400 (Atlassian does not
document cursor expiry; the connector treats a refused cursor as expired).
Not modelled: blog posts, attachments, comments, labels, folders/whiteboards/databases, drafts and
archived pages, page moves between spaces keeping their id, space permissions (the account sees every
space), `Link` response headers, ADF bodies, Data Center's v1-only API and personal access tokens.
"""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from tests.connectors.fakes.server import FakeServer, Reply, Request

EMAIL = "bron@example.com"
API_TOKEN = "atlassian-api-token-never-logged"


@dataclass
class CPage:
    id: str
    space: str
    title: str
    body: str
    parent: str | None = None
    version: int = 1
    restricted_to: list[str] = field(default_factory=list)


def _json(status: int, body: object) -> Reply:
    return Reply(status, json.dumps(body).encode(), {"Content-Type": "application/json"})


class FakeConfluence:
    def __init__(self, spaces: tuple[str, ...] = ("HR",)) -> None:
        self.spaces = {key: str(1000 + i) for i, key in enumerate(spaces)}
        self.pages: dict[str, CPage] = {}
        self.epoch = 0
        self.next_id = 5000
        self.lock = threading.Lock()
        self.server = FakeServer(self.handle)
        self.url = self.server.url + "/wiki"

    def put(
        self, space: str, page_id: str | None, title: str, body: str, *, parent: str | None = None
    ) -> str:
        with self.lock:
            if page_id is None or page_id not in self.pages:
                if page_id is None:
                    self.next_id += 1
                    page_id = str(self.next_id)
                self.pages[page_id] = CPage(page_id, space, title, body, parent)
            else:
                p = self.pages[page_id]
                p.title, p.body, p.version = title, body, p.version + 1
            return page_id

    def delete(self, page_id: str) -> None:
        with self.lock:
            del self.pages[page_id]

    def restrict(self, page_id: str, group: str = "board") -> None:
        """A read restriction: the version number does not change (as in Confluence)."""
        with self.lock:
            self.pages[page_id].restricted_to.append(group)

    def expire_cursors(self) -> None:
        with self.lock:
            self.epoch += 1

    def handle(self, req: Request) -> Reply:
        expected = "Basic " + base64.b64encode(f"{EMAIL}:{API_TOKEN}".encode()).decode()
        if req.headers.get("authorization") != expected:
            return _json(401, {"code": 401, "message": "Unauthorized; scope does not match"})
        parts = urlsplit(req.path)
        path, query = parts.path, {k: v[-1] for k, v in parse_qs(parts.query).items()}
        with self.lock:
            if path == "/wiki/api/v2/spaces":
                keys = query.get("keys", "").split(",")
                results = [{"id": sid, "key": k, "name": k} for k, sid in self.spaces.items() if k in keys]
                return _json(200, {"results": results, "_links": {}})
            seg = path.strip("/").split("/")
            if seg[:4] == ["wiki", "api", "v2", "spaces"] and len(seg) == 6 and seg[5] == "pages":
                return self._list(seg[4], query)
            if seg[:4] == ["wiki", "api", "v2", "pages"] and len(seg) == 5:
                page = self.pages.get(seg[4])
                if page is None:
                    return _json(404, {"errors": [{"status": 404, "code": "NOT_FOUND"}]})
                body = self._page(page)
                if query.get("body-format") == "storage":
                    body["body"] = {"storage": {"representation": "storage", "value": page.body}}
                return _json(200, body)
            if seg[:5] == ["wiki", "rest", "api", "content", seg[4] if len(seg) > 4 else ""] and seg[5:] == [
                "restriction",
                "byOperation",
                "read",
            ]:
                page = self.pages.get(seg[4])
                if page is None:
                    return _json(404, {"statusCode": 404})
                groups = [{"type": "group", "name": g} for g in page.restricted_to]
                return _json(200, {"operation": "read", "restrictions": {
                    "user": {"results": [], "size": 0}, "group": {"results": groups, "size": len(groups)}}})  # fmt: skip
        return _json(404, {"errors": [{"status": 404, "title": f"fake does not model {path}"}]})

    def _page(self, p: CPage) -> dict[str, object]:
        return {
            "id": p.id, "status": "current", "title": p.title, "spaceId": self.spaces[p.space],
            "parentId": p.parent, "version": {"number": p.version, "createdAt": "2026-01-01T00:00:00.000Z"},
            "_links": {"webui": f"/spaces/{p.space}/pages/{p.id}"},
        }  # fmt: skip

    def _list(self, space_id: str, query: dict[str, str]) -> Reply:
        space = next((k for k, v in self.spaces.items() if v == space_id), None)
        if space is None:
            return _json(404, {"errors": [{"status": 404}]})
        limit = int(query.get("limit", 25))
        start = 0
        if "cursor" in query:
            epoch, _, offset = base64.urlsafe_b64decode(query["cursor"]).decode().partition(":")
            if int(epoch) != self.epoch:
                return _json(400, {"errors": [{"status": 400, "code": "INVALID_REQUEST_PARAMETER",
                                               "title": "Invalid cursor"}]})  # fmt: skip
            start = int(offset)
        pages = sorted((p for p in self.pages.values() if p.space == space), key=lambda p: int(p.id))
        links: dict[str, str] = {}
        if start + limit < len(pages):
            cursor = base64.urlsafe_b64encode(f"{self.epoch}:{start + limit}".encode()).decode()
            links["next"] = (
                f"/wiki/api/v2/spaces/{space_id}/pages?limit={limit}&status=current&cursor={cursor}"
            )
        return _json(200, {"results": [self._page(p) for p in pages[start : start + limit]], "_links": links})

    def close(self) -> None:
        self.server.close()
