"""Which question a turn asks: its own, or one it shares with the conversation before it.

Searching every turn together with the question before it (what Bron did first) made a change of
topic retrieve the previous topic: "How long must my password be?" after a vacation question was
answered with a row of the vacation page's leave table. Asking every turn alone loses the topic of
an elliptical follow-up ("En voor parttimers?", "and from age 55?"). So each turn is decided:

- a turn that does not look like a follow-up (it names its own topic: no opening "and"/"en", no
  pronoun pointing back, more than a couple of content words) is asked alone, exactly as if it were
  the first question; it costs nothing extra;
- a turn that does is also searched together with the conversation's topic (the questions back to the
  last one that stood on its own), and the reading whose best chunk is closer to what was searched
  wins: a question that finds strong evidence of its own ("Is it allowed to drink at work?") keeps
  its own reading. Optionally (`ServingSettings.condense`) the model first rewrites such a turn into
  a standalone question in the same language, in one short call.

`bron eval conversation` measures the three ways (always together, always alone, decided).
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from openai.types.chat import ChatCompletionMessageParam

from retrieval.analysis import STOPWORDS, words
from retrieval.chunking import embedding_text
from retrieval.embedding import Embedder
from retrieval.hybrid import HybridRetriever, SearchResult
from retrieval.types import Hit, SearchFilters
from serving.evidence_model import EvidenceModel, evidence_hits
from serving.llm import LLMClient

History = Sequence[tuple[str, str]]
Mode = Literal["decided", "alone", "together"]

# at most this many earlier questions make up a follow-up's topic
TOPIC_TURNS = 3
# how much further from the question alone the topic's best chunk may be than the question's own best
# chunk, per cue; chosen on the tune half of evaluation/data/conversations.json (`bron eval conversation`):
# there the follow-ups that open like one or point back lie within 0.076, those that are only short
# within 0.044, and the short topic switches and unanswerable turns 0.064 or further
# within 0.044, and the short topic switches and unanswerable turns 0.064 or further. A turn without a
# cue whose own reading falls below the bar ("weak") gets a second reading too, held tighter: there the
# follow-ups lie within 0.000 and the unanswerable turns 0.076 or further
FIT_MARGIN = {"opener": 0.08, "pointer": 0.08, "short": 0.05, "weak": 0.03}
CONDENSE_TOKENS = 64

_OPENERS = {
    "en": ("and", "but", "or", "also", "so", "then", "what about", "how about", "what if", "same for"),
    "nl": ("en", "maar", "of", "ook", "dus", "dan", "hoe zit het", "wat als", "geldt dat", "geldt dit"),
}
_POINTERS = frozenset(
    ("it", "its", "itself", "that", "this", "those", "these", "they", "them", "their", "he", "him", "his",
     "she", "her", "there", "dat", "dit", "die", "deze", "daar", "daarvan", "daarvoor", "daarna", "daarbij",
     "daarmee", "hij", "zij", "ze", "hem", "haar", "hun", "hen")
)  # fmt: skip
_QUESTION_WORDS = frozenset(
    ("what", "which", "who", "whom", "whose", "when", "where", "why", "how", "much", "many", "long", "often",
     "wat", "welke", "wie", "wanneer", "waar", "waarom", "hoe", "hoeveel", "hoelang", "lang", "vaak")
)  # fmt: skip
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Turn:
    """How one turn was read: `text` is what was searched and what the evidence bar was held to."""

    question: str
    text: str
    dependent: bool = False  # read with the conversation
    rewritten: bool = False  # `text` is the model's standalone rewrite
    cue: str | None = None  # why a second reading was tried (`dependency_cue`)
    timings_ms: dict[str, float] = field(default_factory=dict)


def content_words(question: str) -> list[str]:
    """The question's words less function words and question words, in both languages."""
    stop = STOPWORDS["nl"] | STOPWORDS["en"] | _QUESTION_WORDS
    return [w for w in words(question) if w not in stop and (not w.isdigit() or len(w) > 1)]


def dependency_cue(question: str, language: str) -> str | None:
    """Why the question may name its topic only earlier: it opens like a continuation ("opener": "And
    for part-timers?"), points back ("pointer": "Who pays for it?", "Moet ik dat melden?"), or is too
    short to carry a topic ("short": "Which class?", "Tot welk bedrag?"); None: it stands on its own.
    Cheap and permissive: a wrong cue costs one more search, and the evidence then decides."""
    text = _SPACE.sub(" ", question.lower()).strip()
    for lang in (language, "en" if language == "nl" else "nl"):
        if any(text == o or text.startswith(o + " ") or text.startswith(o + ",") for o in _OPENERS[lang]):
            return "opener"
    if any(t in _POINTERS for t in words(question)):
        return "pointer"
    return "short" if len(content_words(question)) <= 2 else None


def looks_dependent(question: str, language: str) -> bool:
    return dependency_cue(question, language) is not None


def topic_questions(history: History) -> list[str]:
    """The earlier questions a follow-up may lean on: back to the last one that stood on its own."""
    chain: list[str] = []
    for question, _ in reversed(list(history)[-TOPIC_TURNS:]):
        chain.insert(0, question)
        if not looks_dependent(question, "en"):
            break
    return chain


