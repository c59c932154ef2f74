"""The (claim, passage) pairs the groundedness verifier is trained and measured on.

Three sources, each split so that a reported figure never rests on pairs the verifier learnt from:

- SummEdits (four dev domains): each summary sentence is one pair. A sentence of an inconsistent summary
  that its seed summary also has is consistent; the sentence that differs carries the edit. Items are
  split in halves by document: the dev domains hold only 85 documents, each edited ~30 times, so
  `evaluation.hallucination`'s split by item id puts the same documents and the same unedited seed
  sentences in both halves, which a head over embedding vectors memorises (`--halves id` shows it).
- HaluEval QA: the right and the hallucinated answer to the same question, kept together, so a pair can
  be scored pairwise (is the right answer scored higher?) and answer length cannot give the label away.
- Synthetic claims from the sample handbook (Dutch and English): each sentence as written is supported;
  FactCC-style edits of it are not (a figure or name swapped for another one of the same document, a
  negation added or removed, a word replaced by its opposite, a sentence of another document). The
  documents of the Dutch test set are never used for training.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from retrieval.analysis import detect_language
from serving.grounding.antonyms import OPPOSITES
from serving.grounding.claims import split_claims, split_sentences

HANDBOOK = Path(__file__).resolve().parent.parent / "retrieval" / "sample_handbook"
DUTCH_TEST_SHARE = 0.4  # of the Dutch handbook documents, chosen by hash: never trained on
_NUMBER = re.compile(r"(?<![\w.,])\d+(?:[.,:]\d+)*(?![\w])")
_NAME = re.compile(r"(?<=[a-z,;] )[A-Z][\w'-]+(?: [A-Z][\w'-]+)*")
_NEGATE = {
    "en": (("is", "is not"), ("are", "are not"), ("can", "cannot"), ("must", "must not"),
           ("will", "will not"), ("may", "may not"), ("has", "does not have"), ("have", "do not have")),
    "nl": (("is", "is niet"), ("zijn", "zijn niet"), ("kan", "kan niet"), ("kun", "kun niet"),
           ("moet", "hoeft niet"), ("mag", "mag niet"), ("wordt", "wordt niet"), ("krijg", "krijg geen"),
           ("krijgt", "krijgt geen"), ("heeft", "heeft geen"), ("heb", "heb geen")),
}  # fmt: skip
_UNNEGATE = (" not ", " niet ", " geen ", " never ", " nooit ", "cannot ")


@dataclass(frozen=True)
class Pair:
    id: str  # unique; the feature cache's key together with the texts
    source: str  # summedits-<domain>, halueval, handbook
    lang: str
    claim: str
    passage: str
    label: int  # 1 = the passage supports the claim; -1 = unknown (an inconsistent summary's sentence
    # that could not be matched to its seed), used for items but not for training sentences
    item: str  # the unit that is reported: a summary, a HaluEval question, a handbook claim
    item_label: int
    split: str  # "A"/"B" (SummEdits halves), "train"/"test" (HaluEval, handbook)
    edit: str = ""  # the handbook edit that made it (or "none")


def _half(key: str) -> str:
    return "AB"[int(hashlib.sha1(key.encode()).hexdigest(), 16) % 2]


def summedits_pairs(data_dir: Path, domains: Sequence[str], *, halves: str = "document") -> list[Pair]:
    """`halves`: "document" puts every summary of one document in the same half (sha1 of the document);
    "id" is `bron eval hallucination`'s split (sha1 of the item id), where the ~30 edited summaries of
    each of the 85 documents, and their shared unedited sentences, fall in both halves."""
    if halves not in ("document", "id"):
        raise ValueError(f"halves must be 'document' or 'id', not {halves!r}")
    out: list[Pair] = []
    for domain in domains:
        for d in json.loads((data_dir / "summedits" / f"summedits_{domain}.json").read_text()):
            item, label = str(d["id"]), int(d["label"])
            seed = {c.text for c in split_claims(d.get("original_summary") or "")}
            claims = [c.text for c in split_claims(d["summary"])] or [d["summary"]]
            changed = [c for c in claims if c not in seed]
            for i, claim in enumerate(claims):
                sentence_label = 1 if label == 1 or claim in seed else 0 if changed else -1
                half = _half(d["doc"] if halves == "document" else item)
                out.append(Pair(f"{item}#{i}", f"summedits-{domain}", "en", claim, d["doc"],
                                sentence_label, item, label, half))  # fmt: skip
    return out


def halueval_pairs(data_dir: Path, *, train: int, test: int, seed: int = 0) -> list[Pair]:
    """`train` + `test` questions, each giving its right and its hallucinated answer."""
    rows = [json.loads(line) for line in (data_dir / "halueval_qa" / "qa.jsonl").read_text().splitlines()]
    random.Random(seed).shuffle(rows)
    out: list[Pair] = []
    for i, row in enumerate(rows[: train + test]):
        split = "train" if i < train else "test"
        for label, key in ((1, "right_answer"), (0, "hallucinated_answer")):
            claim = f"{row['question'].rstrip(' ?')}: {row[key]}"
            out.append(Pair(f"halueval-{i}-{label}", "halueval", "en", claim, row["knowledge"], label,
                            f"halueval-{i}", label, split))  # fmt: skip
    return out


def handbook_text(path: Path) -> str:
    """The document's prose: front matter, headings, tables and markup dropped."""
    text = path.read_text()
    if text.startswith("---"):
        text = text.split("---", 2)[2]
    lines = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", "|")):
            continue
        lines.append(re.sub(r"[*_`]", "", line).lstrip("-0123456789. ").strip())
    return "\n".join(lines)


