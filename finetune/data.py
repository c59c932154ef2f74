"""`bron finetune data`: build a training set from the corpus and from reviewers' corrections.

(a) For each chunk of the corpus the LLM (through the same OpenAI-compatible API Bron answers with)
writes a question and a short answer citing [1]; pairs the groundedness check does not accept are
dropped, because an adapter trained on invented facts learns to invent. (b) Corrected answers come
from `bron export sft`. Then: deduplicate on the normalised question (a correction beats a generated
pair), split train/validation *by document* so validation measures documents the adapter never saw,
and cap the majority language so Dutch and English stay in balance. Generated pairs are rendered into
the exact prompt Bron serves, with the gold chunk among distractor chunks from other documents, so
the adapter learns to pick and cite the right source rather than always citing [1].
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

from finetune.examples import Example, normalise_question, write_examples
from retrieval.access import OPEN_COLLECTION, CollectionError, is_root_record, root_records
from retrieval.chunking import chunk_document
from retrieval.errors import DocumentError
from retrieval.ingest import discover
from retrieval.loaders import SUPPORTED_SUFFIXES, load_document
from retrieval.settings import RetrievalSettings
from retrieval.sqlite_backend import SQLiteBackend, stored_dim
from retrieval.types import Chunk, Hit
from serving.context import LANGUAGE_NAMES, build_context
from serving.errors import GenerationError
from serving.llm import LLMClient
from serving.settings import ServingSettings

_FIELD = re.compile(r"^\s*\**(QUESTION|VRAAG|ANSWER|ANTWOORD)\**\s*:\s*(.*)$", re.I)
_NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-zA-Z]{2,}")


class Checker(Protocol):
    def check(self, answer: str, sources: Sequence[str]) -> Any: ...


@dataclass(frozen=True)
class DataSettings:
    valid_fraction: float = 0.2
    seed: int = 13
    max_language_ratio: float = 1.5  # the larger language keeps at most this many times the smaller
    min_groundedness: float = 0.5
    distractors: int = 2  # other documents' chunks shown beside the gold one in each prompt
    chunks_per_document: int | None = None  # cap generation cost on a big corpus
    # as production reads and chunks, so the model is trained on what it will be shown
    context_tokens: int = field(default_factory=lambda: ServingSettings().context_tokens)
    max_words: int = field(default_factory=lambda: RetrievalSettings().chunk_words)
    overlap_words: int = field(default_factory=lambda: RetrievalSettings().chunk_overlap_words)


@dataclass(frozen=True)
class Pair:
    """A generated question and grounded answer for one chunk, before it is rendered into a prompt."""

    question: str
    answer: str
    chunk: Chunk

    @property
    def doc_id(self) -> str:
        return self.chunk.doc_id

    @property
    def language(self) -> str:
        return self.chunk.language


Item = Pair | Example


@dataclass
class Dataset:
    train: list[Example]
    valid: list[Example]
    dropped: Counter[str] = field(default_factory=Counter)
    grounding: str = "none"


@dataclass(frozen=True)
class CorpusAccess:
    """What establishes a corpus file's collection: the roots an index recorded (path -> collection)
    and the versions it holds (`collection:content hash` per document)."""

    roots: Mapping[Path, str]
    versions: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_index(cls, index: Path) -> CorpusAccess:
        """The roots and versions of a Bron SQLite index (`bron ingest PATH --collection …` records them)."""
        dim = stored_dim(index)
        if dim is None:
            raise DocumentError(
                f"no Bron index at {index}: its recorded roots say which collection each corpus folder is "
                "served to; run `bron ingest PATH [--collection …]` there first, or pass --index"
            )
        backend = SQLiteBackend(index, dim=dim)
        try:
            known = backend.document_hashes()
        finally:
            backend.close()
        roots = {r.path: r.collection for r in root_records(known).values()}
        return cls(roots=roots, versions={d: v for d, v in known.items() if not is_root_record(d)})


def load_chunks(
    paths: Sequence[Path],
    settings: DataSettings = DataSettings(),
    *,
    access: CorpusAccess,
    collections: Collection[str] = (OPEN_COLLECTION,),
    dropped: Counter[str] | None = None,
) -> list[Chunk]:
    """Chunks exactly as ingestion makes them (same loader, same chunker, same document ids), of the
    documents served to `collections` only.

    An adapter answers in every channel, so it may learn only what everyone it answers may read. A
    file's collection is its most specific recorded root's, narrowed by its front matter; a file under
    no recorded root is left out (never taken as public), and so is text the index serves to a
    collection outside `collections` (a renamed restricted folder is recognised by it).
    """
    dropped = dropped if dropped is not None else Counter()
    roots = {Path(os.path.realpath(p)): c for p, c in access.roots.items()}
    withheld = {
        digest for version in access.versions.values()
        for collection, _, digest in [version.partition(":")] if collection not in collections
    }  # fmt: skip
    chunks: list[Chunk] = []
    for file, root in discover(paths):
        if file.suffix.lower() not in SUPPORTED_SUFFIXES:
            continue
        real = Path(os.path.realpath(file))
        owners = [p for p in roots if real == p or real.is_relative_to(p)]
        if not owners:
            dropped["collection_not_established"] += 1
            continue
        try:
            doc = load_document(
                file, root=root.parent, collection=roots[max(owners, key=lambda p: len(p.parts))]
            )
        except CollectionError:
            dropped["collection_not_established"] += 1
            continue
        except DocumentError:
            continue
        if doc.collection not in collections or doc.content_hash in withheld:
            dropped["collection_not_selected"] += 1
            continue
        chunks += chunk_document(doc, max_words=settings.max_words, overlap_words=settings.overlap_words)
    return chunks


def parse_generated(text: str) -> tuple[str, str] | None:
    """(question, answer) from the generator's `QUESTION:`/`ANSWER:` reply, or None if malformed."""
    got: dict[str, list[str]] = {}
    current: str | None = None
    for line in text.strip().splitlines():
        m = _FIELD.match(line)
        if m:
            current = "q" if m.group(1).upper() in ("QUESTION", "VRAAG") else "a"
            if current in got:
                break  # a second pair: keep the first
            got[current] = [m.group(2).strip()]
        elif current and line.strip():
            got[current].append(line.strip())
    question = re.sub(r"\s*\[\d+\]", "", " ".join(got.get("q", []))).strip()
    answer = " ".join(got.get("a", [])).strip()
    if len(question.split()) < 3 or len(answer.split()) < 3:
        return None
    if "[1]" not in answer:  # small models drop the marker; the source is known and grounding is the filter
        answer = f"{answer.rstrip()} [1]"
    if re.search(r"\[(?!1\])\d+\]", answer):
        return None  # cites a source it was never shown
    return (question if question.endswith("?") else question + "?"), answer


