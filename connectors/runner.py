"""Turning source settings into change streams, syncing them, and doing so on a schedule.

A stream that was synced before but is no longer listed (a library deleted, a site dropped from the
settings) is synced as an empty full listing, so its documents go through the same mass-delete guard
instead of staying in the index forever.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from sqlalchemy import select

from connectors.base import Change, ChangeBatch, FetchedDocument, KnownItem, Source
from connectors.http import Http
from connectors.settings import (
    ConfluenceSourceSettings,
    SharePointSourceSettings,
    SourceSettings,
    SyncSettings,
    WebsiteSourceSettings,
)
from connectors.sync import SyncEngine, SyncReport
from feedback.models import SourceSync

log = logging.getLogger(__name__)


class VanishedStream:
    """A stream the source no longer has: an empty full listing, so its items are pruned (guarded)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def changes(self, cursor: str | None, known: Mapping[str, KnownItem]) -> Iterator[ChangeBatch]:
        yield ChangeBatch([], None)

    def fetch(self, change: Change) -> FetchedDocument | None:
        return None


def build_streams(name: str, config: SourceSettings, sync: SyncSettings, http: Http) -> list[Source]:
    """The change streams of one configured source (network calls for SharePoint: sites and drives)."""
    if isinstance(config, WebsiteSourceSettings):
        from connectors.website import WebsiteSource

        headers = {"Authorization": config.authorization.get_secret_value()} if config.authorization else {}
        return [
            WebsiteSource(
                name, config.url, http=http, sitemaps=config.sitemaps or None, follow_links=config.follow_links,
                max_pages=config.max_pages, batch_size=sync.batch_size, user_agent=config.user_agent,
                headers=headers,
            )
        ]  # fmt: skip
    if isinstance(config, ConfluenceSourceSettings):
        from connectors.confluence import ConfluenceClient, ConfluenceSpaceSource

        wiki = ConfluenceClient(http, url=config.url, email=config.email, api_token=config.api_token)
        return [
            ConfluenceSpaceSource(f"{name}/{key}", wiki, space_key=key, page_size=config.page_size)
            for key in config.spaces
        ]
    assert isinstance(config, SharePointSourceSettings)
    from connectors.graph import GraphClient, onedrive_stream, site_streams

    client = GraphClient(
        http, tenant_id=config.tenant_id, client_id=config.client_id, client_secret=config.client_secret,
        graph_url=config.graph_url, login_url=config.login_url,
    )  # fmt: skip
    max_bytes = int(config.max_file_mb * 1_000_000)
    streams: list[Source] = []
    for site in config.sites:
        streams.extend(
            site_streams(
                name, client, site, pages=config.pages, page_size=config.page_size, max_bytes=max_bytes
            )
        )
    for user in config.users:
        streams.append(onedrive_stream(name, client, user, page_size=config.page_size, max_bytes=max_bytes))
    return streams


@dataclass
class SourceRun:
    source: str
    reports: list[SyncReport] = field(default_factory=list)
    error: str | None = None

    @property
    def blocked(self) -> bool:
        return any(r.blocked_deletes for r in self.reports)


def sync_source(
    engine: SyncEngine,
    name: str,
    config: SourceSettings,
    sync: SyncSettings,
    *,
    stop: Callable[[], bool] | None = None,
) -> SourceRun:
    """Sync every stream of one source; an error in one stream is recorded and the others still run."""
    run = SourceRun(name)
    http = (
        Http(sync, user_agent=config.user_agent) if isinstance(config, WebsiteSourceSettings) else Http(sync)
    )
    try:
        try:
            streams = build_streams(name, config, sync, http)
        except Exception as exc:
            run.error = f"{type(exc).__name__}: {exc}"
            log.error("source %s: cannot list its streams: %s", name, run.error)
            return run
        with engine.store.session() as s:
            stored = set(s.scalars(select(SourceSync.stream).where(SourceSync.source == name)))
        live = {st.name for st in streams}
        all_streams: list[Source] = [*streams, *(VanishedStream(n) for n in sorted(stored - live))]
        for stream in all_streams:
            try:
                report = engine.sync(stream, source_name=name, mapping=config.collections, stop=stop)
                run.reports.append(report)
                log.info("synced %s: %s", stream.name, report.summary())
            except Exception as exc:
                run.error = f"{stream.name}: {type(exc).__name__}: {exc}"
                log.error("source %s: %s", name, run.error)
                if stop is not None and stop():
                    break
    finally:
        http.close()
    return run


class SyncScheduler:
    """Syncs every source every `interval_s` in a background thread, until stopped.

    A failing source is logged and retried at the next tick; stopping waits for the batch in hand,
    and the interrupted stream resumes from its cursor next time.
    """

    def __init__(
        self,
        engine: SyncEngine,
        sources: Mapping[str, SourceSettings],
        sync: SyncSettings,
        *,
        on_run: Callable[[SourceRun], None] | None = None,
    ) -> None:
        self.engine = engine
        self.sources = dict(sources)
        self.sync = sync
        self.on_run = on_run
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="bron-sync", daemon=True)

    def start(self) -> SyncScheduler:
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.is_set():
            for name, config in self.sources.items():
                if self._stop.is_set():
                    break
                run = sync_source(self.engine, name, config, self.sync, stop=self._stop.is_set)
                if self.on_run is not None:
                    self.on_run(run)
            self._stop.wait(self.sync.interval_s)

    def stop(self, timeout_s: float = 30.0) -> None:
        self._stop.set()
        self._thread.join(timeout_s)
