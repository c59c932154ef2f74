from pathlib import Path

import pytest

from retrieval.chunking import chunk_document, split_text
from retrieval.errors import DocumentError
from retrieval.loaders import load_document, parse_markdown

HANDBOOK = Path(__file__).resolve().parents[3] / "retrieval" / "sample_handbook"


def test_markdown_sections_keep_heading_path() -> None:
    title, sections = parse_markdown(
        "# Handbook\nIntro.\n## Leave\n### Days\nYou get 25 days.\n## Sick\nCall HR.\n"
    )
    assert title == "Handbook"
    paths = {s.heading_path: s.text for s in sections}
    assert paths[("Handbook", "Leave", "Days")] == "You get 25 days."
    assert paths[("Handbook", "Sick")] == "Call HR."


def test_front_matter_sets_metadata(tmp_path: Path) -> None:
    f = tmp_path / "doc.md"
    f.write_text(
        "---\ntitle: Verlof\nupdated: 2026-03-01\ncollection: hr\n---\n# Verlof\n## Dagen\nJe krijgt 25 dagen.\n"
    )
    doc = load_document(f, root=tmp_path)
    assert (doc.title, doc.collection, doc.language) == ("Verlof", "hr", "nl")
    assert doc.updated_at is not None and doc.updated_at.year == 2026
    chunks = chunk_document(doc, max_words=180, overlap_words=30)
    assert chunks[0].heading_path == ("Dagen",)
    assert chunks[0].title == "Verlof"


def test_long_section_splits_with_overlap() -> None:
    text = "\n\n".join(f"Paragraph {i} " + "word " * 60 for i in range(6))
    parts = split_text(text, max_words=130, overlap_words=10)
    assert len(parts) >= 3
    assert all(len(p.split()) <= 130 + 10 + 62 for p in parts)


@pytest.mark.parametrize(
    ("name", "data", "needle"),
    [
        ("bad.md", b"\xff\xfe\x00broken", "UTF-8"),
        ("empty.md", b"   \n", "no text"),
        ("image.png", b"\x89PNG", "unsupported"),
        ("broken.pdf", b"%PDF-1.4 not really", "could not be parsed"),
    ],
)
def test_unreadable_files_raise_clear_errors(tmp_path: Path, name: str, data: bytes, needle: str) -> None:
    f = tmp_path / name
    f.write_bytes(data)
    with pytest.raises(DocumentError, match=needle):
        load_document(f, root=tmp_path)


def test_html_headings_become_heading_path(tmp_path: Path) -> None:
    f = tmp_path / "page.html"
    f.write_text(
        "<html><title>IT</title><body><h1>IT</h1><h2>Passwords</h2><p>Use 14 characters.</p></body></html>"
    )
    doc = load_document(f, root=tmp_path)
    assert doc.sections[0].heading_path == ("IT", "Passwords")
    assert "14 characters" in doc.sections[0].text


def test_sample_handbook_loads_in_both_languages() -> None:
    docs = [load_document(p, root=HANDBOOK) for p in sorted(HANDBOOK.glob("*.md"))]
    assert len(docs) >= 15
    assert {d.language for d in docs} == {"nl", "en"}