def lexical_support(answer: str, source: str) -> float:
    """Fallback check when `serving.grounding` is unavailable: 1.0 if every number and name recurs."""
    claim = re.sub(r"\[\d+\]", "", answer)
    facts = set(_NUMBER.findall(claim)) | set(_NAME.findall(claim))
    return 1.0 if all(f in source for f in facts) else 0.0


def default_checker(embedder: Any | None) -> Checker | None:
    """The answer-time groundedness check when it and an embedder are available, else None."""
    if embedder is None:
        return None
    try:
        from serving.grounding import GroundednessChecker
    except ImportError:
        return None
    return GroundednessChecker(embedder=embedder)


def groundedness(answer: str, source: str, checker: Checker | None) -> float:
    if checker is None:
        return lexical_support(answer, source)
    return float(checker.check(answer, [source]).score)


def generate_pair(chunk: Chunk, *, llm: LLMClient, temperature: float = 0.3) -> tuple[str, str] | None:
    template = (
        resources.files("finetune").joinpath("prompts", "qa_from_chunk.txt").read_text(encoding="utf-8")
    )
    prompt = template.format(
        language=LANGUAGE_NAMES.get(chunk.language, "English"), title=chunk.title,
        section=chunk.heading or chunk.title, text=chunk.text,
    )  # fmt: skip
    reply = llm.chat([{"role": "user", "content": prompt}], max_tokens=200, temperature=temperature)
    return parse_generated(reply.text)


