"""Helpers for the hostile-input tests: the real CLI in-process, and PDFs built byte by byte."""

from __future__ import annotations

import zlib
from pathlib import Path

from click.testing import Result
from typer.testing import CliRunner

from bot.cli import app


def bron(data_dir: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    """`bron ARGS` with its data in `data_dir`, as a user would run it (output captured)."""
    return CliRunner().invoke(app, list(args), env={"BRON_DATA_DIR": str(data_dir), **(env or {})})


def flat(result: Result) -> str:
    """The output with Rich's line wrapping undone (it wraps at 80 columns, inside words too)."""
    return result.output.replace("\n", "")


def indexed_doc_ids(data_dir: Path) -> set[str]:
    from retrieval.sqlite_backend import SQLiteBackend

    backend = SQLiteBackend(data_dir / "index.sqlite", dim=384)
    try:
        return {d for d in backend.document_hashes() if not d.endswith("/")}  # not the roots' records
    finally:
        backend.close()


def _pdf(streams: list[tuple[bytes, str]]) -> bytes:
    """A PDF with one page per (content stream, /Filter or "") pair, with a correct xref table."""
    n = len(streams)
    kids = " ".join(f"{4 + 2 * i} 0 R" for i in range(n))
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {n} >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for i, (content, filter_name) in enumerate(streams):
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            f"/Resources << /Font << /F1 3 0 R >> >> /Contents {5 + 2 * i} 0 R >>".encode()
        )
        flt = f" /Filter /{filter_name}" if filter_name else ""
        objects.append(f"<< /Length {len(content)}{flt} >>\nstream\n".encode() + content + b"\nendstream")
    out = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return out


def text_pdf(pages: list[str]) -> bytes:
    """A PDF whose pages show these (ASCII) texts."""
    return _pdf([(f"BT /F1 12 Tf 72 720 Td ({t}) Tj ET".encode(), "") for t in pages])


def flate_bomb_pdf(megabytes: int = 400) -> bytes:
    """One page whose content stream inflates from a few hundred kB to `megabytes` MB of spaces."""
    packer = zlib.compressobj(9)
    block = b" " * (1 << 20)
    data = b"".join(packer.compress(block) for _ in range(megabytes)) + packer.flush()
    return _pdf([(data, "FlateDecode")])
