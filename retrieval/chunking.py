"""Splitting documents into chunks that keep their title and heading path.

Chunks stay within one section, so a chunk never mixes two headings' content; long sections split on
paragraph, then sentence, boundaries with a small overlap. Sizes are in words, a cheap stand-in for
tokens that holds for Dutch and English (e5's 512-token window fits ~300 words comfortably).
"""

from __future__ import annotations

import hashlib
import re

from retrieval.types import Chunk, Document

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def _pieces(text: str) -> list[str]:
    """Paragraphs, with over-long paragraphs broken into sentences."""
    out: list[str] = []
    for para in re.split(r"\n\s*\n", text):
        para = para.strip()
        if para:
            out.extend(_SENTENCE_END.split(para) if len(para.split()) > 120 else [para])
    return out


def split_text(text: str, *, max_words: int, overlap_words: int) -> list[str]:
    pieces = _pieces(text)
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for piece in pieces:
        n = len(piece.split())
        if current and size + n > max_words:
            chunks.append("\n\n".join(current))
            tail = " ".join(" ".join(current).split()[-overlap_words:]) if overlap_words else ""
            current, size = ([tail], len(tail.split())) if tail else ([], 0)
        current.append(piece)
        size += n
    if current:
        chunks.append("\n\n".join(current))
    return chunks


def chunk_id(doc_id: str, ordinal: int, text: str) -> str:
    """Stable across re-ingests of the same content, different when the text changes."""
    digest = hashlib.sha1(f"{doc_id}\x00{ordinal}\x00{text}".encode()).hexdigest()[:16]
    return f"{digest}"


def chunk_document(doc: Document, *, max_words: int, overlap_words: int) -> list[Chunk]:
    chunks: list[Chunk] = []
    for section in doc.sections:
        path = section.heading_path
        if path and path[0] == doc.title:
            path = path[1:]
        for text in split_text(section.text, max_words=max_words, overlap_words=overlap_words):
            ordinal = len(chunks)
            chunks.append(
                Chunk(
                    chunk_id=chunk_id(doc.doc_id, ordinal, text),
                    doc_id=doc.doc_id,
                    title=doc.title,
                    heading_path=path,
                    text=text,
                    source=doc.source,
                    collection=doc.collection,
                    language=doc.language,
                    ordinal=ordinal,
                    updated_at=doc.updated_at,
                    url=doc.url,
                )
            )
    return chunks


def embedding_text(chunk: Chunk) -> str:
    """What the embedder and BM25 see: title and headings give a chunk its context."""
    head = " › ".join((chunk.title, *[h for h in chunk.heading_path if h != chunk.title]))
    return f"{head}\n{chunk.text}"