def _rank(seed: int, key: str) -> str:
    return hashlib.sha256(f"{seed}\x00{key}".encode()).hexdigest()


def generate_pairs(
    chunks: Sequence[Chunk],
    *,
    llm: LLMClient,
    checker: Checker | None,
    settings: DataSettings,
    dropped: Counter[str],
    on_chunk: Callable[[Chunk, bool], None] | None = None,
) -> list[Pair]:
    by_doc: dict[str, list[Chunk]] = defaultdict(list)
    for c in chunks:
        by_doc[c.doc_id].append(c)
    pairs: list[Pair] = []
    for doc_chunks in by_doc.values():
        chosen = sorted(doc_chunks, key=lambda c: _rank(settings.seed, c.chunk_id))[
            : settings.chunks_per_document
        ]
        for chunk in sorted(chosen, key=lambda c: c.ordinal):
            ok = False
            try:
                parsed = generate_pair(chunk, llm=llm)
            except GenerationError:
                dropped["generation_failed"] += 1
                parsed = None
            if parsed is None:
                dropped["unparseable"] += 1
            elif groundedness(parsed[1], chunk.text, checker) < settings.min_groundedness:
                dropped["ungrounded"] += 1
            else:
                pairs.append(Pair(parsed[0], parsed[1], chunk))
                ok = True
            if on_chunk:
                on_chunk(chunk, ok)
    return pairs


def deduplicate(items: Iterable[Item], dropped: Counter[str]) -> list[Item]:
    """First occurrence of each normalised question wins; pass corrections first so they win."""
    seen: set[str] = set()
    out: list[Item] = []
    for item in items:
        key = normalise_question(item.question)
        if key in seen:
            dropped["duplicate"] += 1
            continue
        seen.add(key)
        out.append(item)
    return out


def validation_documents(items: Sequence[Item], *, fraction: float, seed: int) -> set[str]:
    """Documents held out for validation, chosen per language so both languages are validated."""
    lang_votes: dict[str, Counter[str]] = defaultdict(Counter)
    for item in items:
        lang_votes[item.doc_id][item.language] += 1
    by_language: dict[str, list[str]] = defaultdict(list)
    for doc, votes in lang_votes.items():
        by_language[votes.most_common(1)[0][0]].append(doc)
    held: set[str] = set()
    for docs in by_language.values():
        if len(docs) < 2:
            continue
        n = min(len(docs) - 1, max(1, round(fraction * len(docs))))
        held.update(sorted(docs, key=lambda d: _rank(seed, d))[:n])
    return held


def balance_languages(items: list[Item], *, max_ratio: float, seed: int, dropped: Counter[str]) -> list[Item]:
    """Drop (deterministically) examples of the larger language beyond `max_ratio` x the smaller."""
    counts = Counter(i.language for i in items)
    if len(counts) < 2:
        return items
    cap = max(1, int(min(counts.values()) * max_ratio))
    keep: list[Item] = []
    for lang in counts:
        of_lang = [i for i in items if i.language == lang]
        # corrections are scarce and human: generated pairs go first
        of_lang.sort(key=lambda i: (isinstance(i, Pair), _rank(seed, i.question)))
        keep += of_lang[:cap]
        if len(of_lang) > cap:
            dropped["language_balance"] += len(of_lang) - cap
    return sorted(keep, key=lambda i: _rank(seed, i.question))


