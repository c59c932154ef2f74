"""Does the question's topic appear in the sources at all?

A small model asked about something the documents never mention ("the CEO's dog") tends to copy the
question's words onto nearby evidence ("The CEO's dog is Sanne Veldhoven"). Each sentence may then look
supported, yet a word the answer takes from the question is in no source. Such words are reported, the
answer is flagged for review and the reader is told. Only sources in the question's language are
compared, since a lexical test says nothing across languages; the pipeline then keeps only words that no
permitted document uses at all, so a paraphrase ("at least 14 characters" for "minimum length") is
rarely reported.
"""

from __future__ import annotations

from collections.abc import Sequence

from retrieval.analysis import STOPWORDS, analyze, detect_language, stem, words


def uncovered_terms(question: str, answer: str, sources: Sequence[tuple[str, str]]) -> list[str]:
    """Question words (as written) that the answer repeats but no same-language source contains.

    `sources` are (text, language) pairs.
    """
    language = detect_language(question)
    same = [text for text, lang in sources if lang == language]
    if not same:
        return []
    stop = STOPWORDS["nl"] | STOPWORDS["en"]
    in_sources = set(analyze(" ".join(same), language))
    in_answer = set(analyze(answer, language))
    out: list[str] = []
    for token in words(question):
        if token in stop or len(token) < 3 or token.isdigit():
            continue
        stemmed = stem(token, language)
        if stemmed in in_answer and stemmed not in in_sources and token not in out:
            out.append(token)
    return out
