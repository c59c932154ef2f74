"""One harness per connector over its fake, so the contract suite says the same things of each.

Keys are the test's names for documents; each harness decides where a key lives in its service.
`restrict` changes who may read a document the way that service does it, so that its collection
must change to "restricted"; `put_unmapped` puts one where the mapping has no collection.
"""

from __future__ import annotations

import html
import zlib
from typing import ClassVar, Protocol

from pydantic import SecretStr

from connectors.base import Source
from connectors.confluence import ConfluenceClient, ConfluenceSpaceSource
from connectors.graph import GraphClient, site_streams
from connectors.http import Http
from connectors.website import WebsiteSource
from tests.connectors.fakes import confluence as fc
from tests.connectors.fakes import graph as fg
from tests.connectors.fakes.confluence import FakeConfluence
from tests.connectors.fakes.graph import FakeGraph
from tests.connectors.fakes.server import FakeServer
from tests.connectors.fakes.website import FakeSite


class Harness(Protocol):
    source_name: str
    mapping: dict[str, str]
    server: FakeServer
    has_cursor: bool

    def streams(self, http: Http) -> list[Source]: ...
    def put(self, key: str, title: str, text: str) -> None: ...
    def rename(self, key: str, title: str) -> None: ...
    def delete(self, key: str) -> None: ...
    def restrict(self, key: str) -> None: ...
    def put_unmapped(self, key: str, title: str, text: str) -> None: ...
    def expire(self) -> None: ...
    def close(self) -> None: ...


class WebsiteHarness:
    source_name = "intranet"
    mapping: ClassVar[dict[str, str]] = {"/pub/": "public", "/restricted/": "restricted"}
    has_cursor = False

    def __init__(self, page_size: int = 2) -> None:
        self.site = FakeSite(sitemap_page=page_size)
        self.server = self.site.server
        self.page_size = page_size
        self.where: dict[str, str] = {}
        self._home()

    def _home(self) -> None:
        self.site.put("/", "Intranet", "Welcome to the intranet.", links=sorted(self.where.values()))

    def streams(self, http: Http) -> list[Source]:
        return [WebsiteSource(self.source_name, self.site.url + "/", http=http, batch_size=self.page_size)]

    def put(self, key: str, title: str, text: str) -> None:
        path = self.where.setdefault(key, f"/pub/{key}")
        # one page in three is only reachable through a link, not the sitemap
        self.site.put(path, title, text, in_sitemap=zlib.crc32(key.encode()) % 3 != 0)
        self._home()

    def rename(self, key: str, title: str) -> None:
        old = self.where[key]
        page = self.site.pages[old]
        new = old + "-renamed"
        self.site.move(old, new)
        self.site.put(new, title, page.text)
        self.where[key] = new
        self._home()

    def delete(self, key: str) -> None:
        self.site.delete(self.where.pop(key))
        self._home()

    def restrict(self, key: str) -> None:
        old = self.where[key]
        new = "/restricted/" + old.rsplit("/", 1)[1]
        self.site.move(old, new)
        self.where[key] = new
        self._home()

    def put_unmapped(self, key: str, title: str, text: str) -> None:
        self.where[key] = f"/other/{key}"
        self.site.put(self.where[key], title, text)
        self._home()

    def expire(self) -> None:
        self.site.forget_validators()

    def close(self) -> None:
        self.site.close()


def graph_client(fake: FakeGraph, http: Http) -> GraphClient:
    return GraphClient(
        http, tenant_id=fg.TENANT, client_id=fg.CLIENT_ID, client_secret=SecretStr(fg.CLIENT_SECRET),
        graph_url=fake.graph_url, login_url=fake.url,
    )  # fmt: skip


SITE = "/sites/hr"
SITE_KEY = f"{fg.HOST}:{SITE}"


