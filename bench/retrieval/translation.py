"""Tried for issue 21 and not shipped: BM25 also searching the question translated by the local model.

BM25 cannot match across languages. Here the model (the embedded default, through the same
OpenAI-compatible client as answers) translates each question into the handbook's other language, BM25
searches the translation, and only chunks in that language keep their rank in that run ("translated");
it joins plain RRF with weight `w`, with and without other-language chunks ranked by dense
(`BRON_RETRIEVAL__OTHER_LANGUAGE_BY_DENSE`). For the 58 same-language dev questions it also counts
how many reach the evidence bar (52 answerable, 6 not).

    PYTHONPATH=. nice .venv/bin/python bench/retrieval/translation.py [--questions FILE]

Translations are kept in bench/retrieval/handbook-translations.json (one model call per new question),
figures in bench/retrieval/handbook-translation[-FILE].json; bench/retrieval/cross-language.md reads them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from openai.types.chat import ChatCompletionMessageParam

from bench.retrieval.handbook import report_groups
from bot.runtime import open_runtime
from bot.settings import Settings
from retrieval.analysis import detect_language
from retrieval.fusion import fuse
from retrieval.hybrid import FusionConfig
from retrieval.ingest import ingest_paths
from retrieval.types import ScoredChunk
from serving.answer import evidence_score
from serving.llm import LLMClient

ROOT = Path(__file__).resolve().parents[2]
HANDBOOK = ROOT / "retrieval" / "sample_handbook"
DEV = ("sample_handbook_questions.json", "sample_handbook_cross_language.json")
KEPT = ROOT / "bench" / "retrieval" / "handbook-translations.json"
COMMAND = "PYTHONPATH=. nice .venv/bin/python bench/retrieval/translation.py"
OTHER = {"nl": "en", "en": "nl"}
NAMES = {"en": "English", "nl": "Dutch"}
EXAMPLE = {
    "en": ("Hoeveel vakantiedagen krijg ik per jaar?", "How many vacation days do I get per year?"),
    "nl": ("How many vacation days do I get per year?", "Hoeveel vakantiedagen krijg ik per jaar?"),
}


def translate(llm: LLMClient, question: str, language: str) -> str | None:
    """One short call, as a shipped translator would make it; None when the reply is unusable."""
    source, target = EXAMPLE[language]
    messages: list[ChatCompletionMessageParam] = [
        {"role": "system", "content": f"Translate the user's text into {NAMES[language]}. Reply with the translation only."},
        {"role": "user", "content": source},
        {"role": "assistant", "content": target},
        {"role": "user", "content": question},
    ]  # fmt: skip
    text = llm.chat(messages, max_tokens=64, temperature=0.0).text.strip()
    text = text.splitlines()[0].strip().strip('"“”') if text else ""
    return text if 2 <= len(text) <= 3 * len(question) + 20 and text != question else None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--questions", help="one question file in retrieval/ instead of the dev set")
    args = parser.parse_args()
    files = [args.questions] if args.questions else list(DEV)
    questions = [
        {**q, "file": name}
        for name in files
        for q in json.loads((ROOT / "retrieval" / name).read_text(encoding="utf-8"))
    ]
    page_language = {p.name: detect_language(p.read_text(encoding="utf-8")) for p in HANDBOOK.glob("*.md")}
    kept: dict[str, str | None] = json.loads(KEPT.read_text(encoding="utf-8")) if KEPT.is_file() else {}
    settings = Settings(data_dir=ROOT / ".bron" / "bench" / "handbook-translation")
    out: dict[str, object] = {
        "command": COMMAND + (f" --questions {args.questions}" if args.questions else "")
    }
    runs: dict[str, dict[str, list[ScoredChunk]]] = {}
    needs_model = any(q["question"] not in kept for q in questions)
    with open_runtime(settings, with_llm=needs_model) as rt:
        ingest_paths([HANDBOOK], backend=rt.backend, embedder=rt.embedder, settings=settings.retrieval)
        fusion = FusionConfig.from_settings(settings.retrieval)
        n = max(10, fusion.candidates)
        for q in questions:
            text, language = q["question"], detect_language(q["question"])
            if text not in kept:
                assert rt.llm is not None
                kept[text] = translate(rt.llm, text, OTHER[language])
                print(f"{text!r} -> {kept[text]!r}", file=sys.stderr)
            vector = rt.embedder.embed_query(text)
            runs[text] = {
                "bm25": rt.backend.search_bm25(text, k=n),
                "dense": rt.backend.search_dense(vector, k=n),
            }
            translation = kept[text]
            if translation:
                found = rt.backend.search_bm25(translation, k=n)
                runs[text]["translated"] = [s for s in found if s.chunk.language == OTHER[language]]
        policy = rt.policy
    KEPT.write_text(json.dumps(kept, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    for weight in (0.0, 1.0, 0.5):
        for by_dense in (False, True):
            name = f"translated w={weight}{', other language by dense' if by_dense else ''}"
            groups: dict[str, list[int]] = {}
            passed = {"answerable": 0, "unanswerable": 0}
            for q in questions:
                language = detect_language(q["question"])
                hits = fuse(
                    runs[q["question"]], k=10, method=fusion.method, rank_constant=fusion.rank_constant,
                    weights={"bm25": fusion.bm25_weight, "dense": fusion.dense_weight, "translated": weight},
                    question_language=language if by_dense else None,
                )  # fmt: skip
                if q["file"] == "sample_handbook_questions.json":
                    margin = policy.cross_language_margin
                    score = evidence_score(hits[: policy.top_k], language, cross_language_margin=margin)
                    passed["answerable" if q["doc"] else "unanswerable"] += (
                        score is not None and score >= policy.bar
                    )
                if not q["doc"]:
                    continue
                pages = [Path(h.chunk.doc_id).name for h in hits]
                rank = pages.index(q["doc"]) + 1 if q["doc"] in pages else 99
                groups.setdefault(f"{q['language']}->{page_language[q['doc']]}", []).append(rank)
            report_groups(name, groups, out)
            if "sample_handbook_questions.json" in files:
                out[f"{name} evidence bar passed"] = passed
                print(f"{name:50s} through the bar: {passed['answerable']}/52 answerable, "
                      f"{passed['unanswerable']}/6 unanswerable")  # fmt: skip
    held = "-" + Path(args.questions).stem.removeprefix("sample_handbook_") if args.questions else ""
    target = ROOT / "bench" / "retrieval" / f"handbook-translation{held}.json"
    target.write_text(json.dumps(out, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(out["command"], file=sys.stderr)


if __name__ == "__main__":
    main()
