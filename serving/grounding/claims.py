"""Cutting an answer (or a source) into sentences, and deciding which sentences are claims to check.

A claim keeps the `[n]` markers written inside or right after it, because those markers say which
source must support it. Abbreviations of both languages (e.g., i.e., bijv., d.w.z., o.a.) and numbers
such as "1.500" or "3.5" must not end a sentence, or a claim would be checked in two halves that
each look unsupported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from serving.citations import markers_in

_ABBREVIATIONS = frozenset(
    [
        "e.g",
        "i.e",
        "etc",
        "vs",
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "st",
        "jr",
        "sr",
        "inc",
        "ltd",
        "co",
        "corp",
        "no",
        "nr",
        "fig",
        "approx",
        "dept",
        "est",
        "min",
        "max",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
        "mon",
        "tue",
        "wed",
        "thu",
        "fri",
        "sat",
        "sun",
        "u.s",
        "u.k",
        "a.m",
        "p.m",
        "bijv",
        "bv",
        "d.w.z",
        "o.a",
        "m.b.t",
        "t.a.v",
        "t.o.v",
        "i.p.v",
        "a.s",
        "z.s.m",
        "dhr",
        "mevr",
        "mw",
        "ca",
        "incl",
        "excl",
        "resp",
        "zgn",
        "blz",
        "art",
        "enz",
        "evt",
        "ong",
        "jl",
        "vnl",
        "mln",
        "mld",
        "p.a",
        "n.v.t",
        "m.u.v",
        "i.v.m",
        "t/m",
    ]
)

_MARKER = re.compile(r"\[\d+(?:\s*,\s*\d+)*\]")
# A sentence ends at . ! ? (optionally followed by quotes/brackets and markers) before white space.
# Possessive quantifiers and the look-behind keep it linear: without them a run of 16,000 dots took
# 4.8 s (every dot started a match that backtracked over the whole run), holding the interpreter lock.
_END = re.compile(r"(?<![.!?])([.!?]++[\"'”’)]*+(?:\s*\[\d+(?:\s*,\s*\d+)*\])*+)(\s+)")

_ABSTENTION = re.compile(
    r"\b(i (could|can) ?not find|i couldn't find|i did not find|i didn't find|not (found )?in the sources"
    r"|no (information|answer) (in|from) the sources|the sources do not (say|mention|contain)"
    r"|ik kon .{0,40}niet vinden|ik heb .{0,40}niet (kunnen )?vinden|niet (te vinden )?in de bronnen"
    r"|de bronnen (zeggen|vermelden|bevatten) (er )?(niets|geen))",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Claim:
    sentence: str  # as written, markers included
    text: str  # markers removed: what is compared with the sources
    citations: tuple[int, ...]


def _ends_with_abbreviation(chunk: str) -> bool:
    last = chunk.rstrip().split()[-1] if chunk.strip() else ""
    word = last.rstrip(".").lstrip("([\"'").lower()
    if word in _ABBREVIATIONS:
        return True
    # initials ("J. Smith") and single letters ("a. first item")
    return len(word) == 1 and word.isalpha()


def split_sentences(text: str) -> list[str]:
    """Sentences of `text`; lines (bullets, dialogue turns) always end a sentence.

    Linear in the length of `text`: a sentence is sliced out once, when it ends, and only the piece
    since the last candidate end is inspected for an abbreviation.
    """
    out: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        start = 0  # after the last candidate end
        sentence_start = 0
        for match in _END.finditer(line):
            piece = line[start : match.end(1)]
            start = match.end()
            nxt = line[start : start + 1]
            if _ends_with_abbreviation(piece.split("[")[0]) or (nxt and nxt.islower()):
                continue
            out.append(line[sentence_start : match.end(1)].strip())
            sentence_start = start
        rest = line[sentence_start:].strip()
        if rest:
            out.append(rest)
    return _attach_orphan_markers(out)


def _attach_orphan_markers(sentences: list[str]) -> list[str]:
    """A sentence that is only markers ("[2]") belongs to the sentence before it."""
    parts: list[list[str]] = []
    for s in sentences:
        if parts and not _MARKER.sub("", s).strip(" .,;:"):
            parts[-1].append(s)
        else:
            parts.append([s])
    return [" ".join(p) for p in parts]


def is_abstention(sentence: str) -> bool:
    return bool(_ABSTENTION.search(sentence))


def is_checkable(sentence: str) -> bool:
    """False for pure citations, headers, list labels and "I could not find..." abstentions."""
    text = _MARKER.sub("", sentence).strip()
    bare = text.strip("#*_>-•: ").strip()
    if len(re.findall(r"\w+", bare)) < 3:
        return False
    if text.startswith("#") or (text.endswith(":") and len(bare.split()) <= 10):
        return False
    if re.fullmatch(r"(sources?|bronnen|references?)\s*:?.*", bare, flags=re.IGNORECASE) and ":" in text:
        return False
    return not is_abstention(text)


def split_claims(answer: str) -> list[Claim]:
    """The checkable sentences of an answer, with the source numbers each one cites."""
    claims: list[Claim] = []
    for sentence in split_sentences(answer):
        if not is_checkable(sentence):
            continue
        text = re.sub(r"\s+([.,;:!?])", r"\1", _MARKER.sub("", sentence)).strip()
        cited = tuple(dict.fromkeys(markers_in(sentence)))
        claims.append(Claim(sentence=sentence, text=text, citations=cited))
    return claims
