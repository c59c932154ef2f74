"""Verified citations: every supported sentence ends up pointing at the source it was written from.

Small models often omit the [n] marker or cite the neighbouring source. The groundedness check
already decides, per sentence, which sources it cites (serving.grounding.attribution: the source
sharing its wording, else the one supporting it best); this module rewrites the markers from that.
An unsupported sentence keeps what the model wrote, so that it is shown marked, not silently re-cited.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol

_MARKERS = re.compile(r"\s*\[\d+(?:\s*,\s*\d+)*\]")


class CheckedSentence(Protocol):
    sentence: str
    citations: tuple[int, ...]
    supported: bool
    attributed: tuple[int, ...]


_ATTRIBUTION = re.compile(
    r"^\s*(?:(?:based on|according to|as (?:stated|mentioned) in|from)\s+(?:the\s+)?(?:information\s+)?"
    r"(?:provided\s+)?(?:in\s+)?(?:the\s+)?(?:first\s+|second\s+|third\s+)?(?:text|sources?|documents?|context)"
    r"(?:\s*\[?\d+\]?)?"
    r"|(?:volgens|op basis van|uit)\s+(?:de\s+)?(?:informatie\s+)?(?:in\s+)?(?:de\s+)?(?:eerste\s+)?"
    r"(?:tekst|bronn?e?n?|documenten?|context)(?:\s*\[?\d+\]?)?)\s*[,:]?\s*",
    re.IGNORECASE,
)


def clean_draft(text: str) -> str:
    """Drop "According to the sources," style openings: they carry no claim and read badly."""
    out = []
    for line in text.splitlines():
        stripped = _ATTRIBUTION.sub("", line, count=1)
        out.append(stripped[:1].upper() + stripped[1:] if stripped != line else line)
    return "\n".join(out).strip()


def strip_markers(sentence: str) -> str:
    return _MARKERS.sub("", sentence).strip()


def rewrite_citations(sentences: Sequence[CheckedSentence]) -> str:
    """The answer rebuilt sentence by sentence with verified markers (source numbers as in the prompt)."""
    parts: list[str] = []
    for s in sentences:
        body = strip_markers(s.sentence)
        cites: tuple[int, ...] = s.attributed or s.citations
        marker = "".join(f"[{n}]" for n in cites)
        if marker and body and body[-1] in ".!?":
            parts.append(f"{body[:-1]} {marker}{body[-1]}")
        elif marker:
            parts.append(f"{body} {marker}")
        else:
            parts.append(body)
    return " ".join(p for p in parts if p)
