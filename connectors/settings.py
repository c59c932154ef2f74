"""Settings of connected sources (`[sources.NAME]` in bron.toml, `BRON_SOURCES__NAME__…`) and of the sync.

Each source maps its containers (a site's library, a URL path) to collections in `collections`;
a container that matches no key is not served. Secrets are SecretStr: never printed, never logged.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, SecretStr, StringConstraints


class WebsiteSourceSettings(BaseModel):
    kind: Literal["website"] = "website"
    url: str
    collections: dict[str, str] = {}  # URL path prefix → collection, e.g. {"/": "public", "/hr/": "hr"}
    sitemaps: list[str] = []  # empty: the Sitemap lines of robots.txt, else /sitemap.xml
    follow_links: bool = True
    max_pages: int = 50_000
    user_agent: str = "BronBot/0.1"
    authorization: SecretStr | None = None  # sent as the Authorization header, e.g. "Bearer …"


class SharePointSourceSettings(BaseModel):
    kind: Literal["sharepoint"] = "sharepoint"
    tenant_id: str
    client_id: str
    client_secret: SecretStr
    sites: list[str] = []  # "contoso.sharepoint.com:/sites/hr"
    users: list[str] = []  # OneDrive for Business of these users (user principal names)
    pages: bool = True
    # "<site>/<library>", "<site>/SitePages", "users/<upn>" (prefixes) → collection
    collections: dict[str, str] = {}
    graph_url: str = "https://graph.microsoft.com/v1.0"
    login_url: str = "https://login.microsoftonline.com"
    page_size: int = 200
    max_file_mb: float = 50.0


class ConfluenceSourceSettings(BaseModel):
    kind: Literal["confluence"] = "confluence"
    url: str  # the site's wiki root: https://example.atlassian.net/wiki
    email: str
    api_token: SecretStr
    spaces: list[str] = []  # space keys
    # "<SPACE KEY>" → collection; pages with read restrictions (own or inherited) are "<KEY>/#restricted"
    collections: dict[str, str] = {}
    page_size: int = 100


# a source's name prefixes its documents' ids and names its state: short, stable, no separators
SourceName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")]
SourceSettings = Annotated[
    WebsiteSourceSettings | SharePointSourceSettings | ConfluenceSourceSettings, Field(discriminator="kind")
]


class SyncSettings(BaseModel):
    interval_s: float = 900.0  # `bron run` syncs every source this often; 0 turns it off
    max_delete_share: float = 0.25  # more deletions than this share of a stream needs --allow-mass-delete
    batch_size: int = 50
    request_timeout_s: float = 30.0
    max_retries: int = 5
    max_retry_after_s: float = 300.0
