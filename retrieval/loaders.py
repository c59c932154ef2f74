"""Reading source files into Documents with their heading structure.

Markdown is parsed with markdown-it (headings become the heading path), HTML with BeautifulSoup
(h1-h6), PDF with pypdf (one section per page), plain text as one section. A file that cannot be read
raises DocumentError naming the file and the reason, so ingestion can skip it and report it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from markdown_it import MarkdownIt

from retrieval.access import narrowed
from retrieval.analysis import detect_language
from retrieval.errors import DocumentError
from retrieval.types import Document, Section

SUPPORTED_SUFFIXES = (".md", ".markdown", ".txt", ".html", ".htm", ".pdf")


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


_OPENING = re.compile(r"-{3,}[ \t]*")
_CLOSING = re.compile(r"(?:-{3,}|\.\.\.)[ \t]*")
_FIELD = re.compile(r"([^:]+):(.*)")


def _front_matter(text: str) -> tuple[dict[str, str], str]:
    """Split simple `key: value` front matter (between --- lines) from the body.

    Read however an editor wrote it: a byte-order mark, CRLF or CR line endings, blank lines before
    it, spaces after a `---`, a YAML `...` closing it. Otherwise such a file silently loses its front
    matter, and with it the collection that restricts it.
    """
    text = text.lstrip("\ufeff\u200b").replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    start = next((i for i, line in enumerate(lines) if line.strip()), len(lines))
    if start == len(lines) or not _OPENING.fullmatch(lines[start]):
        return {}, text
    end = next((i for i in range(start + 1, len(lines)) if _CLOSING.fullmatch(lines[i])), None)
    if end is None:
        return {}, text
    fields = [_FIELD.fullmatch(line) for line in lines[start + 1 : end] if line.strip()]
    if start > 0 and not all(fields):
        return {}, text  # after blank lines, only a block of nothing but fields is front matter
    meta = {m.group(1).strip().lower(): m.group(2).strip().strip('"') for m in fields if m}
    return meta, "\n".join(lines[end + 1 :]).lstrip("\n")


def parse_markdown(text: str) -> tuple[str | None, list[Section]]:
    """Sections keyed by heading path; the first h1 is the title."""
    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    lines = text.splitlines()
    title: str | None = None
    path: list[tuple[int, str]] = []
    sections: list[Section] = []
    body_start = 0
    heading_starts: list[tuple[int, int, int, str]] = []
    for i, tok in enumerate(tokens):
        if tok.type == "heading_open" and tok.map is not None:
            level = int(tok.tag[1])
            heading_text = tokens[i + 1].content.strip()
            heading_starts.append((tok.map[0], tok.map[1], level, heading_text))

    def flush(upto: int) -> None:
        body = "\n".join(lines[body_start:upto]).strip()
        if body:
            sections.append(Section(heading_path=tuple(h for _, h in path), text=body))

    for start, end, level, heading_text in heading_starts:
        flush(start)
        if level == 1 and title is None:
            title = heading_text
        while path and path[-1][0] >= level:
            path.pop()
        path.append((level, heading_text))
        body_start = end
    flush(len(lines))
    return title, sections


def _load_markdown(data: bytes) -> tuple[str | None, list[Section], dict[str, str]]:
    meta, body = _front_matter(data.decode("utf-8"))
    title, sections = parse_markdown(body)
    return meta.get("title", title), sections, meta


def _load_text(data: bytes) -> tuple[str | None, list[Section], dict[str, str]]:
    text = data.decode("utf-8").strip()
    return None, [Section(heading_path=(), text=text)] if text else [], {}


def _load_html(data: bytes) -> tuple[str | None, list[Section], dict[str, str]]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(data, "html.parser")
    for tag in soup(["script", "style", "nav", "footer"]):
        tag.decompose()
    title = soup.title.get_text(strip=True) if soup.title else None
    sections: list[Section] = []
    path: list[tuple[int, str]] = []
    buffer: list[str] = []
    body = soup.body or soup

    def flush() -> None:
        text = "\n".join(b for b in buffer if b).strip()
        if text:
            sections.append(Section(heading_path=tuple(h for _, h in path), text=text))
        buffer.clear()

    for el in body.find_all(["h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "pre", "td", "th"]):
        if el.name and el.name[0] == "h" and el.name[1:].isdigit():
            flush()
            level = int(el.name[1:])
            heading = el.get_text(" ", strip=True)
            if level == 1 and title is None:
                title = heading
            while path and path[-1][0] >= level:
                path.pop()
            path.append((level, heading))
        else:
            buffer.append(el.get_text(" ", strip=True))
    flush()
    return title, sections, {}


def _load_pdf(data: bytes) -> tuple[str | None, list[Section], dict[str, str]]:
    import io

    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    sections = []
    for number, page in enumerate(reader.pages, start=1):
        text = (page.extract_text() or "").strip()
        if text:
            sections.append(Section(heading_path=(f"page {number}",), text=text))
    meta_title = reader.metadata.title if reader.metadata and reader.metadata.title else None
    return meta_title, sections, {}


_LOADERS: dict[str, Callable[[bytes], tuple[str | None, list[Section], dict[str, str]]]] = {
    ".md": _load_markdown,
    ".markdown": _load_markdown,
    ".txt": _load_text,
    ".html": _load_html,
    ".htm": _load_html,
    ".pdf": _load_pdf,
}


def load_document(path: Path, *, root: Path | None = None, collection: str = "public") -> Document:
    """Load one file. `root` makes the document id stable across machines (a relative path).

    `collection` is the root's; front matter may only narrow it (retrieval/access.py).
    """
    loader = _LOADERS.get(path.suffix.lower())
    if loader is None:
        raise DocumentError(f"{path}: unsupported file type {path.suffix!r}; use one of {SUPPORTED_SUFFIXES}")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DocumentError(f"{path}: cannot be read ({exc.strerror}); check its permissions") from exc
    try:
        title, sections, meta = loader(data)
    except UnicodeDecodeError as exc:
        raise DocumentError(f"{path}: not valid UTF-8 text (byte {exc.start}); re-save it as UTF-8") from exc
    except Exception as exc:  # parsers raise many types on corrupt input; each is one bad file
        raise DocumentError(f"{path}: could not be parsed ({type(exc).__name__}: {exc})") from exc
    if not sections:
        raise DocumentError(f"{path}: contains no text to index")
    doc_id = str(path.relative_to(root)) if root is not None else str(path)
    updated = meta.get("updated")
    updated_at = (
        datetime.fromisoformat(updated).replace(tzinfo=UTC)
        if updated
        else datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
    )
    full_text = " ".join(s.text for s in sections)
    return Document(
        doc_id=doc_id,
        title=title or path.stem.replace("-", " ").replace("_", " ").capitalize(),
        source=str(path),
        sections=tuple(sections),
        content_hash=content_hash(data),
        collection=narrowed(collection, meta.get("collection"), where=str(path)),
        updated_at=updated_at,
        language=meta.get("language", detect_language(full_text)),
        url=meta.get("url"),
    )


MEDIA_TYPE_SUFFIXES = {
    "text/markdown": ".md",
    "text/plain": ".txt",
    "text/html": ".html",
    "application/xhtml+xml": ".html",
    "application/pdf": ".pdf",
}


def load_bytes(
    data: bytes,
    *,
    media_type: str,
    doc_id: str,
    source: str,
    collection: str,
    title: str | None = None,
    url: str | None = None,
    updated_at: datetime | None = None,
) -> Document:
    """A document that came over the network (a connected source) rather than from a file.

    The collection is the caller's, from its configured mapping: front matter in fetched content never
    changes it, so a page's author cannot widen who may read it.
    """
    suffix = MEDIA_TYPE_SUFFIXES.get(media_type.split(";")[0].strip().lower())
    if suffix is None:
        raise DocumentError(f"{source}: unsupported content type {media_type!r}")
    try:
        found_title, sections, meta = _LOADERS[suffix](data)
    except UnicodeDecodeError as exc:
        raise DocumentError(f"{source}: not valid UTF-8 text (byte {exc.start})") from exc
    except Exception as exc:  # parsers raise many types on corrupt input; each is one bad document
        raise DocumentError(f"{source}: could not be parsed ({type(exc).__name__}: {exc})") from exc
    if not sections:
        raise DocumentError(f"{source}: contains no text to index")
    full_text = " ".join(s.text for s in sections)
    return Document(
        doc_id=doc_id,
        title=title or found_title or doc_id,
        source=source,
        sections=tuple(sections),
        content_hash=content_hash(data),
        collection=collection,
        updated_at=updated_at,
        language=meta.get("language", detect_language(full_text)),
        url=url,
    )
