"""`bron eval citations`: do the answers' citations point at the words they came from?

For every answered question of a run, three things are scored against the retrieved documents:
- precision: each citation of a sentence points at a document holding the sentence's supporting span,
  the longest word run (content words) the sentence shares with any retrieved document; a sentence that
  shares no such run with any (a free paraphrase) has no span to check and is counted apart;
- figures: a sentence stating a figure that only some retrieved documents hold (the changed figure of
  two policy versions, a regional amount) cites only documents that hold it;
- gold: among answered questions whose gold document was retrieved, the share that cites it.

Three sets: CLAPnq (scored from a `bron eval answers` log; older logs, which hold only the final text, are
re-attributed after re-running retrieval), the sample handbook's questions, and a set of near-duplicate
passages (bench/citations/near-duplicates: two policy versions with one figure changed, regional
variants, FAQ against policy, neighbouring articles of a law; Dutch and English). The near-duplicate set is
also scored without the model: each question's reference sentence, cited to the wrong variant or to
none, must end up cited to the variant it was written from.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from evaluation.answers import Case, Outcome, wilson_interval
from retrieval.analysis import detect_language
from retrieval.hybrid import HybridRetriever
from serving.answer import AnswerPolicy, GroundingChecker, prompt_sources
from serving.citations import markers_in
from serving.context import source_text
from serving.evidence_model import EvidenceModel, evidence_hits
from serving.grounding.attribution import MIN_SHARED_WORDS, overlap
from serving.grounding.lexical import numbers_in
from serving.quoting import QUOTE_LEAD
from serving.verification import strip_markers


@dataclass(frozen=True)
class CitedSentence:
    sentence: str
    cited_docs: tuple[str, ...]
    span: str = ""


@dataclass(frozen=True)
class Record:
    """One question of a run, as `bron eval citations` scores it."""

    case_id: str
    question: str
    answered: bool
    gold_docs: tuple[str, ...]
    retrieved_docs: tuple[str, ...]
    cited_docs: tuple[str, ...]
    sentences: tuple[CitedSentence, ...] = ()


def record_from_outcome(outcome: Outcome) -> Record:
    return Record(
        case_id=outcome.case.case_id,
        question=outcome.case.question,
        answered=not outcome.abstained,
        gold_docs=outcome.case.gold_docs,
        retrieved_docs=tuple(outcome.retrieved_docs),
        cited_docs=tuple(outcome.cited_docs),
        sentences=tuple(
            CitedSentence(str(s["sentence"]), tuple(s["cited_docs"]), str(s.get("span", "")))  # type: ignore[arg-type]
            for s in outcome.sentences
        ),
    )


def record_from_log(row: Mapping[str, Any], case: Case) -> Record:
    return Record(
        case_id=case.case_id,
        question=case.question,
        answered=not row["abstained"],
        gold_docs=case.gold_docs,
        retrieved_docs=tuple(row.get("retrieved_docs", ())),
        cited_docs=tuple(row.get("cited_docs", ())),
        sentences=tuple(
            CitedSentence(s["sentence"], tuple(s["cited_docs"]), s.get("span", "")) for s in row["sentences"]
        ),
    )


def answer_body(text: str) -> str:
    """The answer's words without markers or the quote lead ("The sources say: “…”")."""
    body = strip_markers(text)
    for lead in QUOTE_LEAD.values():
        body = body.removeprefix(lead).strip()
    return body


def _figures(text: str) -> dict[str, set[str]]:
    return {raw: forms for raw, forms in numbers_in(text).items() if any(c.isdigit() for c in raw)}


def _forms(text: str) -> set[str]:
    return {form for forms in numbers_in(text).values() for form in forms}


@dataclass
class Tally:
    questions: int = 0
    answered: int = 0
    gold_retrieved: int = 0
    gold_cited: int = 0
    citations: int = 0
    precise: int = 0
    no_span: int = 0
    figure_sentences: int = 0
    figure_right: int = 0
    misses: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        def share(n: int, d: int) -> float | None:
            return round(n / d, 4) if d else None

        return {
            "questions": self.questions,
            "answered": self.answered,
            "answered_gold_retrieved": self.gold_retrieved,
            "gold_cited": self.gold_cited,
            "gold_cited_share": share(self.gold_cited, self.gold_retrieved),
            "citations_checked": self.citations,
            "precise": self.precise,
            "precision": share(self.precise, self.citations),
            "sentences_without_shared_span": self.no_span,
            "figure_sentences": self.figure_sentences,
            "figure_attributed_to_holder": self.figure_right,
            "figure_share": share(self.figure_right, self.figure_sentences),
            "ci95": {
                "gold_cited_share": wilson_interval(self.gold_cited, self.gold_retrieved),
                "precision": wilson_interval(self.precise, self.citations),
            },
            "misses": self.misses[:40],
        }


