"""A fake Microsoft Graph (v1.0) for SharePoint sites, document libraries and site pages.

Follows the published API for the calls Bron makes: the client-credentials token endpoint
(`/{tenant}/oauth2/v2.0/token`), `GET /sites/{hostname}:/{path}`, `/sites/{id}/drives`,
`/drives/{id}/root/delta` (full enumeration without a token, `@odata.nextLink` paging honouring
`$top`, `@odata.deltaLink` at the end, tombstones with the `deleted` facet, `410 resyncRequired` for
expired tokens, `@microsoft.graph.sharedChanged` with `Prefer: deltashowsharingchanges`),
`/drives/{id}/items/{id}/permissions` (`inheritedFrom` on inherited ones), `/content` as a 302 to a
pre-authenticated download URL, `/sites/{id}/pages/microsoft.graph.sitePage` and its `webparts`.
Bearer tokens are checked (401 InvalidAuthenticationToken); 429 + Retry-After via FakeServer.
Not modelled: folders' own permissions and hierarchy (items live at the library root), `$select`,
`$expand`, `deltaExcludeParent`, token expiry by time, national clouds, OneDrive personal quirks,
page versions/publishing state, web parts other than text, list items and Office conversions
(`?format=pdf`), throttling headers other than Retry-After, batching (`$batch`).
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from tests.connectors.fakes.server import FakeServer, Reply, Request

TENANT = "contoso-tenant"
CLIENT_ID = "bron-app"
CLIENT_SECRET = "s3cret-value-never-logged"
HOST = "contoso.sharepoint.com"


@dataclass
class Item:
    id: str
    name: str
    content: bytes
    version: int = 1
    seq: int = 0
    deleted: bool = False
    unique: bool = False
    sharing_changed: bool = False


@dataclass
class Drive:
    id: str
    name: str
    items: dict[str, Item] = field(default_factory=dict)


@dataclass
class SitePage:
    id: str
    title: str
    html: str
    version: int = 1


@dataclass
class Site:
    path: str
    id: str
    drives: dict[str, Drive] = field(default_factory=dict)
    pages: dict[str, SitePage] = field(default_factory=dict)


def _json(status: int, body: object) -> Reply:
    return Reply(status, json.dumps(body).encode(), {"Content-Type": "application/json"})


class FakeGraph:
    def __init__(self) -> None:
        self.sites: dict[str, Site] = {}
        self.seq = 0
        self.expired_before = 0  # delta tokens older than this answer 410
        self.tokens: set[str] = set()
        self.lock = threading.Lock()
        self.server = FakeServer(self.handle)
        self.url = self.server.url
        self.graph_url = self.url + "/v1.0"

    # --- what a test does to the "tenant" ---
    def add_site(self, path: str, libraries: tuple[str, ...] = ("Documents",)) -> Site:
        site = Site(path, f"{HOST},{uuid.uuid4()},{uuid.uuid4()}")
        for name in libraries:
            drive = Drive("b!" + uuid.uuid4().hex, name)
            site.drives[drive.id] = drive
        self.sites[path] = site
        return site

    def drive(self, site: str, library: str = "Documents") -> Drive:
        return next(d for d in self.sites[site].drives.values() if d.name == library)

    def _bump(self, item: Item) -> None:
        self.seq += 1
        item.seq = self.seq

    def put_file(
        self, site: str, name: str, content: bytes, *, library: str = "Documents", item_id: str | None = None
    ) -> str:
        with self.lock:
            drive = self.drive(site, library)
            existing = next(
                (
                    i
                    for i in drive.items.values()
                    if i.id == item_id or (item_id is None and i.name == name and not i.deleted)
                ),
                None,
            )
            if existing is None:
                new_id = item_id or uuid.uuid4().hex.upper()
                existing = drive.items[new_id] = Item(new_id, name, content)
            else:
                existing.content, existing.version, existing.name = content, existing.version + 1, name
            existing.deleted, existing.sharing_changed = False, False
            self._bump(existing)
            return existing.id

    def rename_file(self, site: str, item_id: str, name: str, *, library: str = "Documents") -> None:
        with self.lock:
            item = self.drive(site, library).items[item_id]
            item.name, item.version, item.sharing_changed = name, item.version + 1, False
            self._bump(item)

    def delete_file(self, site: str, item_id: str, *, library: str = "Documents") -> None:
        with self.lock:
            item = self.drive(site, library).items[item_id]
            item.deleted = True
            self._bump(item)

    def break_inheritance(self, site: str, item_id: str, *, library: str = "Documents") -> None:
        """Share the file with a narrower group: its permissions stop inheriting; its eTag stays."""
        with self.lock:
            item = self.drive(site, library).items[item_id]
            item.unique, item.sharing_changed = True, True
            self._bump(item)

    def put_page(self, site: str, page_id: str, title: str, html: str) -> None:
        with self.lock:
            pages = self.sites[site].pages
            old = pages.get(page_id)
            pages[page_id] = SitePage(page_id, title, html, (old.version + 1) if old else 1)

    def delete_page(self, site: str, page_id: str) -> None:
        with self.lock:
            del self.sites[site].pages[page_id]

    def expire_tokens(self) -> None:
        with self.lock:
            self.expired_before = self.seq + 1

    # --- the API ---
    def handle(self, req: Request) -> Reply:
        parts = urlsplit(req.path)
        path, query = parts.path, {k: v[-1] for k, v in parse_qs(parts.query).items()}
        if req.method == "POST" and path == f"/{TENANT}/oauth2/v2.0/token":
            form = {k: v[-1] for k, v in parse_qs(req.body.decode()).items()}
            if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
                return _json(
                    401,
                    {
                        "error": "invalid_client",
                        "error_description": "AADSTS7000215: Invalid client secret provided.",
                    },
                )
            if (
                form.get("grant_type") != "client_credentials"
                or form.get("scope") != "https://graph.microsoft.com/.default"
            ):
                return _json(400, {"error": "invalid_request"})
            token = uuid.uuid4().hex
            with self.lock:
                self.tokens.add(token)
            return _json(200, {"token_type": "Bearer", "expires_in": 3599, "access_token": token})
        if path.startswith("/download/"):
            _, _, drive_id, item_id = path.split("/")
            with self.lock:
                item = self._find_drive(drive_id).items.get(item_id)
                if item is None or item.deleted or query.get("tempauth") != f"{item_id}.{item.version}":
                    return Reply(401)
                return Reply(200, item.content, {"Content-Type": "application/octet-stream"})
        if not path.startswith("/v1.0/"):
            return _json(404, {"error": {"code": "itemNotFound"}})
        auth = req.headers.get("authorization", "")
        with self.lock:
            if not auth.startswith("Bearer ") or auth[7:] not in self.tokens:
                return _json(
                    401,
                    {"error": {"code": "InvalidAuthenticationToken", "message": "Access token is empty."}},
                )
            return self._api(path[len("/v1.0") :], query, req)

    def _find_drive(self, drive_id: str) -> Drive:
        for site in self.sites.values():
            if drive_id in site.drives:
                return site.drives[drive_id]
        raise KeyError(drive_id)

    def _site_by_id(self, site_id: str) -> Site | None:
        return next((s for s in self.sites.values() if s.id == site_id), None)

    def _api(self, path: str, query: dict[str, str], req: Request) -> Reply:
        seg = path.strip("/").split("/")
        if seg[0] == "sites" and ":" in path and not path.endswith("/drives"):
            site_path = path[len(f"/sites/{HOST}:") :]
            site = self.sites.get(site_path)
            if site is None:
                return _json(404, {"error": {"code": "itemNotFound"}})
            return _json(
                200, {"id": site.id, "webUrl": f"https://{HOST}{site.path}", "displayName": site.path}
            )
        if seg[0] == "sites":
            site = self._site_by_id(seg[1])
            if site is None:
                return _json(404, {"error": {"code": "itemNotFound"}})
            if seg[2:] == ["drives"]:
                return _json(
                    200,
                    {
                        "value": [
                            {"id": d.id, "name": d.name, "driveType": "documentLibrary"}
                            for d in site.drives.values()
                        ]
                    },
                )
            if seg[2:] == ["pages", "microsoft.graph.sitePage"]:
                return self._pages(site, query)
            if len(seg) == 6 and seg[2] == "pages" and seg[4:] == ["microsoft.graph.sitePage", "webparts"]:
                page = site.pages.get(seg[3])
                if page is None:
                    return _json(404, {"error": {"code": "itemNotFound"}})
                return _json(
                    200,
                    {
                        "value": [
                            {
                                "@odata.type": "#microsoft.graph.textWebPart",
                                "id": "wp1",
                                "innerHtml": page.html,
                            }
                        ]
                    },
                )
        if seg[0] == "drives":
            try:
                drive = self._find_drive(seg[1])
            except KeyError:
                return _json(404, {"error": {"code": "itemNotFound"}})
            if seg[2:] == ["root", "delta"]:
                return self._delta(drive, query, req)
            if len(seg) == 5 and seg[2] == "items":
                item = drive.items.get(seg[3])
                if item is None or item.deleted:
                    return _json(404, {"error": {"code": "itemNotFound"}})
                if seg[4] == "content":
                    return Reply(
                        302,
                        b"",
                        {
                            "Location": f"{self.url}/download/{drive.id}/{item.id}?tempauth={item.id}.{item.version}"
                        },
                    )
                if seg[4] == "permissions":
                    perms = [
                        {
                            "id": "owners",
                            "roles": ["owner"],
                            "inheritedFrom": {"driveId": drive.id, "path": "/drive/root:"},
                        }
                    ]
                    if item.unique:
                        perms = [
                            {
                                "id": "hr-only",
                                "roles": ["read"],
                                "grantedToV2": {"group": {"displayName": "HR"}},
                            }
                        ]
                    return _json(200, {"value": perms})
        return _json(400, {"error": {"code": "invalidRequest", "message": f"fake does not model {path}"}})

    def _delta(self, drive: Drive, query: dict[str, str], req: Request) -> Reply:
        token = int(query["token"]) if "token" in query else None
        if token is not None and token < self.expired_before:
            return _json(
                410,
                {
                    "error": {
                        "code": "resyncRequired",
                        "message": "Resync required. Replace any local items with the server's version (including deletes) if you're sure that the service was up to date with your local changes when you last sync'd. Upload any local changes that the server doesn't know about.",
                    }
                },
            )
        snap = int(query.get("snap", self.seq))
        top = int(query.get("$top", 200))
        skip = int(query.get("skip", 0))
        if token is None:
            items = [i for i in drive.items.values() if not i.deleted and i.seq <= snap]
        else:
            items = [i for i in drive.items.values() if token < i.seq <= snap]
        items.sort(key=lambda i: i.seq)
        sharing = "deltashowsharingchanges" in req.headers.get("prefer", "")
        value: list[dict[str, object]] = []
        if token is None and skip == 0:
            value.append({"id": "ROOT", "name": "root", "root": {}, "folder": {"childCount": len(items)}})
        for i in items[skip : skip + top]:
            if i.deleted:
                value.append(
                    {"id": i.id, "deleted": {"state": "deleted"}, "parentReference": {"driveId": drive.id}}
                )
                continue
            entry: dict[str, object] = {
                "id": i.id, "name": i.name, "eTag": f'"{{{i.id}}},{i.version}"', "cTag": f'"c:{{{i.id}}},{i.version}"',
                "size": len(i.content), "file": {"mimeType": "application/octet-stream"},
                "lastModifiedDateTime": f"2026-01-01T00:{i.seq % 60:02d}:00Z",
                "webUrl": f"https://{HOST}/sites/x/Documents/{i.name}", "parentReference": {"driveId": drive.id, "id": "ROOT"},
            }  # fmt: skip
            if sharing and i.sharing_changed and token is not None:
                entry["@microsoft.graph.sharedChanged"] = "True"
            value.append(entry)
        base = f"{self.graph_url}/drives/{drive.id}/root/delta"
        tok = f"token={token}&" if token is not None else ""
        body: dict[str, object] = {"value": value}
        if skip + top < len(items):
            body["@odata.nextLink"] = f"{base}?{tok}snap={snap}&skip={skip + top}&$top={top}"
        else:
            body["@odata.deltaLink"] = f"{base}?token={snap}"
        return _json(200, body)

    def _pages(self, site: Site, query: dict[str, str]) -> Reply:
        top = int(query.get("$top", 200))
        skip = int(query.get("skip", 0))
        pages = sorted(site.pages.values(), key=lambda p: p.id)
        value = [
            {"id": p.id, "name": f"{p.id}.aspx", "title": p.title, "eTag": f'"{p.id},{p.version}"',
             "webUrl": f"https://{HOST}{site.path}/SitePages/{p.id}.aspx", "lastModifiedDateTime": "2026-01-01T00:00:00Z"}
            for p in pages[skip : skip + top]
        ]  # fmt: skip
        body: dict[str, object] = {"value": value}
        if skip + top < len(pages):
            body["@odata.nextLink"] = (
                f"{self.graph_url}/sites/{site.id}/pages/microsoft.graph.sitePage?$top={top}&skip={skip + top}"
            )
        return _json(200, body)

    def close(self) -> None:
        self.server.close()
