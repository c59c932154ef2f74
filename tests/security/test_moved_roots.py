"""A restricted folder stays restricted when it is renamed, when the corpus moves, when it is reached
through another path (a link or a second mount) and when a file in a public folder links into it; and a
page's request for a narrower collection is honoured however its front matter is delimited.
Each case served the hr text as public on e37db44, through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from retrieval.sqlite_backend import SQLiteBackend
from retrieval.types import SearchFilters
from tests.security.conftest import bron, bron_run_restart, said

SECRET = "# Salarissen\n\nHet salaris van de directeur is 250000 euro per jaar; dat is vertrouwelijk.\n"
OPEN = "# Welkom\n\nWelkom bij de koffiebranderij; de koffie is gratis.\n"


def _write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def _texts(data_dir: Path, collections: tuple[str, ...]) -> list[str]:
    """The text of every chunk a search limited to `collections` can reach."""
    backend = SQLiteBackend(data_dir / "index.sqlite", dim=384)
    try:
        filters = SearchFilters(collections=collections)
        return [
            h.chunk.text for h in backend.search_dense(np.ones(384, np.float32), k=10_000, filters=filters)
        ]
    finally:
        backend.close()


def _public_holds_secret(data_dir: Path) -> bool:
    return any("250000" in t for t in _texts(data_dir, ("public",)))


def _docs(tmp_path: Path) -> Path:
    docs = tmp_path / "docs"
    _write(docs / "hr" / "salarissen.md", SECRET)
    _write(docs / "handbook" / "welkom.md", OPEN)
    return docs


def test_a_renamed_restricted_folder_is_not_served_publicly_after_a_restart(
    data_dir: Path, tmp_path: Path
) -> None:
    docs = _docs(tmp_path)
    assert bron("ingest", str(docs / "hr"), "--collection", "hr").exit_code == 0
    bron_run_restart(json.dumps([str(docs)]), tmp_path)
    (docs / "hr").rename(docs / "personeel")  # someone renames the folder on the share
    bron_run_restart(json.dumps([str(docs)]), tmp_path)
    assert not _public_holds_secret(data_dir)
    assert any("Welkom" in t for t in _texts(data_dir, ("public",)))
    # the way out the report names: record the new folder with its collection
    result = bron("ingest", str(docs / "personeel"), "--collection", "hr")
    assert result.exit_code == 0, said(result)
    bron_run_restart(json.dumps([str(docs)]), tmp_path)
    assert not _public_holds_secret(data_dir)
    assert any("250000" in t for t in _texts(data_dir, ("hr",)))


def test_a_moved_corpus_keeps_its_restricted_folder_restricted(data_dir: Path, tmp_path: Path) -> None:
    docs = _docs(tmp_path)
    bron("ingest", str(docs / "hr"), "--collection", "hr")
    bron("ingest", str(docs))
    moved = docs.rename(tmp_path / "documenten")
    result = bron("ingest", str(moved))
    assert not _public_holds_secret(data_dir)
    assert "hr" in said(result)  # the held-back file is named, with its collection


def test_another_path_to_the_same_folder_keeps_it_restricted(data_dir: Path, tmp_path: Path) -> None:
    docs = _docs(tmp_path)
    bron("ingest", str(docs / "hr"), "--collection", "hr")
    bron("ingest", str(docs))
    (tmp_path / "mounted").symlink_to(docs, target_is_directory=True)  # a second mount of the same share
    bron("ingest", str(tmp_path / "mounted"))
    assert not _public_holds_secret(data_dir)


def test_a_link_from_a_public_folder_into_the_restricted_one_is_not_served(
    data_dir: Path, tmp_path: Path
) -> None:
    docs = _docs(tmp_path)
    bron("ingest", str(docs / "hr"), "--collection", "hr")
    (docs / "handbook" / "lonen.md").symlink_to(docs / "hr" / "salarissen.md")
    bron("ingest", str(docs))
    assert not _public_holds_secret(data_dir)


def test_the_same_text_in_a_public_folder_and_a_restricted_one_stays_public_where_it_is_public(
    data_dir: Path, tmp_path: Path
) -> None:
    """Not every identical text is a moved file: a page kept in both folders is served from both."""
    docs = _docs(tmp_path)
    _write(docs / "hr" / "welkom.md", OPEN)
    bron("ingest", str(docs / "hr"), "--collection", "hr")
    bron("ingest", str(docs))
    assert any("Welkom" in t for t in _texts(data_dir, ("public",)))
    assert not _public_holds_secret(data_dir)


def test_front_matter_asking_for_a_collection_is_honoured_however_it_is_delimited(
    data_dir: Path, tmp_path: Path
) -> None:
    """Editors leave a space after `---`, old Macs end lines with CR alone, YAML closes with `...`:
    the page asked for hr either way, so it is served to hr or not at all, never publicly."""
    docs = tmp_path / "docs"
    _write(docs / "space.md", "--- \ncollection: hr\n---\n" + SECRET)
    _write(docs / "cr.md", ("---\ncollection: hr\n---\n" + SECRET).replace("\n", "\r").encode())
    _write(docs / "dots.md", "---\ncollection: hr\n...\n" + SECRET)
    _write(docs / "blank.md", "\n---\ncollection: hr\n---\n" + SECRET)
    _write(docs / "open.md", OPEN)
    bron("ingest", str(docs))
    assert not _public_holds_secret(data_dir)
    assert any("Welkom" in t for t in _texts(data_dir, ("public",)))


def test_a_restricted_folder_moved_under_the_same_name_is_not_taken_over_as_public(
    data_dir: Path, tmp_path: Path
) -> None:
    """`/a/hr` (hr) moves to `/b/hr` and is synced as a plain path: its key `hr` was taken over by
    the new, public root, which then replaced the hr documents with public ones of the same ids."""
    _write(tmp_path / "a" / "hr" / "salarissen.md", SECRET)
    bron("ingest", str(tmp_path / "a" / "hr"), "--collection", "hr")
    moved = (tmp_path / "a" / "hr").rename(tmp_path / "hr-moved")
    (tmp_path / "b").mkdir()
    moved = moved.rename(tmp_path / "b" / "hr")
    bron("ingest", str(moved))
    bron("ingest", str(moved))  # and a re-sync
    assert not _public_holds_secret(data_dir)
    bron("ingest", str(moved), "--collection", "hr")  # the way out: say what it is
    assert any("250000" in t for t in _texts(data_dir, ("hr",)))
    assert not _public_holds_secret(data_dir)