def render(pair: Pair, pool: Sequence[Chunk], *, settings: DataSettings, rng: random.Random) -> Example:
    """The prompt Bron would serve: gold chunk at a random position among other documents' chunks."""
    others = [c for c in pool if c.doc_id != pair.doc_id]
    shown = rng.sample(others, min(settings.distractors, len(others)))
    gold_at = rng.randrange(len(shown) + 1)
    shown.insert(gold_at, pair.chunk)
    hits = [Hit(chunk=c, score=1.0 / (i + 1), rank=i + 1) for i, c in enumerate(shown)]
    context = build_context(pair.question, hits, language=pair.language, token_budget=settings.context_tokens)
    number = next(i + 1 for i, h in enumerate(context.sources) if h.chunk is pair.chunk)
    answer = pair.answer.replace("[1]", f"[{number}]")
    messages = [{"role": str(m["role"]), "content": str(m.get("content"))} for m in context.messages]
    return Example(
        messages=(*messages, {"role": "assistant", "content": answer}),
        question=pair.question, answer=answer, doc_id=pair.doc_id, language=pair.language, origin="corpus",
        sources=tuple(h.chunk.text for h in context.sources),
        meta={"chunk_id": pair.chunk.chunk_id, "gold_source": number},
    )  # fmt: skip


def build_dataset(
    *,
    chunks: Sequence[Chunk],
    pairs: Sequence[Pair],
    corrections: Sequence[Example],
    settings: DataSettings,
    dropped: Counter[str] | None = None,
) -> Dataset:
    dropped = dropped if dropped is not None else Counter()
    items = deduplicate([*corrections, *pairs], dropped)
    held = validation_documents(items, fraction=settings.valid_fraction, seed=settings.seed)
    splits: dict[str, list[Example]] = {}
    rng = random.Random(settings.seed)
    held_texts = {normalise_question(c.text) for c in chunks if c.doc_id in held}
    for name in ("train", "valid"):
        members = [i for i in items if (i.doc_id in held) == (name == "valid")]
        if name == "train":  # a correction's prompt may show a held-out document among its sources
            leaking = [i for i in members if isinstance(i, Example) and
                       any(normalise_question(t) in held_texts for t in i.sources)]  # fmt: skip
            members = [i for i in members if not any(i is x for x in leaking)]
            if leaking:
                dropped["shows_validation_document"] += len(leaking)
        chosen = balance_languages(members, max_ratio=settings.max_language_ratio,
                                   seed=settings.seed, dropped=dropped)  # fmt: skip
        # validation prompts may show training documents as distractors; never the reverse
        pool = [c for c in chunks if name == "valid" or c.doc_id not in held]
        splits[name] = [
            render(i, pool, settings=settings, rng=rng) if isinstance(i, Pair) else i for i in chosen
        ]
    return Dataset(train=splits["train"], valid=splits["valid"], dropped=dropped)


def split_summary(examples: Sequence[Example]) -> dict[str, Any]:
    return {
        "examples": len(examples),
        "by_language": dict(sorted(Counter(e.language for e in examples).items())),
        "by_origin": dict(sorted(Counter(e.origin for e in examples).items())),
        "by_document": dict(sorted(Counter(e.doc_id for e in examples).items())),
    }


def data_card(dataset: Dataset, *, files: dict[str, Path], settings: DataSettings,
              inputs: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    """What a reviewer needs to trust the set: counts, what was dropped and why, hashes, settings."""
    train_docs = {e.doc_id for e in dataset.train}
    valid_docs = {e.doc_id for e in dataset.valid}
    return {
        "format": "chat messages (system, user with numbered <source> blocks, assistant) + meta",
        "settings": asdict(settings),
        "inputs": inputs,
        "grounding_filter": dataset.grounding,
        "dropped": dict(sorted(dataset.dropped.items())),
        "splits": {"train": split_summary(dataset.train), "valid": split_summary(dataset.valid)},
        "documents_in_both_splits": sorted(train_docs & valid_docs),
        "files": {name: {"sha256": sha256_file(p), "bytes": p.stat().st_size} for name, p in files.items()},
    }


def write_dataset(dataset: Dataset, out_dir: Path, *, settings: DataSettings,
                  inputs: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    """Write train.jsonl, valid.jsonl and data_card.json; return the card."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {"train.jsonl": out_dir / "train.jsonl", "valid.jsonl": out_dir / "valid.jsonl"}
    write_examples(files["train.jsonl"], dataset.train)
    write_examples(files["valid.jsonl"], dataset.valid)
    card = data_card(dataset, files=files, settings=settings, inputs=inputs)
    (out_dir / "data_card.json").write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n")
    return card


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