def score(records: Iterable[Record], texts: Mapping[str, str]) -> Tally:
    """`texts`: document id -> its text, for every document a record may have retrieved."""
    tally = Tally()
    for r in records:
        tally.questions += 1
        if not r.answered:
            continue
        tally.answered += 1
        retrieved = [d for d in r.retrieved_docs if d in texts]
        if set(r.gold_docs) & set(retrieved):
            tally.gold_retrieved += 1
            if set(r.gold_docs) & set(r.cited_docs):
                tally.gold_cited += 1
            else:
                tally.misses.append({"id": r.case_id, "kind": "gold not cited", "question": r.question,
                                     "cited": list(r.cited_docs), "gold": list(r.gold_docs)})  # fmt: skip
        for s in r.sentences:
            _score_sentence(tally, r, s, retrieved, texts)
    return tally


def _score_sentence(
    tally: Tally, r: Record, s: CitedSentence, retrieved: Sequence[str], texts: Mapping[str, str]
) -> None:
    cited = [d for d in s.cited_docs if d in texts]
    if not cited:
        return
    language = detect_language(s.sentence)
    overlaps = {
        d: overlap(s.sentence, texts[d], language=language) for d in dict.fromkeys([*retrieved, *cited])
    }
    top = max(o.shared for o in overlaps.values())
    if top < MIN_SHARED_WORDS:
        tally.no_span += 1
    else:
        for d in cited:
            tally.citations += 1
            if overlaps[d].shared == top:
                tally.precise += 1
            else:
                holders = [h for h, o in overlaps.items() if o.shared == top]
                tally.misses.append({"id": r.case_id, "kind": "cited source lacks the span", "sentence": s.sentence,
                                     "cited": d, "holders": holders})  # fmt: skip
    pool = list(dict.fromkeys([*retrieved, *cited]))
    for raw, forms in _figures(s.sentence).items():
        holders = [d for d in pool if forms & _forms(texts[d])]
        if not holders or len(holders) == len(pool):
            continue  # a figure every source (or none) holds tells no version from another
        tally.figure_sentences += 1
        if all(d in holders for d in cited):
            tally.figure_right += 1
        else:
            tally.misses.append({"id": r.case_id, "kind": f"figure {raw} cited elsewhere", "sentence": s.sentence,
                                 "cited": cited, "holders": holders})  # fmt: skip


# --- the near-duplicate set -------------------------------------------------------------------------


@dataclass(frozen=True)
class NearDuplicate:
    case_id: str
    question: str
    gold: tuple[str, ...]  # file names of the documents that answer it
    family: tuple[str, ...]  # the near-identical documents, gold included
    reference: str  # a sentence written from `reference_from`
    reference_from: str
    kind: str