def _closest(
    text: str, result: SearchResult, language: str, margin: float, evidence_model: EvidenceModel | None
) -> tuple[Hit | None, float]:
    """The hit with the best evidence for `text`, and that evidence (-inf without dense scores)."""
    from serving.answer import hit_evidence  # answer.py imports this module

    hits, key = evidence_hits(text, result.hits, evidence_model)
    scored = [(h, hit_evidence(h, language, cross_language_margin=margin, key=key)) for h in hits]
    found = [(h, s) for h, s in scored if s is not None]
    if not found:
        return None, float("-inf")
    return max(found, key=lambda pair: pair[1])


def _cosine(embedder: Embedder, question: str, hit: Hit, language: str, margin: float) -> float:
    """The question's own cosine to a chunk (the index embedder; its passage vector is cached)."""
    query = embedder.embed_query(question)
    passage = embedder.embed_passages([embedding_text(hit.chunk)])[0]
    other = hit.chunk.language not in ("", language)
    return float(passage @ query) + (margin if other else 0.0)


def read_turn(
    question: str,
    history: History | None,
    *,
    retriever: HybridRetriever,
    language: str,
    top_k: int,
    cross_language_margin: float,
    bar: float,
    filters: SearchFilters | None = None,
    evidence_model: EvidenceModel | None = None,
    llm: LLMClient | None = None,
    mode: Mode = "decided",
) -> tuple[Turn, SearchResult]:
    """The turn's reading and its search result (`bar`: the evidence bar, on the evidence's scale).

    A turn with a cue (`dependency_cue`), or whose own reading falls below the bar, is also searched
    with its topic; that reading wins when the
    chunk it finds best is about as close to the question alone as the question's own best chunk
    (within FIT_MARGIN of it): the conversation then supplied the topic, not a topic of its own.
    A turn whose only cue is being short ("Who is the CFO?") keeps its own reading when that reaches
    the bar in another document than the topic's. `llm`: condense the turn first (one short call).
    """
    alone = retriever.search(question, k=top_k, filters=filters)
    if not history or mode == "alone":
        return Turn(question=question, text=question), alone
    if mode == "together":
        text = "\n".join([history[-1][0], question])
        return Turn(question, text, dependent=True), retriever.search(text, k=top_k, filters=filters)
    t = time.perf_counter()
    own_hit, own = _closest(question, alone, language, cross_language_margin, evidence_model)
    cue = dependency_cue(question, language) or ("weak" if own < bar else None)
    if cue is None:
        return Turn(question=question, text=question), alone
    timings: dict[str, float] = {}
    topic = topic_questions(history)
    text, rewritten = "\n".join([*topic, question]), False
    if llm is not None:
        condensed = condense(question, topic, llm=llm, language=language)
        timings["condense_ms"] = (time.perf_counter() - t) * 1000
        if condensed:
            text, rewritten = condensed, True
    together = retriever.search(text, k=top_k, filters=filters)
    margin = cross_language_margin
    own_dense = _closest(question, alone, language, margin, None)[1]
    shared_hit = _closest(text, together, language, margin, None)[0]
    dependent = shared_hit is not None
    if shared_hit is not None:
        fit = _cosine(retriever.embedder, question, shared_hit, language, margin)
        dependent = fit >= own_dense - FIT_MARGIN[cue]
        if cue == "short" and own >= bar and own_hit is not None:
            dependent = dependent and own_hit.chunk.doc_id == shared_hit.chunk.doc_id
    timings["reading_ms"] = (time.perf_counter() - t) * 1000
    if dependent:
        turn = Turn(question, text, dependent=True, rewritten=rewritten, cue=cue, timings_ms=timings)
        return turn, together
    return Turn(question, question, cue=cue, timings_ms=timings), alone


CONDENSE_PROMPT = {
    "en": (
        "Rewrite the last question so that it can be understood without the conversation. Keep its "
        "meaning, add only the topic from the earlier questions, and reply in English with the "
        "question only."
    ),
    "nl": (
        "Herschrijf de laatste vraag zo dat die zonder het gesprek te begrijpen is. Houd de betekenis, "
        "voeg alleen het onderwerp uit de eerdere vragen toe, en antwoord in het Nederlands met "
        "alleen de vraag."
    ),
}
_EXAMPLE = {
    "en": (
        "How many vacation days do I get?",
        "And from age 55?",
        "How many vacation days do I get from age 55?",
    ),
    "nl": (
        "Hoeveel vakantiedagen krijg ik?",
        "En vanaf 55 jaar?",
        "Hoeveel vakantiedagen krijg ik vanaf 55 jaar?",
    ),
}


def condense(question: str, topic: Sequence[str], *, llm: LLMClient, language: str) -> str | None:
    """The question rewritten to stand on its own, in its language (one call, at most 64 tokens);
    None when the model returns nothing usable."""
    lang = language if language in CONDENSE_PROMPT else "en"
    before, follow, rewrite = _EXAMPLE[lang]
    messages: list[ChatCompletionMessageParam] = [
        {"role": "system", "content": CONDENSE_PROMPT[lang]},
        {"role": "user", "content": f"{before}\n{follow}"},
        {"role": "assistant", "content": rewrite},
        {"role": "user", "content": "\n".join([*topic, question])},
    ]
    text = llm.chat(messages, max_tokens=CONDENSE_TOKENS, temperature=0.0).text.strip()
    text = text.splitlines()[0].strip().strip('"“”') if text else ""
    return text if 3 <= len(text) <= 400 else None
