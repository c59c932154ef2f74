"""Connected sources in the CLI and in `bron run`: one sync on demand, the scheduler, status, metrics.

The sync engine is built from the runtime's own index, embedder and store, so a scheduled sync in
`bron run` writes to exactly what the bot answers from; secrets stay inside the source settings
(SecretStr) and are never part of what is printed or logged here.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from bot.settings import Settings
from connectors.runner import SourceRun, SyncScheduler, sync_source
from connectors.sync import StreamStatus, SyncEngine, SyncPolicy, stream_status
from feedback.store import FeedbackStore
from retrieval.backend import SearchBackend
from retrieval.embedding import Embedder


class UnknownSourceError(Exception):
    pass


def make_engine(
    settings: Settings,
    store: FeedbackStore,
    backend: SearchBackend,
    embedder: Embedder,
    *,
    allow_mass_delete: bool = False,
) -> SyncEngine:
    policy = SyncPolicy(
        max_delete_share=settings.sync.max_delete_share,
        allow_mass_delete=allow_mass_delete,
        max_words=settings.retrieval.chunk_words,
        overlap_words=settings.retrieval.chunk_overlap_words,
    )
    return SyncEngine(store, backend, embedder, policy)


def sync_sources(engine: SyncEngine, settings: Settings, only: str | None = None) -> list[SourceRun]:
    """Sync one configured source (by name) or all of them, in order."""
    if only is not None and only not in settings.sources:
        known = ", ".join(sorted(settings.sources)) or "none are configured"
        raise UnknownSourceError(
            f"no source named {only!r} (configured: {known}); see [sources.NAME] in bron.toml"
        )
    names = [only] if only is not None else sorted(settings.sources)
    return [sync_source(engine, name, settings.sources[name], settings.sync) for name in names]


def start_scheduler(engine: SyncEngine, settings: Settings) -> SyncScheduler | None:
    """The background sync of `bron run`, when sources are configured and the interval is not 0."""
    if not settings.sources or settings.sync.interval_s <= 0:
        return None
    return SyncScheduler(engine, settings.sources, settings.sync).start()


def status_rows(store: FeedbackStore, settings: Settings) -> list[StreamStatus]:
    """Stored stream states, plus a row for each configured source that never synced."""
    rows = stream_status(store)
    seen = {r.source for r in rows}
    rows += [StreamStatus(n, n, None, None, False, 0) for n in sorted(settings.sources) if n not in seen]
    return rows


def format_age(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h ago"
    return f"{seconds / 86400:.1f} days ago"


class SourceSyncCollector(Collector):
    """`bron_source_last_success_timestamp_seconds` / `..._age_seconds` and `bron_source_documents`,
    read from the store at scrape time, so every replica reports the same state."""

    def __init__(self, store: FeedbackStore) -> None:
        self.store = store

    def collect(self) -> Iterator[GaugeMetricFamily]:
        labels = ["source", "stream"]
        stamp = GaugeMetricFamily(
            "bron_source_last_success_timestamp_seconds",
            "When each source stream last synced fully.",
            labels=labels,
        )
        age = GaugeMetricFamily(
            "bron_source_last_success_age_seconds",
            "Seconds since each source stream last synced fully.",
            labels=labels,
        )
        docs = GaugeMetricFamily(
            "bron_source_documents", "Documents each source stream serves.", labels=labels
        )
        try:
            rows = stream_status(self.store)
        except Exception:  # a scrape during a database outage reports no sources rather than failing
            rows = []
        now = datetime.now(UTC)
        for r in rows:
            a = r.age_s(now)
            if a is not None:
                age.add_metric([r.source, r.stream], a)
                stamp.add_metric([r.source, r.stream], now.timestamp() - a)
            docs.add_metric([r.source, r.stream], r.documents)
        yield stamp
        yield age
        yield docs
