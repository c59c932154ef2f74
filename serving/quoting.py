"""When the check supports nothing the model wrote, quote the source instead of declining.

A small model often words the right passage wrongly: "John Omalu" where the source says Bennet,
"episode 1" where it names none. Declining then hides a passage that does answer the question. Where
the evidence is strong (the quote bar, chosen with the evidence bar on CLAPnq's tune half), Bron
shows the one or two sentences of the sources closest to the question, word for word: a quote
cannot invent a figure or a name. It is marked as a quote, so nobody takes it for Bron's own wording.

A quote is read by people, so it is taken from the source as a reader would say it: a Markdown table
row comes with its row and column headers ("Eigen huwelijk of geregistreerd partnerschap: 2 dagen",
not "|---|---| | Eigen huwelijk … | 2 dagen |"), and bold, links, list bullets and heading marks are
dropped.
"""

from __future__ import annotations

import re

QUOTE_LEAD = {"en": "The sources say:", "nl": "De bronnen zeggen:"}

_SEPARATOR = re.compile(r"^:?-{2,}:?$")
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_EMPHASIS = re.compile(r"(\*\*|__|\*|`)(?=\S)(.+?)(?<=\S)\1")
_LEADING = re.compile(r"^(?:#{1,6}\s+|>\s*|[-*+•]\s+|\d+[.)]\s+)+")


def quote_claim(window: str, source: int) -> str:
    """The quote as the checker and the citation renumbering read it: the window, cited."""
    return f"“{window.strip()}” [{source}]"


def with_lead(text: str, language: str) -> str:
    return f"{QUOTE_LEAD.get(language, QUOTE_LEAD['en'])} {text}"


def _cells(line: str) -> list[str] | None:
    """The cells of a Markdown table line, or None when the line is not one."""
    stripped = line.strip()
    if not (stripped.startswith("|") and stripped.endswith("|") and len(stripped) > 1):
        return None
    return [plain(c.strip()) for c in stripped[1:-1].split("|")]


def _is_separator(cells: list[str]) -> bool:
    return bool(cells) and all(_SEPARATOR.match(c.replace(" ", "")) for c in cells)


def _row(cells: list[str], header: list[str] | None) -> str:
    """A data row as a sentence: "first cell: second cell.", or with column names for wider tables."""
    first, rest = cells[0], cells[1:]
    if not rest:
        return f"{first}."
    if len(rest) == 1 or header is None or len(header) != len(cells):
        return f"{first}: {', '.join(rest)}."
    return f"{first} — " + "; ".join(f"{h}: {c}" for h, c in zip(header[1:], rest, strict=True)) + "."


def plain(line: str) -> str:
    """One line without Markdown marks: links keep their text, emphasis and code their content."""
    line = _LEADING.sub("", line.strip())
    line = _LINK.sub(r"\1", line)
    return _EMPHASIS.sub(r"\2", line).strip()


def readable(text: str) -> str:
    """`text` as a reader would say it: table rows as sentences with their headers, markup dropped.

    Each row stays on its own line, so it is a sentence of its own for the window that is quoted.
    """
    lines = text.splitlines()
    out: list[str] = []
    header: list[str] | None = None
    for i, line in enumerate(lines):
        cells = _cells(line)
        if cells is None:
            header = None
            if cleaned := plain(line):
                out.append(cleaned)
            continue
        if _is_separator(cells):
            continue
        following = _cells(lines[i + 1]) if i + 1 < len(lines) else None
        if following is not None and _is_separator(following):
            header = cells
            continue
        out.append(_row(cells, header))
    return "\n".join(out)
