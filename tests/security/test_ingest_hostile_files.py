"""A document folder is written by many people: nothing in it may leak secrets, stop or freeze ingest.

Each test runs the real `bron ingest` and then looks at what the index holds. On bcb969d a link to
/proc/self/environ was indexed (the Slack token with it), there were no size, page or time limits,
and `updated: TBD` stopped the whole run with a traceback.
"""

from __future__ import annotations

import os
import time
import tomllib
from pathlib import Path

import pytest

from tests.security.support import bron, flat, flate_bomb_pdf, indexed_doc_ids, text_pdf

GOOD = "# Leave\n\nEvery employee gets twenty-five vacation days per year.\n"


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs" / "handbook"
    folder.mkdir(parents=True)
    (folder / "leave.md").write_text(GOOD, encoding="utf-8")
    return folder


def test_a_link_to_the_process_environment_is_never_indexed(docs: Path, tmp_path: Path) -> None:
    secret_dir = tmp_path / "secret"
    secret_dir.mkdir()
    (secret_dir / "tokens.md").write_text("# Tokens\n\nxoxb-0000-leaked-token\n", encoding="utf-8")
    (docs / "environment.md").symlink_to("/proc/self/environ")
    (docs / "tokens.md").symlink_to(secret_dir / "tokens.md")
    (docs / "elsewhere").symlink_to(secret_dir, target_is_directory=True)

    result = bron(tmp_path / "data", "ingest", str(docs))

    assert result.exit_code == 0, result.output
    assert indexed_doc_ids(tmp_path / "data") == {"handbook/leave.md"}
    assert flat(result).count("symbolic link") == 3
    search = bron(tmp_path / "data", "sources", "xoxb leaked token PATH HOME")
    assert "xoxb" not in search.output and "environ" not in search.output


def test_a_named_link_and_a_fifo_are_refused_without_blocking(docs: Path, tmp_path: Path) -> None:
    os.mkfifo(docs / "pipe.md")  # opening a FIFO for reading blocks until a writer comes
    link = tmp_path / "env.txt"
    link.symlink_to("/proc/self/environ")
    started = time.monotonic()
    result = bron(tmp_path / "data", "ingest", str(docs), str(link))
    assert time.monotonic() - started < 60
    assert result.exit_code == 0, result.output
    assert indexed_doc_ids(tmp_path / "data") == {"handbook/leave.md"}
    assert "not a regular file" in flat(result) and "symbolic link" in flat(result)


def test_files_over_the_size_limit_are_listed_not_read(docs: Path, tmp_path: Path) -> None:
    (docs / "huge.txt").write_text("word " * 4_000, encoding="utf-8")  # 20 kB
    result = bron(tmp_path / "data", "ingest", str(docs), env={"BRON_RETRIEVAL__LIMITS__MAX_FILE_MB": "0.01"})
    assert result.exit_code == 0, result.output
    assert indexed_doc_ids(tmp_path / "data") == {"handbook/leave.md"}
    assert "huge.txt" in flat(result) and "BRON_RETRIEVAL__LIMITS__MAX_FILE_MB" in flat(result)


def test_a_pdf_over_the_page_limit_is_listed(docs: Path, tmp_path: Path) -> None:
    (docs / "short.pdf").write_bytes(text_pdf(["Travel costs are paid within a month."] * 2))
    (docs / "long.pdf").write_bytes(text_pdf([f"Page {n} of the archive." for n in range(12)]))
    result = bron(tmp_path / "data", "ingest", str(docs), env={"BRON_RETRIEVAL__LIMITS__MAX_PDF_PAGES": "10"})
    assert result.exit_code == 0, result.output
    assert indexed_doc_ids(tmp_path / "data") == {"handbook/leave.md", "handbook/short.pdf"}
    assert "has 12 pages; the limit is 10" in flat(result)


def test_a_pdf_decompression_bomb_is_refused_quickly(docs: Path, tmp_path: Path) -> None:
    (docs / "bomb.pdf").write_bytes(flate_bomb_pdf(400))
    started = time.monotonic()
    result = bron(tmp_path / "data", "ingest", str(docs))
    assert time.monotonic() - started < 60
    assert result.exit_code == 0, result.output
    assert indexed_doc_ids(tmp_path / "data") == {"handbook/leave.md"}
    assert "bomb.pdf" in flat(result)


def test_pypdf_is_pinned_to_a_release_with_decompression_limits() -> None:
    """pypdf before 6.4 inflates FlateDecode and LZW streams without bound (CVE-2025-55197, -66019)."""
    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    [pin] = [d for d in pyproject["project"]["dependencies"] if d.startswith("pypdf")]
    assert pin.replace(" ", "").startswith("pypdf>=") and tuple(
        int(p) for p in pin.split(">=")[1].split(",")[0].split(".")[:2]
    ) >= (6, 4)
    from pypdf.filters import ZLIB_MAX_OUTPUT_LENGTH

    assert ZLIB_MAX_OUTPUT_LENGTH <= 100_000_000


def test_a_parse_that_takes_too_long_is_stopped_and_the_rest_is_ingested(docs: Path, tmp_path: Path) -> None:
    (docs / "slow.html").write_text("<html><body>" + "<p></p>" * 600_000 + "<p>word</p></body></html>")
    started = time.monotonic()
    result = bron(
        tmp_path / "data", "ingest", str(docs), env={"BRON_RETRIEVAL__LIMITS__PARSE_TIMEOUT_S": "0.5"}
    )
    assert time.monotonic() - started < 60
    assert result.exit_code == 0, result.output
    assert indexed_doc_ids(tmp_path / "data") == {"handbook/leave.md"}
    assert "took longer than 0.5 s" in flat(result)
    # the worker was replaced: the next file parses normally
    from retrieval.loaders import load_document
    from retrieval.settings import IngestLimits

    doc = load_document(docs / "leave.md", root=docs.parent, limits=IngestLimits(parse_timeout_s=5))
    assert doc.title == "Leave"


def test_front_matter_errors_are_listed_not_fatal(docs: Path, tmp_path: Path) -> None:
    (docs / "tbd.md").write_text("---\nupdated: TBD\n---\n# Draft\n\nSome text here.\n", encoding="utf-8")
    (docs / "ok.md").write_text("---\nupdated: 2026-03-01\n---\n# Dated\n\nSome text.\n", encoding="utf-8")
    result = bron(tmp_path / "data", "ingest", str(docs))
    assert result.exit_code == 0, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert indexed_doc_ids(tmp_path / "data") == {"handbook/leave.md", "handbook/ok.md"}
    assert "tbd.md" in flat(result) and "updated: TBD" in flat(result)


def test_a_front_matter_url_that_could_write_slack_markup_is_refused(docs: Path, tmp_path: Path) -> None:
    (docs / "hr.md").write_text(
        "---\nurl: https://x|HR> <!channel> <https://evil\n---\n# HR\n\nAsk HR.\n", encoding="utf-8"
    )
    (docs / "wiki.md").write_text(
        "---\nurl: https://wiki.example.com/hr?a=1&b=2\n---\n# Wiki\n\nSee the wiki.\n", encoding="utf-8"
    )
    result = bron(tmp_path / "data", "ingest", str(docs))
    assert result.exit_code == 0, result.output
    assert indexed_doc_ids(tmp_path / "data") == {"handbook/leave.md", "handbook/wiki.md"}
    assert "hr.md" in flat(result) and "not a plain http(s) address" in flat(result)