def dutch_test_documents(folder: Path = HANDBOOK) -> list[str]:
    """The Dutch documents held out for the Dutch test set (by hash of the name, so fixed)."""
    dutch = [p.name for p in sorted(folder.glob("*.md")) if detect_language(handbook_text(p)) == "nl"]
    ranked = sorted(dutch, key=lambda n: hashlib.sha1(n.encode()).hexdigest())
    return sorted(ranked[: round(len(ranked) * DUTCH_TEST_SHARE)])


def _swap(sentence: str, pattern: re.Pattern[str], pool: Sequence[str], rng: random.Random) -> str | None:
    found = pattern.findall(sentence)
    if not found:
        return None
    old = rng.choice(found)
    others = [p for p in pool if p != old and p not in sentence]
    if not others:
        if pattern is _NUMBER and old.isdigit():
            others = [str(int(old) + rng.choice((1, 2, 5, 10)))]
        else:
            return None
    return sentence.replace(old, rng.choice(others), 1)


def _negate(sentence: str, lang: str, rng: random.Random) -> str | None:
    lowered = f" {sentence} "
    for word in _UNNEGATE:
        if word in lowered:
            return (
                lowered.replace(word, " ", 1) if word != "cannot " else lowered.replace(word, "can ", 1)
            ).strip()
    options = [(a, b) for a, b in _NEGATE[lang] if f" {a} " in lowered]
    if not options:
        return None
    a, b = rng.choice(options)
    return lowered.replace(f" {a} ", f" {b} ", 1).strip()


def _opposite(sentence: str, rng: random.Random) -> str | None:
    tokens = sentence.split(" ")
    spots = [i for i, t in enumerate(tokens) if t.lower().strip(".,;:") in OPPOSITES]
    if not spots:
        return None
    i = rng.choice(spots)
    word = tokens[i].lower().strip(".,;:")
    tokens[i] = tokens[i].lower().replace(word, sorted(OPPOSITES[word])[0])
    return " ".join(tokens)


def handbook_pairs(folder: Path = HANDBOOK, *, seed: int = 0, max_per_document: int = 24) -> list[Pair]:
    """Per document: up to `max_per_document` sentences as written (supported) and one edit of each
    (unsupported), with the whole document as the passage."""
    rng = random.Random(seed)
    test_docs = set(dutch_test_documents(folder))
    texts = {p.name: handbook_text(p) for p in sorted(folder.glob("*.md"))}
    sentences = {n: [s for s in split_sentences(t) if 6 <= len(s.split()) <= 45] for n, t in texts.items()}
    out: list[Pair] = []
    for name, text in texts.items():
        lang = detect_language(text)
        split = "test" if name in test_docs else "train"
        numbers, names = _NUMBER.findall(text), _NAME.findall(text)
        others = [s for n, ss in sentences.items() if n != name and (n in test_docs) == (split == "test")
                  and detect_language(texts[n]) == lang for s in ss]  # fmt: skip
        chosen = sentences[name][:]
        rng.shuffle(chosen)
        for k, sentence in enumerate(chosen[:max_per_document]):
            item = f"handbook-{name}-{k}"
            out.append(Pair(f"{item}-1", "handbook", lang, sentence, text, 1, f"{item}-1", 1, split, "none"))
            edits = {
                "figure": _swap(sentence, _NUMBER, numbers, rng),
                "name": _swap(sentence, _NAME, names, rng),
                "negation": _negate(sentence, lang, rng),
                "opposite": _opposite(sentence, rng),
            }
            possible = [(kind, e) for kind, e in edits.items() if e and e != sentence]
            kind, edited = (
                rng.choice(possible) if possible and rng.random() < 0.8 else ("other", rng.choice(others))
            )
            out.append(Pair(f"{item}-0", "handbook", lang, edited, text, 0, f"{item}-0", 0, split, kind))
    return out
