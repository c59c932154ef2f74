"""Hard checks that an embedding cannot make: numbers, names and negation must agree with the source.

Embeddings place "14 days" and "30 days", or "is allowed" and "is not allowed", almost on top of each
other, yet these are exactly the errors that hurt. So the literal facts of a claim are compared with
the cited text: every number (amounts, percentages, dates, times) and every capitalised name in the
claim must occur there, a negation on one side must have one on the other, and a claim word whose
opposite the evidence uses instead ("less" for "more") is flagged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from retrieval.analysis import STOPWORDS, analyze, detect_language, fold, words
from serving.grounding.antonyms import opposed_words

_NUMBER_WORDS = {
    # "one"/"een" are left out: in both languages they are mostly pronouns or articles.
    "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7", "eight": "8",
    "nine": "9", "ten": "10", "eleven": "11", "twelve": "12", "twenty": "20", "thirty": "30",
    "hundred": "100", "thousand": "1000", "million": "1000000",
    "twee": "2", "drie": "3", "vier": "4", "vijf": "5", "zes": "6", "zeven": "7", "acht": "8",
    "negen": "9", "tien": "10", "elf": "11", "twaalf": "12", "twintig": "20", "dertig": "30",
    "honderd": "100", "duizend": "1000", "miljoen": "1000000", "veertien": "14", "vijftien": "15",
    "fourteen": "14", "fifteen": "15", "vijfentwintig": "25", "twenty-five": "25",
    "half": "0.5", "halve": "0.5", "double": "2x", "dubbel": "2x", "twice": "2x", "tweemaal": "2x",
}  # fmt: skip
_MONTHS = {
    "january": "m1", "januari": "m1", "february": "m2", "februari": "m2", "march": "m3", "maart": "m3",
    "april": "m4", "may": "m5", "mei": "m5", "june": "m6", "juni": "m6", "july": "m7", "juli": "m7",
    "august": "m8", "augustus": "m8", "september": "m9", "october": "m10", "oktober": "m10",
    "november": "m11", "december": "m12",
    "monday": "d1", "maandag": "d1", "tuesday": "d2", "dinsdag": "d2", "wednesday": "d3", "woensdag": "d3",
    "thursday": "d4", "donderdag": "d4", "friday": "d5", "vrijdag": "d5", "saturday": "d6",
    "zaterdag": "d6", "sunday": "d7", "zondag": "d7",
}  # fmt: skip
_NEGATIONS = frozenset(
    [
        "not",
        "no",
        "never",
        "none",
        "nobody",
        "nothing",
        "neither",
        "nor",
        "without",
        "cannot",
        "can't",
        "won't",
        "don't",
        "doesn't",
        "didn't",
        "isn't",
        "aren't",
        "wasn't",
        "weren't",
        "hasn't",
        "haven't",
        "hadn't",
        "shouldn't",
        "wouldn't",
        "couldn't",
        "mustn't",
        "fail",
        "fails",
        "failed",
        "unable",
        "instead",
        "niet",
        "geen",
        "nooit",
        "niets",
        "niemand",
        "nergens",
        "zonder",
        "noch",
        "geenszins",
        "allerminst",
    ]
)
_NUMBER = re.compile(r"(?<![\w.,])\d+(?:[.,:]\d+)*(?![\w])|\d+(?=[%x])")
_CAPITALISED = re.compile(r"\b[A-Z][\w'’-]*(?:\s+[A-Z][\w'’-]*)*")


@dataclass(frozen=True)
class LexicalFindings:
    missing_numbers: tuple[str, ...]
    missing_names: tuple[str, ...]
    negation_mismatch: bool
    novel_fraction: float  # share of the claim's content words absent from the source (same language)
    opposed: tuple[str, ...] = ()  # claim words whose opposite the evidence uses instead

    @property
    def missing_figures(self) -> tuple[str, ...]:
        """Missing numbers written in digits (amounts, dates, percentages, times): never paraphrased."""
        return tuple(n for n in self.missing_numbers if any(c.isdigit() for c in n))

    @property
    def issues(self) -> tuple[str, ...]:
        out = [f"number {n} not in cited source" for n in self.missing_numbers]
        out += [f"name {n!r} not in cited source" for n in self.missing_names]
        if self.negation_mismatch:
            out.append("negation mismatch")
        out += [f"{w!r} where the source says the opposite" for w in self.opposed]
        return tuple(out)

    @property
    def vetoes(self) -> tuple[str, ...]:
        """The issues no similarity outweighs: a figure or a name the cited source does not contain."""
        return tuple(self.missing_figures) + self.missing_names


def _number_forms(raw: str) -> set[str]:
    """'1.500', '1,500' and '1500' meet; '3,5' and '3.5' meet; '09:30' and '9:30' meet."""
    if ":" in raw:
        return {":".join(p.lstrip("0") or "0" for p in raw.split(":"))}
    digits = raw.replace(".", "").replace(",", "")
    forms = {digits.lstrip("0") or "0"}
    parts = re.split(r"[.,]", raw)
    if len(parts) == 2 and len(parts[1]) != 3:  # a decimal, in either convention
        forms = {f"{parts[0].lstrip('0') or '0'}.{parts[1]}".rstrip("0").rstrip(".")}
    elif len(parts) == 2:  # '1.500' is 1500 in Dutch and 1.5 in English: accept both
        forms.add(f"{parts[0].lstrip('0') or '0'}.{parts[1]}".rstrip("0").rstrip("."))
    return forms


def numbers_in(text: str) -> dict[str, set[str]]:
    """Each number as written -> its normalised forms (digits and number words; months and weekdays)."""
    found: dict[str, set[str]] = {}
    for match in _NUMBER.finditer(text):
        found[match.group(0)] = _number_forms(match.group(0))
    for token in words(text):
        if token in _NUMBER_WORDS:
            found[token] = {_NUMBER_WORDS[token]}
        elif token in _MONTHS and not (token == "may" and "May" not in text):
            found[token] = {_MONTHS[token]}
    return found


def _all_number_forms(text: str) -> set[str]:
    return {form for forms in numbers_in(text).values() for form in forms}


def names_in(text: str) -> list[str]:
    """Capitalised words that do not start a sentence, and acronyms anywhere; stop words dropped."""
    stop = STOPWORDS["en"] | STOPWORDS["nl"]
    out: list[str] = []
    for match in _CAPITALISED.finditer(text):
        start = match.start()
        before = text[:start].rstrip()
        tokens = match.group(0).split()
        sentence_start = not before or before[-1] in '.!?:\n"“(' or before.endswith("]")
        if sentence_start:
            tokens = tokens[1:]
            if match.group(0).split()[0].isupper() and len(match.group(0).split()[0]) > 1:
                tokens = match.group(0).split()  # an acronym is a name even at the start
        for token in tokens:
            word = fold(token.strip("'’-"))
            if word and word not in stop and word not in _MONTHS and word not in _NUMBER_WORDS:
                out.append(token.strip("'’-"))
    return list(dict.fromkeys(out))


def has_negation(text: str) -> bool:
    folded = fold(text)
    return any(t in _NEGATIONS for t in re.findall(r"[\w']+", folded)) or "n't" in folded


@lru_cache(maxsize=4096)
def _source_vocabulary(source: str) -> frozenset[str]:
    """Folded words and their stems in both languages, so 'days' meets 'day' and 'Pieters' 'Pieter'."""
    tokens = set(words(source))
    return frozenset(tokens | set(analyze(source, "en")) | set(analyze(source, "nl")))


def _name_in(name: str, vocabulary: frozenset[str], folded_source: str) -> bool:
    word = fold(name)
    if word in vocabulary or word in folded_source:
        return True
    return any(s in vocabulary for s in analyze(word, "en") + analyze(word, "nl"))


def check_lexical(
    claim: str, source: str, *, evidence: str, region: str | None = None, question: str = ""
) -> LexicalFindings:
    """Compare a claim with its source; `evidence` is the source sentence closest to the claim.

    Numbers and names are looked up in the whole source (a fact may be spread over several
    sentences); negation is compared with the closest sentence, where the claim's meaning lives;
    opposites with `region` (the closest sentence, its neighbours and the best windows; default
    `evidence`): an opposite elsewhere in a long source says nothing about this claim. A name from
    `question` is not counted as missing; figures are, since "Is the limit 500 euro?" must not make
    "The limit is 500 euro" supported.
    """
    source_numbers = _all_number_forms(source)
    missing_numbers = tuple(raw for raw, forms in numbers_in(claim).items() if not forms & source_numbers)
    vocabulary = _source_vocabulary(source)
    folded_source = fold(source)
    asked = _source_vocabulary(question)
    folded_question = fold(question)
    missing_names = tuple(
        n
        for n in names_in(claim)
        # "Declaro-portaal": the capitalised part is the name, the rest a (translated) common noun
        if not all(_name_in(p, vocabulary, folded_source) for p in n.split("-") if p[:1].isupper())
        and not (question and _name_in(n, asked, folded_question))
    )
    negation_mismatch = has_negation(claim) != has_negation(evidence)
    novel = 0.0
    language = detect_language(claim)
    if language == detect_language(source):
        content = [t for t in analyze(claim, language) if len(t) > 2 and not t.isdigit()]
        if content:
            novel = sum(t not in vocabulary for t in content) / len(content)
    opposed = opposed_words(words(claim), words(evidence if region is None else region))
    return LexicalFindings(missing_numbers, missing_names, negation_mismatch, novel, opposed)