class GraphDriveHarness:
    source_name = "sharepoint"
    mapping: ClassVar[dict[str, str]] = {
        f"{SITE_KEY}/Documents": "public",
        f"{SITE_KEY}/Documents/#unique": "restricted",
    }
    has_cursor = True

    def __init__(self, page_size: int = 2) -> None:
        self.fake = FakeGraph()
        self.server = self.fake.server
        self.fake.add_site(SITE, ("Documents", "Private"))
        self.page_size = page_size
        self.ids: dict[str, tuple[str, str]] = {}

    def streams(self, http: Http) -> list[Source]:
        client = graph_client(self.fake, http)
        return list(site_streams(self.source_name, client, SITE_KEY, pages=False, page_size=self.page_size,
                                 max_bytes=10_000_000))  # fmt: skip

    def put(self, key: str, title: str, text: str, library: str = "Documents") -> None:
        old = self.ids.get(key)
        item_id = self.fake.put_file(SITE, f"{title}.md", f"# {title}\n\n{text}\n".encode(), library=library,
                                     item_id=old[1] if old else None)  # fmt: skip
        self.ids[key] = (library, item_id)

    def rename(self, key: str, title: str) -> None:
        library, item_id = self.ids[key]
        self.fake.rename_file(SITE, item_id, f"{title}.md", library=library)

    def delete(self, key: str) -> None:
        library, item_id = self.ids[key]  # a put after this restores it, as from the recycle bin
        self.fake.delete_file(SITE, item_id, library=library)

    def restrict(self, key: str) -> None:
        library, item_id = self.ids[key]
        self.fake.break_inheritance(SITE, item_id, library=library)

    def put_unmapped(self, key: str, title: str, text: str) -> None:
        self.put(key, title, text, library="Private")

    def expire(self) -> None:
        self.fake.expire_tokens()

    def close(self) -> None:
        self.fake.close()


class GraphPagesHarness:
    source_name = "sharepoint"
    mapping: ClassVar[dict[str, str]] = {
        f"{SITE_KEY}/SitePages": "public",
        f"{fg.HOST}:/sites/board/SitePages": "restricted",
    }
    has_cursor = False

    def __init__(self, page_size: int = 2) -> None:
        self.fake = FakeGraph()
        self.server = self.fake.server
        for site in (SITE, "/sites/board", "/sites/misc"):
            self.fake.add_site(site, ())
        self.page_size = page_size
        self.where: dict[str, str] = {}
        self.titles: dict[str, tuple[str, str]] = {}

    def streams(self, http: Http) -> list[Source]:
        client = graph_client(self.fake, http)
        out: list[Source] = []
        for site in (SITE, "/sites/board", "/sites/misc"):
            out.extend(site_streams(self.source_name, client, f"{fg.HOST}:{site}", pages=True,
                                    page_size=self.page_size, max_bytes=10_000_000))  # fmt: skip
        return out

    def put(self, key: str, title: str, text: str) -> None:
        site = self.where.setdefault(key, SITE)
        self.titles[key] = (title, text)
        self.fake.put_page(site, key, title, f"<p>{html.escape(text)}</p>")

    def rename(self, key: str, title: str) -> None:
        self.put(key, title, self.titles[key][1])

    def delete(self, key: str) -> None:
        self.fake.delete_page(self.where.pop(key), key)

    def restrict(self, key: str) -> None:
        """Moved to the board's site (pages carry their site's permissions)."""
        self.fake.delete_page(self.where[key], key)
        self.where[key] = "/sites/board"
        self.put(key, *self.titles[key])

    def put_unmapped(self, key: str, title: str, text: str) -> None:
        self.where[key] = "/sites/misc"
        self.put(key, title, text)

    def expire(self) -> None:
        self.fake.expire_tokens()

    def close(self) -> None:
        self.fake.close()


class ConfluenceHarness:
    source_name = "confluence"
    mapping: ClassVar[dict[str, str]] = {"HR": "public", "HR/#restricted": "restricted"}
    has_cursor = False

    def __init__(self, page_size: int = 2) -> None:
        self.fake = FakeConfluence(("HR", "MISC"))
        self.server = self.fake.server
        self.page_size = page_size
        self.ids: dict[str, str] = {}

    def streams(self, http: Http) -> list[Source]:
        client = ConfluenceClient(http, url=self.fake.url, email=fc.EMAIL, api_token=SecretStr(fc.API_TOKEN))
        return [
            ConfluenceSpaceSource(
                f"{self.source_name}/{key}", client, space_key=key, page_size=self.page_size
            )
            for key in ("HR", "MISC")
        ]

    def put(self, key: str, title: str, text: str, space: str = "HR") -> None:
        self.ids[key] = self.fake.put(space, self.ids.get(key), title, f"<p>{html.escape(text)}</p>")

    def rename(self, key: str, title: str) -> None:
        page = self.fake.pages[self.ids[key]]
        self.fake.put(page.space, page.id, title, page.body)

    def delete(self, key: str) -> None:
        self.fake.delete(self.ids[key])  # a put after this restores it from the trash, same id

    def restrict(self, key: str) -> None:
        self.fake.restrict(self.ids[key])

    def put_unmapped(self, key: str, title: str, text: str) -> None:
        self.put(key, title, text, space="MISC")

    def expire(self) -> None:
        self.fake.expire_cursors()

    def close(self) -> None:
        self.fake.close()
