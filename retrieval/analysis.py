"""Text analysis for Dutch and English: language guess, tokens, stems.

Only Dutch and English matter to the first users. The guess counts frequent function words of each, and
where they do not decide (keyword questions such as "Thuiswerkvergoeding per dag?" have none) a character
n-gram model (py3langid, 4.5 MB, limited to the two languages) does: on bench/language/short_questions.json
words alone got 69 % of the tune half right, words then py3langid 99 % (words then lingua 100 %, but
lingua is a 96 MB wheel).

BM25 terms (`index_terms`, `analyze_query`) for Dutch are Elasticsearch's built-in `dutch` analyzer, rebuilt:
standard tokenizer, lowercase, the `_dutch_` stop list, the four stem overrides and the Snowball Dutch
(Porter) stemmer that Elasticsearch 8 and 9 use, so the embedded engine and Elasticsearch rank Dutch text
alike ("vakantiedagen" and "vakantiedag" both become "vakantiedag"). `analyze` and `stem` serve the lexical
groundedness checks and keep their own, more lenient Dutch stems.
"""

from __future__ import annotations

import functools
import re
import threading
import unicodedata

import snowballstemmer
from py3langid.langid import MODEL_FILE, LanguageIdentifier

_WORD = re.compile(r"[\w]+(?:[.,'’-][\w]+)*", re.UNICODE)

_DUTCH = frozenset(
    [
        "de",
        "het",
        "een",
        "en",
        "van",
        "ik",
        "je",
        "jij",
        "u",
        "we",
        "wij",
        "zij",
        "is",
        "zijn",
        "was",
        "waren",
        "niet",
        "wat",
        "hoe",
        "hoeveel",
        "wanneer",
        "waar",
        "wie",
        "welke",
        "mijn",
        "onze",
        "ons",
        "voor",
        "met",
        "op",
        "aan",
        "bij",
        "naar",
        "om",
        "dat",
        "die",
        "dit",
        "deze",
        "er",
        "ook",
        "nog",
        "maar",
        "als",
        "dan",
        "kan",
        "kunnen",
        "moet",
        "moeten",
        "mag",
        "mogen",
        "heb",
        "hebt",
        "heeft",
        "hebben",
        "wordt",
        "worden",
        "werd",
        "geen",
        "meer",
        "over",
        "uit",
        "tot",
        "door",
        "zo",
        "al",
        "wel",
    ]
)
_ENGLISH = frozenset(
    [
        "the",
        "a",
        "an",
        "and",
        "of",
        "i",
        "you",
        "we",
        "they",
        "is",
        "are",
        "was",
        "were",
        "not",
        "what",
        "how",
        "many",
        "much",
        "when",
        "where",
        "who",
        "which",
        "my",
        "our",
        "for",
        "with",
        "on",
        "at",
        "to",
        "that",
        "this",
        "these",
        "there",
        "also",
        "but",
        "if",
        "then",
        "can",
        "could",
        "must",
        "may",
        "have",
        "has",
        "had",
        "be",
        "been",
        "do",
        "does",
        "did",
        "no",
        "more",
        "about",
        "from",
        "by",
        "so",
        "any",
        "it",
        "its",
    ]
)

STOPWORDS = {"nl": _DUTCH, "en": _ENGLISH}

# Elasticsearch's `_dutch_` stop list: Lucene's dutch_stop.txt, which is Snowball's Dutch stop list.
ES_DUTCH_STOP = frozenset(
    """de en van ik te dat die in een hij het niet zijn is was op aan met als voor had er maar om hem dan
    zou of wat mijn men dit zo door over ze zich bij ook tot je mij uit der daar haar naar heb hoe heeft
    hebben deze u want nog zal me zij nu ge geen omdat iets worden toch al waren veel meer doen toen moet
    ben zonder kan hun dus alles onder ja eens hier wie werd altijd doch wordt wezen kunnen ons zelf tegen
    na reeds wil kon niets uw iemand geweest andere""".split()  # noqa: SIM905 (a list literal would take 101 lines)
)
# Lucene's DutchAnalyzer stem overrides; an overridden token is not stemmed further.
ES_DUTCH_OVERRIDES = {"fiets": "fiets", "bromfiets": "bromfiets", "ei": "eier", "kind": "kinder"}


