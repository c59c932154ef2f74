"""Word and PowerPoint files to Markdown, with the standard library only.

A .docx / .pptx is a zip of XML (ECMA-376); paragraphs, heading styles and slide texts are all a
reader needs for retrieval, so no Office parser is installed for it. The Title style becomes `#` and
Heading n `#`×(n+1), so the Markdown loader keeps a Word document's heading path. Not handled: .xlsx, the old
binary formats (.doc, .ppt), text boxes, comments, tracked changes and embedded objects.
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
import zipfile

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
A = "{http://schemas.openxmlformats.org/drawingml/2006/main}"
_HEADING = re.compile(r"^(?:heading|kop)\s*(\d)$", re.IGNORECASE)
MAX_XML_BYTES = 50_000_000


def _read(z: zipfile.ZipFile, name: str) -> bytes:
    info = z.getinfo(name)
    if info.file_size > MAX_XML_BYTES:  # a zip bomb is one bad file, not a crashed sync
        raise ValueError(f"{name} unpacks to {info.file_size} bytes")
    return z.read(name)


def docx_to_markdown(data: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        root = ET.fromstring(_read(z, "word/document.xml"))
        styles: dict[str, str] = {}
        if "word/styles.xml" in z.namelist():
            for style in ET.fromstring(_read(z, "word/styles.xml")).iter(f"{W}style"):
                name = style.find(f"{W}name")
                if name is not None:
                    styles[style.get(f"{W}styleId", "")] = name.get(f"{W}val", "")
    lines: list[str] = []
    for p in root.iter(f"{W}p"):
        text = "".join(t.text or "" for t in p.iter(f"{W}t")).strip()
        if not text:
            continue
        style_el = p.find(f"{W}pPr/{W}pStyle")
        style_id = style_el.get(f"{W}val", "") if style_el is not None else ""
        match = _HEADING.match(styles.get(style_id, style_id).replace("Heading", "heading "))
        if style_id.lower() == "title" or styles.get(style_id, "").lower() == "title":
            lines.append(f"# {text}")
        elif match:
            lines.append("#" * min(6, int(match.group(1)) + 1) + f" {text}")  # under the Title
        else:
            lines.append(text)
        lines.append("")
    return "\n".join(lines)


def pptx_to_markdown(data: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        slides = sorted(
            (n for n in z.namelist() if re.fullmatch(r"ppt/slides/slide\d+\.xml", n)),
            key=lambda n: int(re.findall(r"\d+", n)[-1]),
        )
        out: list[str] = []
        for number, name in enumerate(slides, start=1):
            root = ET.fromstring(_read(z, name))
            paras = ["".join(t.text or "" for t in p.iter(f"{A}t")).strip() for p in root.iter(f"{A}p")]
            paras = [p for p in paras if p]
            if paras:
                out.append(f"## {paras[0]}" if len(paras) > 1 else f"## Slide {number}")
                out.extend(f"{p}\n" for p in (paras[1:] if len(paras) > 1 else paras))
    return "\n".join(out)