def load_near_duplicates(folder: Path) -> list[NearDuplicate]:
    out = []
    with (folder / "questions.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                row = json.loads(line)
                out.append(NearDuplicate(row["id"], row["question"], tuple(row["gold"]), tuple(row["family"]),
                                         row["reference"], row["reference_from"], row["kind"]))  # fmt: skip
    return out


def _cite(sentence: str, marker: str) -> str:
    body = sentence.rstrip()
    if body.endswith((".", "!", "?")):
        return f"{body[:-1]} {marker}{body[-1]}" if marker else body
    return f"{body} {marker}".strip()


def written_attribution(
    items: Sequence[NearDuplicate], texts: Mapping[str, str], checker: Any
) -> dict[str, Any]:
    """Without the model: each reference sentence, cited to every other document of its pair and to
    none, with the pair in both orders, must come out cited to the document it was written from alone."""
    trials, right, misses = 0, 0, []
    for item in items:
        for order in (list(item.family), list(reversed(item.family))):
            sources = [texts[name] for name in order]
            markers = [f"[{i + 1}]" for i, name in enumerate(order) if name != item.reference_from] + [""]
            for marker in markers:
                report = checker.check(_cite(item.reference, marker), sources)
                got = {order[n - 1] for s in report.sentences for n in s.attributed}
                trials += 1
                if got == {item.reference_from} and all(s.supported for s in report.sentences):
                    right += 1
                else:
                    misses.append(
                        {"id": item.case_id, "marker": marker, "order": order, "cited": sorted(got)}
                    )
    return {"trials": trials, "right": right, "share": round(right / trials, 4) if trials else None,
            "misses": misses}  # fmt: skip


def by_kind(
    records: Sequence[Record], items: Sequence[NearDuplicate], texts: Mapping[str, str]
) -> dict[str, Any]:
    kinds = {i.case_id: i.kind for i in items}
    return {
        kind: {k: v for k, v in score([r for r in records if kinds.get(r.case_id) == kind], texts).summary().items()
               if k != "misses"}
        for kind in sorted(set(kinds.values()))
    }  # fmt: skip


def renamed(record: Record, name: Callable[[str], str]) -> Record:
    """The record with every document id passed through `name` (file sets are scored by file name)."""
    return replace(
        record,
        gold_docs=tuple(name(d) for d in record.gold_docs),
        retrieved_docs=tuple(name(d) for d in record.retrieved_docs),
        cited_docs=tuple(name(d) for d in record.cited_docs),
        sentences=tuple(
            replace(s, cited_docs=tuple(name(d) for d in s.cited_docs)) for s in record.sentences
        ),
    )


def reattribute(
    row: Mapping[str, Any],
    case: Case,
    *,
    retriever: HybridRetriever,
    policy: AnswerPolicy,
    checker: GroundingChecker,
    evidence_model: EvidenceModel | None = None,
) -> Record:
    """A logged answer that holds only its final text: retrieval is run again (it is deterministic) to
    find the sources the model read, and the text's sentences are attributed among them afresh.

    The log renumbered the markers in order of first citation, so its [1] is known only where the log
    pins it down: a single source read, or a single source cited and the log saying whether it was the
    gold one (and only one other read). There the logged citation is given to the attribution as the
    model's choice; elsewhere the markers are dropped and the attribution chooses alone.
    """
    answered = not row["abstained"]
    result = retriever.search(case.question, k=policy.top_k)
    hits, key = evidence_hits(case.question, result.hits, evidence_model)
    retrieved = tuple(dict.fromkeys(h.chunk.doc_id for h in result.hits))
    if not answered:
        return Record(case.case_id, case.question, False, case.gold_docs, retrieved, ())
    # the logged run answered, so at least its closest source passed the bar: a re-run scoring it a
    # hair lower (language detection and index have moved on since) must not leave the model nothing
    prompt = prompt_sources(hits, detect_language(case.question), policy, key=key) or [
        max(hits, key=lambda h: h.scores.get(key, 0.0))
    ]
    body = logged_citations(row, [h.chunk.doc_id for h in prompt], case.gold_docs)
    report = checker.check(body, [source_text(h.chunk) for h in prompt], question=case.question)
    sentences = tuple(
        CitedSentence(
            strip_markers(s.sentence), tuple(prompt[n - 1].chunk.doc_id for n in s.attributed), s.span
        )
        for s in report.sentences
    )
    cited = tuple(dict.fromkeys(d for s in sentences for d in s.cited_docs))
    return Record(case.case_id, case.question, True, case.gold_docs, retrieved, cited, sentences)


def logged_citations(row: Mapping[str, Any], prompt_docs: Sequence[str], gold_docs: Sequence[str]) -> str:
    """The logged answer with its [1] mapped to the prompt source it stood for, where the log says which."""
    text = str(row["answer"])
    for lead in QUOTE_LEAD.values():
        text = text.removeprefix(lead).strip()
    if set(markers_in(text)) != {1}:
        return answer_body(text)
    gold = [i + 1 for i, d in enumerate(prompt_docs) if d in gold_docs]
    other = [i + 1 for i, d in enumerate(prompt_docs) if d not in gold_docs]
    if len(prompt_docs) == 1:
        n = 1
    elif row.get("cited_gold") and len(gold) == 1:
        n = gold[0]
    elif not row.get("cited_gold") and len(other) == 1:
        n = other[0]
    else:
        return answer_body(text)
    return text.replace("[1]", f"[{n}]")
