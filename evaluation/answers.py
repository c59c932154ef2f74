"""End-to-end answer benchmark: index the passages, ask every question, score answers and abstentions.

Two inputs share one harness:
- CLAPnq (`clapnq_dev_{answerable,unanswerable}.jsonl`): every passage is indexed; answerable questions
  must be answered with a citation to their gold passage (token-F1 and ROUGE-L against the gold
  answer), unanswerable ones must be declined;
- a regression set from `bron export eval` (JSONL: question, expected_answer, expected_sources),
  asked against the already-configured index.
The pipeline is the production one (`serving.answer.answer_question`), so pointing the settings at a
vLLM server (`BRON_SERVING__LLM_BASE_URL`, `BRON_SERVING__MODEL`) runs the same benchmark on it.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from rich.progress import Progress

from evaluation.retrieval import percentile
from retrieval.analysis import fold
from retrieval.hybrid import HybridRetriever
from retrieval.loaders import content_hash
from retrieval.types import Document, Section
from serving.answer import Answer, AnswerPolicy, GroundingChecker, answer_question
from serving.evidence_model import EvidenceModel
from serving.llm import LLMClient
from serving.verification import strip_markers


@dataclass(frozen=True)
class Case:
    case_id: str
    question: str
    answerable: bool
    gold_answer: str = ""
    gold_docs: tuple[str, ...] = ()


def _passage_id(title: str, text: str) -> str:
    return hashlib.sha1(f"{title}\x00{text}".encode()).hexdigest()[:16]


def load_clapnq(data_dir: Path) -> tuple[list[Document], list[Case]]:
    docs: dict[str, Document] = {}
    cases: list[Case] = []
    for name, answerable in (("clapnq_dev_answerable.jsonl", True), ("clapnq_dev_unanswerable.jsonl", False)):
        with (data_dir / name).open(encoding="utf-8") as fh:
            for line in fh:
                row = json.loads(line)
                gold: list[str] = []
                for p in row["passages"]:
                    pid = _passage_id(p["title"], p["text"])
                    gold.append(pid)
                    docs.setdefault(
                        pid,
                        Document(
                            doc_id=pid,
                            title=p["title"],
                            source=f"clapnq#{pid}",
                            sections=(Section(heading_path=(), text=p["text"]),),
                            content_hash=content_hash(f"{p['title']}\n{p['text']}".encode()),
                        ),
                    )
                answers = [o["answer"] for o in row.get("output", []) if o.get("answer")]
                cases.append(
                    Case(
                        case_id=str(row["id"]),
                        question=row["input"],
                        answerable=answerable,
                        gold_answer=answers[0] if answers else "",
                        gold_docs=tuple(gold) if answerable else (),
                    )
                )
    return list(docs.values()), cases


def load_regression(path: Path) -> list[Case]:
    cases = []
    with path.open(encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            row = json.loads(line)
            cases.append(
                Case(
                    case_id=str(row.get("id", i)),
                    question=row["question"],
                    answerable=bool(row.get("expected_answer")),
                    gold_answer=re.sub(r"\[\d+\]", "", row.get("expected_answer", "")),
                    gold_docs=tuple(row.get("expected_sources", [])),
                )
            )
    return cases


def _tokens(text: str) -> list[str]:
    return re.findall(r"\w+", fold(re.sub(r"\[\d+\]", "", text)))


def token_f1(prediction: str, gold: str) -> float:
    p, g = _tokens(prediction), _tokens(gold)
    common = sum((Counter(p) & Counter(g)).values())
    if not p or not g or not common:
        return 0.0
    precision, recall = common / len(p), common / len(g)
    return 2 * precision * recall / (precision + recall)


def rouge_l(prediction: str, gold: str) -> float:
    p, g = _tokens(prediction), _tokens(gold)
    if not p or not g:
        return 0.0
    prev = [0] * (len(g) + 1)
    for a in p:
        cur = [0]
        for j, b in enumerate(g, start=1):
            cur.append(prev[j - 1] + 1 if a == b else max(prev[j], cur[j - 1]))
        prev = cur
    lcs = prev[-1]
    if not lcs:
        return 0.0
    precision, recall = lcs / len(p), lcs / len(g)
    return 2 * precision * recall / (precision + recall)


@dataclass
class Outcome:
    case: Case
    answer: str
    abstained: bool
    cited_docs: list[str]
    timings_ms: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    evidence: float | None = None
    declined_before_generation: bool = False
    unsupported_draft: str | None = None  # what the model wrote when the checker rejected it
    quoted: bool = False  # answered with a quote of the sources in place of that draft
    retrieved_docs: list[str] = field(default_factory=list)  # doc ids of the retrieved chunks, by rank
    # per checked sentence: its text, the doc ids it cites (verified), and the supporting sentence
    sentences: list[dict[str, object]] = field(default_factory=list)


def half_of(case_id: str) -> str:
    """A fixed two-way split by id: thresholds are chosen on "tune" and reported on "report"."""
    return "tune" if int(hashlib.sha1(case_id.encode()).hexdigest(), 16) % 2 == 0 else "report"


def sample_cases(cases: list[Case], limit: int | None, seed: int = 13) -> list[Case]:
    """A fixed, balanced sample: `limit` answerable and `limit` unanswerable questions."""
    if limit is None:
        return cases
    rng = random.Random(seed)
    groups = []
    for flag in (True, False):
        group = [c for c in cases if c.answerable is flag]
        groups.append(rng.sample(group, min(limit, len(group))))
    # interleaved, so a run cut short is still balanced
    return [c for pair in zip(*groups, strict=False) for c in pair]


def run_cases(
    cases: list[Case],
    *,
    retriever: HybridRetriever,
    llm: LLMClient,
    policy: AnswerPolicy,
    checker: GroundingChecker | None,
    evidence_model: EvidenceModel | None = None,
) -> Iterator[Outcome]:
    for case in cases:
        try:
            a = answer_question(case.question, retriever=retriever, llm=llm, policy=policy, checker=checker,
                                evidence_model=evidence_model)  # fmt: skip
        except Exception as exc:  # a benchmark records a failure and goes on
            yield Outcome(case, "", True, [], error=f"{type(exc).__name__}: {exc}")
            continue
        cited = [] if a.abstained else [c.chunk.doc_id for c in a.citations]
        yield Outcome(
            case, a.text, a.abstained, cited, dict(a.timings_ms), evidence=a.evidence,
            declined_before_generation=a.abstained and a.model is None, unsupported_draft=a.unsupported_draft,
            quoted=a.quoted, retrieved_docs=list(dict.fromkeys(h.chunk.doc_id for h in a.hits)),
            sentences=[] if a.abstained else cited_sentences(a),
        )  # fmt: skip


def cited_sentences(answer: Answer) -> list[dict[str, object]]:
    """Each checked sentence with the documents its verified markers point at and its supporting span:
    what `bron eval citations` scores."""
    if answer.grounding is None:
        return []
    prompt_to_doc = {
        n: answer.citations[shown - 1].chunk.doc_id for n, shown in answer.source_numbers.items()
    }
    return [
        {
            "sentence": strip_markers(s.sentence),
            "cited_docs": [prompt_to_doc[n] for n in (s.attributed or s.citations) if n in prompt_to_doc],
            "span": s.span,
            "supported": bool(s.supported),
        }
        for s in answer.grounding.sentences
    ]


def mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def wilson_interval(n: int, d: int, z: float = 1.96) -> tuple[float, float] | None:
    """95 % interval of a share n/d (Wilson score): how far a figure on ~150 questions can move by chance.

    On CLAPnq's report half (147 answerable questions) it is about ±7 points, wider than most of the
    differences a change to the pipeline makes.
    """
    if not d:
        return None
    p = n / d
    centre = (p + z * z / (2 * d)) / (1 + z * z / d)
    half = z * math.sqrt(p * (1 - p) / d + z * z / (4 * d * d)) / (1 + z * z / d)
    return round(centre - half, 4), round(centre + half, 4)


def summarise(outcomes: list[Outcome]) -> dict[str, object]:
    answerable = [o for o in outcomes if o.case.answerable]
    unanswerable = [o for o in outcomes if not o.case.answerable]
    answered = [o for o in answerable if not o.abstained]
    declined = sum(o.abstained for o in unanswerable)
    with_gold = [o for o in answered if set(o.cited_docs) & set(o.case.gold_docs)] if answerable else []
    stages = ("retrieve_ms", "evidence_ms", "first_token_ms", "generate_ms", "grounding_ms", "total_ms")
    latency = {
        s: {"p50": percentile(v, 50), "p95": percentile(v, 95), "n": len(v)}
        for s in stages
        if (v := [o.timings_ms[s] for o in outcomes if s in o.timings_ms])
    }

    def share(n: int, d: int) -> float | None:
        return round(n / d, 4) if d else None

    return {
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
        "answered_share": share(len(answered), len(answerable)),
        "answered_citing_gold_share": share(len(with_gold), len(answerable)),
        "token_f1_answered": mean([token_f1(o.answer, o.case.gold_answer) for o in answered]),
        "rouge_l_answered": mean([rouge_l(o.answer, o.case.gold_answer) for o in answered]),
        "declined_share": share(declined, len(unanswerable)),
        "ci95": {
            "answered_share": wilson_interval(len(answered), len(answerable)),
            "declined_share": wilson_interval(declined, len(unanswerable)),
        },
        # how each kind was declined: by the evidence bar before generating, or after it
        "declined_before_generation": {
            "answerable": share(sum(o.declined_before_generation for o in answerable), len(answerable)),
            "unanswerable": share(sum(o.declined_before_generation for o in unanswerable), len(unanswerable)),
        },
        # answered with a quote of the sources because the check rejected the model's draft
        "quoted": {
            "answerable": sum(o.quoted for o in answered),
            "citing_gold": sum(o.quoted for o in with_gold),
            "token_f1": mean([token_f1(o.answer, o.case.gold_answer) for o in answered if o.quoted]),
            "unanswerable": sum(o.quoted for o in unanswerable),
        },
        "errors": sum(o.error is not None for o in outcomes),
        "latency_ms": latency,
    }


def ask_all(
    cases: list[Case],
    *,
    retriever: HybridRetriever,
    llm: LLMClient,
    policy: AnswerPolicy,
    checker: GroundingChecker | None,
    log_path: Path | None = None,
    evidence_model: EvidenceModel | None = None,
) -> list[Outcome]:
    outcomes: list[Outcome] = []
    with Progress() as progress:
        task = progress.add_task("asking", total=len(cases))
        outcomes_iter = run_cases(
            cases, retriever=retriever, llm=llm, policy=policy, checker=checker, evidence_model=evidence_model
        )
        for outcome in outcomes_iter:
            outcomes.append(outcome)
            if log_path is not None:
                with log_path.open("a", encoding="utf-8") as fh:
                    fh.write(json.dumps({
                        "id": outcome.case.case_id, "answerable": outcome.case.answerable,
                        "question": outcome.case.question, "answer": outcome.answer,
                        "abstained": outcome.abstained, "cited_gold": bool(set(outcome.cited_docs) & set(outcome.case.gold_docs)),
                        "timings_ms": outcome.timings_ms, "error": outcome.error, "evidence": outcome.evidence,
                        "declined_before_generation": outcome.declined_before_generation,
                        "unsupported_draft": outcome.unsupported_draft, "quoted": outcome.quoted,
                        "cited_docs": outcome.cited_docs, "retrieved_docs": outcome.retrieved_docs,
                        "sentences": outcome.sentences,
                    }, ensure_ascii=False) + "\n")  # fmt: skip
            progress.update(task, advance=1)
    return outcomes
