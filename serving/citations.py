"""Reading the model's [n] markers and renumbering them to the sources actually cited."""

from __future__ import annotations

import re
from dataclasses import dataclass

_MARKER = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")


@dataclass(frozen=True)
class CitedText:
    text: str
    cited: list[int]
    invalid: list[int]


def renumber_citations(text: str, *, n_sources: int) -> CitedText:
    """Map prompt source numbers to 1..m in order of first citation; drop markers that point nowhere.

    Returns the rewritten text, the prompt source numbers in their new order, and the invalid numbers.
    """
    order: list[int] = []
    invalid: list[int] = []

    def replace(match: re.Match[str]) -> str:
        out: list[str] = []
        for raw in match.group(1).split(","):
            n = int(raw)
            if not 1 <= n <= n_sources:
                invalid.append(n)
                continue
            if n not in order:
                order.append(n)
            new = f"[{order.index(n) + 1}]"
            if new not in out:
                out.append(new)
        return "".join(out)

    rewritten = _MARKER.sub(replace, text)
    rewritten = re.sub(r"[ \t]+([.,;:!?])", r"\1", rewritten)
    return CitedText(text=rewritten.strip(), cited=order, invalid=invalid)


def markers_in(sentence: str) -> list[int]:
    return [int(n) for m in _MARKER.finditer(sentence) for n in m.group(1).split(",")]
