"""Finding the unsupported sentences inside the answer text, so the page can mark them.

The groundedness check runs on the model's draft, before citations are renumbered, so a sentence
in `grounding["unsupported"]` may carry other [n] markers than the answer shown. Matching therefore
ignores citation markers and whitespace; a sentence that still cannot be found is returned apart, and
the page lists it under the answer instead of dropping it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

_MARKERS = r"\[\d+(?:\s*,\s*\d+)*\]"
_GAP = rf"(?:\s|{_MARKERS})*"


@dataclass(frozen=True)
class Segment:
    text: str
    unsupported: bool


def _pattern(sentence: str) -> re.Pattern[str] | None:
    words = re.sub(_MARKERS, " ", sentence).split()
    if not words:
        return None
    return re.compile(_GAP.join(re.escape(w) for w in words) + rf"(?:\s*{_MARKERS})*")


def mark_unsupported(answer: str, unsupported: Sequence[str]) -> tuple[list[Segment], list[str]]:
    """Split `answer` into segments, marking each unsupported sentence; also return those not found."""
    spans: list[tuple[int, int]] = []
    missing: list[str] = []
    for sentence in unsupported:
        pattern = _pattern(sentence)
        match = pattern.search(answer) if pattern else None
        if match is None:
            missing.append(sentence)
            continue
        spans.append(match.span())
    segments: list[Segment] = []
    pos = 0
    for start, end in sorted(spans):
        if start < pos:  # overlapping sentences: extend the current mark
            if end > pos:
                segments[-1] = Segment(segments[-1].text + answer[pos:end], True)
                pos = end
            continue
        if start > pos:
            segments.append(Segment(answer[pos:start], False))
        segments.append(Segment(answer[start:end], True))
        pos = end
    if pos < len(answer):
        segments.append(Segment(answer[pos:], False))
    return segments, missing
