"""The small parts of the connectors: collection mapping, Retry-After, Office files to Markdown."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from connectors.base import collection_for
from connectors.http import retry_after_seconds
from connectors.office import docx_to_markdown, pptx_to_markdown
from retrieval.loaders import parse_markdown

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
A = "http://schemas.openxmlformats.org/drawingml/2006/main"


def test_the_longest_matching_prefix_decides_and_unknown_containers_get_none() -> None:
    mapping = {"/": "public", "/hr/": "hr", "/hr/board": "board"}
    assert collection_for("/hr/leave", mapping) == "hr"
    assert collection_for("/hr/board/minutes", mapping) == "board"
    assert collection_for("/hrm/x", mapping) == "public"  # a prefix is a path prefix, not a string one
    assert collection_for("/x", {"/hr/": "hr"}) is None
    # a file with its own permissions is not covered by its library's key, nor by "*"
    assert collection_for("site/Docs/#unique", {"site/Docs": "public", "*": "public"}) is None
    assert collection_for("site/Docs/#unique", {"site/Docs/#unique": "hr"}) == "hr"
    assert collection_for("HR/#restricted", {"HR": "public", "/": "public"}) is None
    assert collection_for("site/Other", {"site/Docs": "public"}) is None
    assert collection_for("anything", {"*": "public"}) == "public"
    assert collection_for(None, {"*": "public"}) is None


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert retry_after_seconds("7", default=1) == 7
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 28 <= retry_after_seconds(later, default=1) <= 30
    assert retry_after_seconds(None, default=1.5) == 1.5
    assert retry_after_seconds("soon", default=2) == 2


def _zip(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, text in files.items():
            z.writestr(name, text)
    return buf.getvalue()


def _p(text: str, style: str | None = None) -> str:
    ppr = f'<w:pPr><w:pStyle w:val="{style}"/></w:pPr>' if style else ""
    return f"<w:p>{ppr}<w:r><w:t>{text}</w:t></w:r></w:p>"


def test_a_word_document_keeps_its_headings() -> None:
    body = (
        _p("Verlofbeleid", "Title") + _p("Aanvragen", "Heading1") + _p("Vraag verlof twee weken vooraf aan.")
    )
    styles = (
        f'<w:styles xmlns:w="{W}"><w:style w:styleId="Kop1"><w:name w:val="heading 1"/></w:style></w:styles>'
    )
    data = _zip({
        "word/document.xml": f'<w:document xmlns:w="{W}"><w:body>{body}{_p("Ziekte", "Kop1")}{_p("Bel je manager.")}</w:body></w:document>',
        "word/styles.xml": styles,
    })  # fmt: skip
    title, sections = parse_markdown(docx_to_markdown(data))
    assert title == "Verlofbeleid"
    assert [(s.heading_path, s.text) for s in sections] == [
        (("Verlofbeleid", "Aanvragen"), "Vraag verlof twee weken vooraf aan."),
        (("Verlofbeleid", "Ziekte"), "Bel je manager."),
    ]


def test_slides_become_sections() -> None:
    def slide(*paras: str) -> str:
        ps = "".join(f"<a:p><a:r><a:t>{p}</a:t></a:r></a:p>" for p in paras)
        return f'<p:sld xmlns:p="x" xmlns:a="{A}"><a:txBody>{ps}</a:txBody></p:sld>'

    data = _zip({"ppt/slides/slide2.xml": slide("Fietsplan", "Elke medewerker mag meedoen."),
                 "ppt/slides/slide1.xml": slide("Welkom", "Dit is Bron.")})  # fmt: skip
    _, sections = parse_markdown(pptx_to_markdown(data))
    assert [s.heading_path for s in sections] == [("Welkom",), ("Fietsplan",)]
    assert sections[1].text == "Elke medewerker mag meedoen."


def test_a_document_id_never_looks_like_a_corpus_root_record() -> None:
    from connectors.sync import document_id
    from retrieval.access import is_root_record

    assert document_id("intranet", "https://intranet.example/hr/") == "intranet:https://intranet.example/hr/#"
    assert not is_root_record(document_id("intranet", "https://intranet.example/"))
    assert document_id("sp", "b!x/01AB") == "sp:b!x/01AB"
