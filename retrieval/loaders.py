"""Reading source files into Documents with their heading structure.

Markdown is parsed with markdown-it (headings become the heading path), HTML with BeautifulSoup
(h1-h6), PDF with pypdf (one section per page), plain text as one section. A file that cannot be read
raises DocumentError naming the file and the reason, so ingestion can skip it and report it.

Files come from folders anyone may write to, so reading is defensive: a symbolic link is never
followed (a link to /proc/self/environ would index the process's secrets), only regular files are
opened (a FIFO would block forever), files over the size limit are refused before they are read, and
parsing runs in a worker process that is killed when it takes longer than the parse timeout.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import re
import stat
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from markdown_it import MarkdownIt

from retrieval.access import narrowed
from retrieval.analysis import detect_language
from retrieval.errors import DocumentError
from retrieval.settings import IngestLimits
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


def _load_pdf(data: bytes, max_pages: int) -> tuple[str | None, list[Section], dict[str, str]]:
    import io

    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    if len(reader.pages) > max_pages:
        raise DocumentError(
            f"has {len(reader.pages)} pages; the limit is {max_pages} (BRON_RETRIEVAL__LIMITS__MAX_PDF_PAGES)"
        )
    sections = []
    for number, page in enumerate(reader.pages, start=1):
        text = (page.extract_text() or "").strip()
        if text:
            sections.append(Section(heading_path=(f"page {number}",), text=text))
    meta_title = reader.metadata.title if reader.metadata and reader.metadata.title else None
    return meta_title, sections, {}


Parsed = tuple[str | None, list[Section], dict[str, str]]

_LOADERS: dict[str, Callable[[bytes], Parsed]] = {
    ".md": _load_markdown,
    ".markdown": _load_markdown,
    ".txt": _load_text,
    ".html": _load_html,
    ".htm": _load_html,
}


def _parse(suffix: str, data: bytes, max_pages: int) -> Parsed:
    if suffix == ".pdf":
        return _load_pdf(data, max_pages)
    return _LOADERS[suffix](data)


def read_source(path: Path, *, max_bytes: int) -> tuple[bytes, float]:
    """(the file's bytes, its mtime), refusing links, anything but a regular file, and oversized files.

    O_NOFOLLOW and the fstat of the opened descriptor close the gap between listing a folder and
    reading a file: a file swapped for a link or a FIFO in between is refused all the same.
    """
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if path.is_symlink():
            raise DocumentError(f"{path}: is a symbolic link; Bron does not follow links") from exc
        raise DocumentError(f"{path}: cannot be read ({exc.strerror}); check its permissions") from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise DocumentError(f"{path}: not a regular file; only regular files are read")
        if info.st_size > max_bytes:
            raise DocumentError(
                f"{path}: is {info.st_size / 1048576:.1f} MB; the limit is {max_bytes / 1048576:.1f} MB "
                "(BRON_RETRIEVAL__LIMITS__MAX_FILE_MB)"
            )
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(max_bytes + 1)
    except OSError as exc:
        raise DocumentError(f"{path}: cannot be read ({exc.strerror}); check its permissions") from exc
    finally:
        os.close(fd)
    if len(data) > max_bytes:  # grew while being read
        raise DocumentError(f"{path}: is over the {max_bytes / 1048576:.1f} MB limit")
    return data, info.st_mtime


def _worker_main(conn: Connection) -> None:
    """The parse worker: one (suffix, data, max_pages) in, one ("ok", parsed) or (kind, message) out."""
    while True:
        try:
            suffix, data, max_pages = conn.recv()
        except EOFError:
            return
        reply: tuple[str, Any]
        try:
            reply = ("ok", _parse(suffix, data, max_pages))
        except UnicodeDecodeError as exc:
            reply = ("utf8", exc.start)
        except DocumentError as exc:
            reply = ("document", str(exc))
        except Exception as exc:  # parsers raise many types on corrupt input; each is one bad file
            reply = ("error", f"{type(exc).__name__}: {exc}")
        conn.send(reply)


class ParseWorker:
    """A process that parses one file at a time and is killed (and replaced) when one takes too long.

    A thread cannot be stopped, and a pathological file can hold the interpreter lock in a parser's
    C code; a process can be killed, so one file never freezes the ingest or `bron run`'s start.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None

    def _start(self) -> Connection:
        ctx = multiprocessing.get_context("spawn")  # fork would copy the parent's threads' held locks
        parent, child = ctx.Pipe()
        process = ctx.Process(target=_worker_main, args=(child,), name="bron-parse", daemon=True)
        process.start()
        child.close()
        self._process, self._conn = process, parent
        return parent

    def _stop(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.join(5)
        if self._conn is not None:
            self._conn.close()
        self._process, self._conn = None, None

    def parse(self, path: Path | str, suffix: str, data: bytes, limits: IngestLimits) -> Parsed:
        """Parse `data` as a `suffix` file; `path` names it in errors."""
        timeout_s = limits.parse_timeout_s
        with self._lock:
            alive = self._process is not None and self._process.is_alive()
            conn = self._conn if alive and self._conn is not None else self._start()
            try:
                conn.send((suffix, data, limits.max_pdf_pages))
                ready = conn.poll(timeout_s)
                reply = conn.recv() if ready else None
            except (EOFError, OSError) as exc:
                self._stop()
                raise DocumentError(f"{path}: the parser crashed on it ({exc or 'no reply'})") from exc
            if reply is None:
                self._stop()
                raise DocumentError(
                    f"{path}: parsing took longer than {timeout_s:g} s and was stopped "
                    "(BRON_RETRIEVAL__LIMITS__PARSE_TIMEOUT_S)"
                )
        kind, payload = reply
        if kind == "ok":
            parsed: Parsed = payload
            return parsed
        if kind == "utf8":
            raise DocumentError(f"{path}: not valid UTF-8 text (byte {payload}); re-save it as UTF-8")
        if kind == "document":
            raise DocumentError(f"{path}: {payload}")
        raise DocumentError(f"{path}: could not be parsed ({payload})")


_WORKER = ParseWorker()


def _updated_at(path: Path, value: str | None, mtime: float) -> datetime:
    if not value:
        return datetime.fromtimestamp(mtime, tz=UTC)
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise DocumentError(
            f"{path}: front matter `updated: {value[:40]}` is not a date; write it as YYYY-MM-DD"
        ) from None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _checked_url(path: Path, value: str | None) -> str | None:
    """A front-matter `url:` is posted as a link in Slack, so it must be a plain http(s) address:
    no spaces, quotes, angle brackets or `|`, which would let it end the link and write mrkdwn."""
    if not value:
        return None
    try:
        parts = urlsplit(value)
    except ValueError:
        parts = None
    bad = any(c.isspace() or c in '<>|"`\\' or ord(c) < 32 for c in value)
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc or bad:
        raise DocumentError(
            f"{path}: front matter `url:` {value[:80]!r} is not a plain http(s) address; fix or remove it"
        )
    return value


def load_document(
    path: Path, *, root: Path | None = None, collection: str = "public", limits: IngestLimits | None = None
) -> Document:
    """Load one file. `root` makes the document id stable across machines (a relative path).

    `collection` is the root's; front matter may only narrow it (retrieval/access.py).
    """
    limits = limits or IngestLimits()
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise DocumentError(f"{path}: unsupported file type {path.suffix!r}; use one of {SUPPORTED_SUFFIXES}")
    data, mtime = read_source(path, max_bytes=limits.max_file_bytes)
    title, sections, meta = _WORKER.parse(path, suffix, data, limits)
    if not sections:
        raise DocumentError(f"{path}: contains no text to index")
    doc_id = str(path.relative_to(root)) if root is not None else str(path)
    updated_at = _updated_at(path, meta.get("updated"), mtime)
    url = _checked_url(path, meta.get("url"))
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
        url=url,
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
    limits: IngestLimits | None = None,
) -> Document:
    """A document that came over the network (a connected source) rather than from a file.

    The collection is the caller's, from its configured mapping: front matter in fetched content never
    changes it, so a page's author cannot widen who may read it.
    """
    suffix = MEDIA_TYPE_SUFFIXES.get(media_type.split(";")[0].strip().lower())
    if suffix is None:
        raise DocumentError(f"{source}: unsupported content type {media_type!r}")
    limits = limits or IngestLimits()
    if len(data) > limits.max_file_bytes:
        raise DocumentError(
            f"{source}: is {len(data) / 1048576:.1f} MB; the limit is {limits.max_file_mb:g} MB "
            "(BRON_RETRIEVAL__LIMITS__MAX_FILE_MB)"
        )
    found_title, sections, meta = _WORKER.parse(source, suffix, data, limits)
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