def fold(text: str) -> str:
    """Lower-case and strip accents, so 'één' and 'een' meet."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def words(text: str) -> list[str]:
    return _WORD.findall(fold(text))


_identifier: LanguageIdentifier | None = None
_identifier_lock = threading.Lock()


def _ngram_language(text: str) -> str:
    """py3langid limited to Dutch and English; loaded on first use (about 1 s), then shared: its
    classify only reads the model."""
    global _identifier
    with _identifier_lock:
        if _identifier is None:
            identifier = LanguageIdentifier.from_model_file(MODEL_FILE)
            identifier.set_languages(["nl", "en"])
            _identifier = identifier
    language, _ = _identifier.classify(text)
    return str(language)


def detect_language(text: str, default: str = "en") -> str:
    """Return 'nl' or 'en': function-word counts first, because they are right whenever they differ,
    then character n-grams; text without letters falls to `default`."""
    tokens = words(text)
    nl = sum(t in _DUTCH for t in tokens)
    en = sum(t in _ENGLISH for t in tokens)
    if nl > en:
        return "nl"
    if en > nl:
        return "en"
    if not any(ch.isalpha() for ch in text):
        return default
    return _ngram_language(text)


_local = threading.local()


@functools.lru_cache(maxsize=1 << 18)
def _snowball(algorithm: str, token: str) -> str:
    """Snowball stem, remembered: stemming is pure Python and nine tenths of indexing time, while a
    corpus repeats the same few thousand words. The stemmers are per thread because they keep the word
    being stemmed on the object, so sharing one between the bot's worker threads corrupts words mid-stem."""
    stemmers: dict[str, snowballstemmer.stemmer] = _local.__dict__.setdefault("stemmers", {})
    if algorithm not in stemmers:
        stemmers[algorithm] = snowballstemmer.stemmer(algorithm)
    return str(stemmers[algorithm].stemWord(token))


_DOUBLE_VOWEL = re.compile(r"([aeou])\1")


def stem(token: str, language: str) -> str:
    """Snowball stem; Dutch stems also lose doubled vowels, because Snowball maps "dagen" to "daag"
    but "dag" to "dag", and the two must meet."""
    if language == "nl":
        return _DOUBLE_VOWEL.sub(r"\1", _snowball("dutch", token))
    return _snowball("english", token)


def analyze(text: str, language: str) -> list[str]:
    """Index tokens: folded, stop words dropped, stemmed in the text's language."""
    stop = STOPWORDS.get(language, frozenset())
    return [stem(t, language) for t in words(text) if t not in stop]


# Lucene's StandardTokenizer (Unicode word boundaries) for Latin text: letters and digits run together;
# ' ’ . : join letters, and . , ; ' ’ join digits; anything else ends a token ("re-integratie" is two).
_STANDARD_TOKEN = re.compile(
    r"\w+(?:(?:(?<=[^\W\d_])[.:'’](?=[^\W\d_])|(?<=\d)[.,;'’](?=\d))\w+)*", re.UNICODE
)


def standard_tokens(text: str) -> list[str]:
    """Lower-cased tokens as Elasticsearch's `standard` tokenizer and `lowercase` filter cut them."""
    return _STANDARD_TOKEN.findall(text.lower())


def dutch_terms(text: str, *, extra_stop: frozenset[str] = frozenset()) -> list[str]:
    """The tokens Elasticsearch's built-in `dutch` analyzer makes of `text`."""
    out = []
    for token in standard_tokens(text):
        if token in ES_DUTCH_STOP or token in extra_stop:
            continue
        out.append(ES_DUTCH_OVERRIDES.get(token) or _snowball("dutch_porter", token))
    return out


def index_terms(text: str, language: str) -> list[str]:
    """BM25 terms of a chunk in its own language."""
    return dutch_terms(text) if language == "nl" else analyze(text, language)


def analyze_query(text: str) -> list[str]:
    """Query terms in both languages' analysis, because a Dutch question may meet an English document.

    Expanding the query, rather than indexing both analyses, keeps document lengths (and so BM25) true.
    The Dutch half also drops English function words, so "what" or "the" never meet a Dutch chunk.
    """
    stop = _DUTCH | _ENGLISH
    out: list[str] = []
    english = [stem(token, "en") for token in words(text) if token not in stop]
    for term in english + dutch_terms(text, extra_stop=_ENGLISH):
        if term not in out:
            out.append(term)
    return out
