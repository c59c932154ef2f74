"""Ingestion never serves a restricted file to a wider audience: restarts, front matter, CRLF/BOM,
same-named roots and nested roots. Each test reproduces a leak of bcb969d through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from retrieval.sqlite_backend import SQLiteBackend
from retrieval.types import Chunk
from tests.security.conftest import bron, bron_run_restart, said, served

SECRET = "# Salarissen\n\nHet salaris van de directeur is 250000 euro per jaar; dat is vertrouwelijk.\n"
OPEN = "# Welkom\n\nWelkom bij de koffiebranderij; de koffie is gratis.\n"


def _write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_a_restart_with_the_parent_folder_as_corpus_keeps_hr_restricted(
    data_dir: Path, tmp_path: Path
) -> None:
    """README flow: `bron ingest /docs/hr --collection hr`, then `bron run` with BRON_CORPUS=["/docs"]."""
    secret = _write(tmp_path / "docs" / "hr" / "salarissen.md", SECRET)
    welcome = _write(tmp_path / "docs" / "handbook" / "welkom.md", OPEN)
    assert bron("ingest", str(tmp_path / "docs" / "hr"), "--collection", "hr").exit_code == 0
    bron_run_restart(json.dumps([str(tmp_path / "docs")]), tmp_path)
    bron_run_restart(json.dumps([str(tmp_path / "docs")]), tmp_path)  # and a second restart
    public = served(data_dir, ("public",))
    assert str(welcome) in public
    assert str(secret) not in public
    assert served(data_dir, ("hr",)) == {str(secret): "hr"}
    result = bron("sources", "salaris directeur", "--collection", "public")
    assert "250000" not in result.output and "Salarissen" not in result.output


def test_corpus_entries_carry_their_own_collection(data_dir: Path, tmp_path: Path) -> None:
    secret = _write(tmp_path / "docs" / "hr" / "salarissen.md", SECRET)
    welcome = _write(tmp_path / "docs" / "handbook" / "welkom.md", OPEN)
    corpus = [str(tmp_path / "docs"), {"path": str(tmp_path / "docs" / "hr"), "collection": "hr"}]
    bron_run_restart(json.dumps(corpus), tmp_path)
    assert served(data_dir, None) == {str(welcome): "public", str(secret): "hr"}


def test_a_plain_path_keeps_the_collection_it_was_ingested_with(data_dir: Path, tmp_path: Path) -> None:
    secret = _write(tmp_path / "hr" / "salarissen.md", SECRET)
    bron("ingest", str(tmp_path / "hr"), "--collection", "hr")
    _write(tmp_path / "hr" / "salarissen.md", SECRET + "\nBijgewerkt.\n")  # changed, so it is re-read
    bron("ingest", str(tmp_path / "hr"))
    assert served(data_dir, None) == {str(secret): "hr"}


def test_front_matter_cannot_widen_a_restricted_root(data_dir: Path, tmp_path: Path) -> None:
    secret = _write(tmp_path / "hr" / "salarissen.md", "---\ncollection: public\n---\n" + SECRET)
    result = bron("ingest", str(tmp_path / "hr"), "--collection", "hr")
    assert "may only narrow" in said(result)
    assert str(secret) not in served(data_dir, None)  # its collection cannot be established: not served


def test_front_matter_narrows_with_windows_line_endings_and_a_bom(data_dir: Path, tmp_path: Path) -> None:
    crlf = _write(
        tmp_path / "docs" / "crlf.md",
        ("---\ncollection: hr\ntitle: Salarissen\n---\n" + SECRET).replace("\n", "\r\n").encode(),
    )
    bom = _write(tmp_path / "docs" / "bom.md", ("\ufeff---\ncollection: hr\n---\n" + SECRET).encode())
    both = _write(
        tmp_path / "docs" / "both.md",
        ("\ufeff---\r\ncollection: hr\r\n---\r\n" + SECRET.replace("\n", "\r\n")).encode("utf-8"),
    )
    bron("ingest", str(tmp_path / "docs"))
    assert served(data_dir, ("public",)) == {}
    assert served(data_dir, ("hr",)) == {str(crlf): "hr", str(bom): "hr", str(both): "hr"}


def test_an_unestablished_collection_is_not_served(data_dir: Path, tmp_path: Path) -> None:
    empty = _write(tmp_path / "docs" / "empty.md", "---\ncollection:\n---\n" + SECRET)
    odd = _write(tmp_path / "docs" / "odd.md", "---\ncollection: hr team\n---\n" + SECRET)
    bron("ingest", str(tmp_path / "docs"))
    assert str(empty) not in served(data_dir, None) and str(odd) not in served(data_dir, None)


def test_same_named_roots_neither_collide_nor_prune_each_other(data_dir: Path, tmp_path: Path) -> None:
    hr_notes = _write(tmp_path / "a" / "team" / "notes.md", SECRET)
    hr_only = _write(
        tmp_path / "a" / "team" / "beoordelingen.md", SECRET.replace("Salarissen", "Beoordelingen")
    )
    open_notes = _write(tmp_path / "b" / "team" / "notes.md", OPEN)
    bron("ingest", str(tmp_path / "a" / "team"), "--collection", "hr")
    bron("ingest", str(tmp_path / "b" / "team"))
    bron("ingest", str(tmp_path / "a" / "team"), "--collection", "hr")  # re-syncs of both
    bron("ingest", str(tmp_path / "b" / "team"))
    assert served(data_dir, None) == {str(hr_notes): "hr", str(hr_only): "hr", str(open_notes): "public"}


def test_a_root_inside_a_restricted_root_cannot_widen_it(data_dir: Path, tmp_path: Path) -> None:
    secret = _write(tmp_path / "mgmt" / "plans" / "reorganisatie.md", SECRET)
    bron("ingest", str(tmp_path / "mgmt"), "--collection", "mgmt")
    result = bron("ingest", str(tmp_path / "mgmt" / "plans"))
    assert "would widen" in said(result)
    assert served(data_dir, None) == {str(secret): "mgmt"}


def test_an_index_from_before_roots_were_recorded_is_not_re_served_publicly(
    data_dir: Path, tmp_path: Path
) -> None:
    """An upgraded index holds `hr/salarissen.md` (collection hr) with no root record; a sync of the
    parent folder must not serve the file a second time as public."""
    secret = _write(tmp_path / "docs" / "hr" / "salarissen.md", SECRET)
    _write(tmp_path / "docs" / "handbook" / "welkom.md", OPEN)
    legacy = SQLiteBackend(data_dir / "index.sqlite", dim=384)
    chunk = Chunk(chunk_id="legacy-1", doc_id="hr/salarissen.md", title="Salarissen", heading_path=(),
                  text=SECRET, source=str(secret), collection="hr")  # fmt: skip
    legacy.replace_document("hr/salarissen.md", "old-hash", [chunk], np.ones((1, 384), np.float32))
    legacy.close()
    result = bron("ingest", str(tmp_path / "docs"))
    assert "indexed before roots were recorded" in said(result)
    assert str(secret) not in served(data_dir, ("public",))
    bron("ingest", str(tmp_path / "docs" / "hr"), "--collection", "hr")
    bron("ingest", str(tmp_path / "docs"))
    assert served(data_dir, ("hr",)) == {str(secret): "hr"} and str(secret) not in served(
        data_dir, ("public",)
    )
