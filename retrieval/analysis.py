"""Text analysis for Dutch and English: language guess, tokens, stems.

Only Dutch and English matter to the first users. The guess counts frequent function words of each, and
where they do not decide (keyword questions such as "Thuiswerkvergoeding per dag?" have none) a character
n-gram model (py3langid, 4.5 MB, limited to the two languages) does: on bench/language/short_questions.json
words alone got 69 % of the tune half right, words then py3langid 99 % (words then lingua 100 %, but
lingua is a 96 MB wheel).
The embedded engine
stores Snowball stems so BM25 matches "vakantiedagen" with "vakantiedag" and "days" with "day";
Elasticsearch does the same with its own `dutch` and `english` analyzers.
"""

from __future__ import annotations

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


def _stemmer(language: str) -> snowballstemmer.stemmer:
    """One stemmer per thread and language: Snowball stemmers keep the word being stemmed on the
    object, so sharing one between the bot's worker threads corrupts words mid-stem."""
    cache: dict[str, snowballstemmer.stemmer] = _local.__dict__.setdefault("stemmers", {})
    if language not in cache:
        cache[language] = snowballstemmer.stemmer("dutch" if language == "nl" else "english")
    return cache[language]


_DOUBLE_VOWEL = re.compile(r"([aeou])\1")


def stem(token: str, language: str) -> str:
    """Snowball stem; Dutch stems also lose doubled vowels, because Snowball maps "dagen" to "daag"
    but "dag" to "dag", and the two must meet."""
    out = _stemmer(language).stemWord(token)
    return _DOUBLE_VOWEL.sub(r"\1", out) if language == "nl" else out


def analyze(text: str, language: str) -> list[str]:
    """Index tokens: folded, stop words dropped, stemmed in the text's language."""
    stop = STOPWORDS.get(language, frozenset())
    return [stem(t, language) for t in words(text) if t not in stop]


def analyze_query(text: str) -> list[str]:
    """Query tokens stemmed both ways, because a Dutch question may meet an English document.

    Expanding the query, rather than indexing both stems, keeps document lengths (and so BM25) true.
    """
    stop = _DUTCH | _ENGLISH
    out: list[str] = []
    for token in words(text):
        if token in stop:
            continue
        for language in ("en", "nl"):
            stemmed = stem(token, language)
            if stemmed not in out:
                out.append(stemmed)
    return out
