"""`bron eval ...`: the benchmark commands. Each prints its figures and the command that reproduces them."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from bot.runtime import Runtime
    from bot.settings import Settings
    from evaluation.answers import Case

eval_app = typer.Typer(help="Benchmarks: retrieval, hallucination detection, end-to-end answers.")
console = Console()


def _command_line() -> str:
    return "bron " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def _write(out: Path | None, payload: dict[str, object]) -> None:
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        console.print(f"results written to {out}")


def _announce(settings: Settings) -> dict[str, dict[str, object]]:
    """Print the settings that differ from the defaults ("retrieval.chunk_words=300 (default 180)");
    each benchmark records them in its JSON, so a figure says which configuration it measured."""
    from bot.settings import changed_settings

    changed = changed_settings(settings)
    lines = [f"{name}={v['value']} (default {v['default']})" for name, v in changed.items()]
    console.print("settings that differ from the defaults: " + ("; ".join(lines) or "none (production)"))
    return changed


def _shaped_dir(settings: Settings, base: Path) -> Path:
    """A benchmark index per chunking and embedder, so changing either builds a new index instead of
    mixing two (the default embedder adds nothing to the name)."""
    r = settings.retrieval
    model = f"-{r.embedder_model.resolve().name}" if r.embedder_model is not None else ""
    return base.with_name(f"{base.name}-{r.chunk_words}w{r.chunk_overlap_words}{model}")


def _clapnq_settings(settings: Settings) -> Settings:
    """CLAPnq gets its own index and database beside the configured ones."""
    return settings.model_copy(
        update={"data_dir": _shaped_dir(settings, settings.data_dir / "bench" / "clapnq")}
    )


def _indexed_clapnq(runtime: Runtime, folder: Path) -> list[Case]:
    """Index every CLAPnq passage not yet in the runtime's index, chunked as production; return all questions."""
    from evaluation.answers import load_clapnq
    from evaluation.retrieval import index_corpus

    docs, cases = load_clapnq(folder)
    index_corpus(
        docs, backend=runtime.backend, embedder=runtime.embedder, chunking=runtime.settings.retrieval
    )
    return cases


@eval_app.command("retrieval")
def retrieval_command(
    corpus: Annotated[Path, typer.Option(exists=True, help="BEIR corpus.jsonl")],
    queries: Annotated[Path, typer.Option(exists=True, help="BEIR queries.jsonl")],
    qrels: Annotated[Path, typer.Option(exists=True, help="qrels TSV to report on (test)")],
    train_qrels: Annotated[
        Path | None, typer.Option(exists=True, help="qrels TSV to tune fusion on (train)")
    ] = None,
    chunk_words: Annotated[
        int | None, typer.Option(help="chunk size in words; default: BRON_RETRIEVAL__CHUNK_WORDS")
    ] = None,
    work_dir: Annotated[Path, typer.Option(help="where the index and embedding cache live")] = Path(
        ".bron/bench"
    ),
    out: Annotated[Path | None, typer.Option(help="write JSON results here")] = None,
) -> None:
    """nDCG@10, Recall@10, Recall@100 and MRR for bm25, dense and hybrid, plus query latency.

    Embedder, chunking and fusion are the settings' (as `bron run` builds them); a flag that changes
    one is printed and recorded as a change from the defaults.
    """
    from bot.runtime import open_search
    from bot.settings import load_settings
    from evaluation.retrieval import run_benchmark

    settings = load_settings()
    if chunk_words is not None:
        retrieval = settings.retrieval.model_copy(update={"chunk_words": chunk_words})
        settings = settings.model_copy(update={"retrieval": retrieval})
    settings = settings.model_copy(update={"data_dir": _shaped_dir(settings, work_dir / corpus.parent.name)})
    changed = _announce(settings)
    with open_search(settings) as search:
        report = run_benchmark(
            corpus=corpus, queries=queries, qrels=qrels, train_qrels=train_qrels,
            retriever=search.retriever, chunking=settings.retrieval,
        )  # fmt: skip
    report["embedder"] = {"name": search.embedder.name, "dim": search.embedder.dim}
    report["chunking"] = {
        "words": settings.retrieval.chunk_words,
        "overlap": settings.retrieval.chunk_overlap_words,
    }
    report["settings_changed"] = changed
    table = Table(
        title=f"Retrieval on {corpus.parent.name} ({report['queries']} queries, {report['chunks']} chunks)"
    )
    table.add_column("run")
    results: dict[str, dict[str, float]] = report["results"]  # type: ignore[assignment]
    metrics = list(next(iter(results.values())))
    for m in metrics:
        table.add_column(m, justify="right")
    for run, values in results.items():
        table.add_row(run, *(f"{values[m]:.4f}" for m in metrics))
    console.print(table)
    console.print(
        f"fusion: {report['fusion']} (chosen on train, reported as hybrid-tuned: {report['tuned_on_train']})"
    )
    console.print(f"query latency (ms, embedded backend): {report['latency']}")
    report["command"] = _command_line()
    console.print(f"reproduce: {report['command']}")
    _write(out, report)


@eval_app.command("answers")
def answers_command(
    clapnq: Annotated[
        Path | None,
        typer.Option(exists=True, help="folder with clapnq_dev_*.jsonl: index its passages, ask all"),
    ] = None,
    regression: Annotated[
        Path | None,
        typer.Option(exists=True, help="`bron export eval` JSONL, asked against the configured index"),
    ] = None,
    limit: Annotated[
        int | None, typer.Option(help="ask a fixed random sample of N answerable + N unanswerable")
    ] = None,
    half: Annotated[
        str, typer.Option(help="CLAPnq questions to ask: report (held out from tuning), tune, or all")
    ] = "report",
    out: Annotated[
        Path | None, typer.Option(help="write JSON results here (and per-question lines beside it)")
    ] = None,
) -> None:
    """Answer quality and honest abstention, with per-stage latency, through the production pipeline.

    The LLM is whatever the settings name: the local llama.cpp server by default, or a vLLM server with
    BRON_SERVING__LLM_BASE_URL and BRON_SERVING__MODEL.
    """
    from bot.runtime import open_runtime
    from bot.settings import load_settings
    from evaluation.answers import ask_all, half_of, load_regression, sample_cases, summarise

    if (clapnq is None) == (regression is None):
        raise typer.BadParameter("give exactly one of --clapnq or --regression")
    settings = load_settings()
    if clapnq is not None:
        settings = _clapnq_settings(settings)
    changed = _announce(settings)
    with open_runtime(settings) as runtime:
        if clapnq is not None:
            cases = _indexed_clapnq(runtime, clapnq)
            if half != "all":
                cases = [c for c in cases if half_of(c.case_id) == half]
        else:
            assert regression is not None
            cases = load_regression(regression)
        cases = sample_cases(cases, limit)
        assert runtime.llm is not None
        log_path = out.with_suffix(".answers.jsonl") if out else None
        if log_path is not None:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            log_path.write_text("")
        outcomes = ask_all(
            cases, retriever=runtime.retriever, llm=runtime.llm, policy=runtime.policy,
            checker=runtime.checker, log_path=log_path, evidence_model=runtime.evidence_model,
        )  # fmt: skip
        summary = summarise(outcomes)
        summary["model"] = runtime.llm.model
        summary["llm_base_url"] = runtime.llm.base_url
        summary["evidence_model"] = str(settings.serving.evidence_model or "")
        summary["evidence_bar"] = runtime.policy.bar
        summary["settings_changed"] = changed
    table = Table(title="Answers")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key, value in summary.items():
        if key != "latency_ms":
            table.add_row(key, str(value))
    console.print(table)
    lat = Table(title="Latency per stage (ms)")
    for col in ("stage", "p50", "p95", "n"):
        lat.add_column(col, justify="right")
    for stage, v in summary["latency_ms"].items():  # type: ignore[attr-defined]
        lat.add_row(stage, f"{v['p50']:.0f}", f"{v['p95']:.0f}", str(v["n"]))
    console.print(lat)
    summary["command"] = _command_line()
    console.print(f"reproduce: {summary['command']}")
    _write(out, summary)


@eval_app.command("abstention")
def abstention_command(
    clapnq: Annotated[Path, typer.Option(help="folder with clapnq_dev_*.jsonl")] = Path(
        "../shared/data/clapnq_dev"
    ),
    answers_log: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            help="per-question log of `bron eval answers --half tune` run with a low bar: choose for the whole pipeline",
        ),
    ] = None,
    hold_bar: Annotated[
        float | None,
        typer.Option(help="with --answers-log: keep the evidence bar here and choose only the quote bar"),
    ] = None,
    out: Annotated[Path | None, typer.Option(help="write JSON results here")] = None,
) -> None:
    """Choose the evidence bar below which Bron declines, on CLAPnq's tune half; report it on the other half."""
    from bot.runtime import open_runtime
    from bot.settings import load_settings
    from evaluation.abstention import collect_evidence, evidence_from_log, summarise_bar

    settings = load_settings()
    changed = _announce(settings)
    if answers_log is not None:
        evidence, lowest = evidence_from_log(answers_log)
        report = summarise_bar(
            evidence,
            current_bar=settings.serving.bar,
            current_quote_bar=settings.serving.quote_floor,
            lo=lowest,
            hold_bar=hold_bar,
        )
    else:
        if not clapnq.is_dir():
            raise typer.BadParameter(
                f"{clapnq} is not a folder (give --clapnq or --answers-log)", param_hint="--clapnq"
            )
        with open_runtime(_clapnq_settings(settings), with_llm=False) as runtime:
            cases = _indexed_clapnq(runtime, clapnq)
            evidence = collect_evidence(
                cases,
                runtime.retriever,
                top_k=runtime.policy.top_k,
                margin=runtime.policy.cross_language_margin,
                evidence_model=runtime.evidence_model,
            )
        report = summarise_bar(evidence, current_bar=settings.serving.bar)
    report["settings_changed"] = changed
    table = Table(
        title=f"Chosen on the tune half: evidence bar {report['chosen_bar']}, quote bar {report['chosen_quote_bar']}"
    )
    for col in (
        "half",
        "questions",
        "AUC",
        "answered",
        "declined",
        "answered (current bar)",
        "declined (current bar)",
    ):
        table.add_column(col, justify="right")
    for half in ("tune", "report"):
        if half not in report:
            continue
        r: dict[str, Any] = report[half]  # type: ignore[assignment]
        now = r["with_current_bar"]
        table.add_row(half, str(r["questions"]), f"{r['auc']:.3f}", f"{r['answered_share']:.3f}",
                      f"{r['declined_share']:.3f}", f"{now['answered_share']:.3f}", f"{now['declined_share']:.3f}")  # fmt: skip
    console.print(table)
    console.print(
        f"current bars: evidence {report['current_bar']}, quote {report['current_quote_bar']} "
        f"(evidence model: {settings.serving.evidence_model})"
    )
    report["command"] = _command_line()
    console.print(f"reproduce: {report['command']}")
    _write(out, report)


@eval_app.command("hallucination")
def hallucination_command(
    dataset: Annotated[
        str, typer.Option(help="summedits (the measure) or halueval (a sanity check)")
    ] = "summedits",
    data_dir: Annotated[
        Path, typer.Option(exists=True, help="folder holding summedits/ and halueval_qa/")
    ] = Path("../shared/data"),
    out_dir: Annotated[Path | None, typer.Option(help="write <dataset>.json here")] = Path(
        "bench/hallucination"
    ),
    threads: Annotated[int, typer.Option(help="embedder threads")] = 2,
    verifier: Annotated[
        bool,
        typer.Option(
            "--verifier",
            help="train and measure the groundedness verifier (cross-fitted; SummEdits, HaluEval pairs, "
            "Dutch handbook test) against the shipped checker; writes <out-dir>/../verifier/verifier.json",
        ),
    ] = False,
) -> None:
    """Balanced accuracy of the groundedness checker per domain, thresholds fitted on the other half.

    With BRON_SERVING__NLI_MODEL set, that model is scored too, alone and as the checker runs it.
    """
    from bot.runtime import build_nli
    from bot.settings import load_settings
    from evaluation.hallucination import print_report, run

    if verifier:
        from evaluation import verifier as verifier_eval

        out = (out_dir or Path("bench/hallucination")).parent / "verifier" / "verifier.json"
        verifier_eval.main(["--data-dir", str(data_dir), "--threads", str(threads), "--out", str(out)])
        console.print(f"reproduce: {_command_line()}")
        return
    settings = load_settings()
    changed = _announce(settings)
    result = run(dataset, data_dir, threads=threads, out_dir=out_dir, nli=build_nli(settings),
                 record={"settings_changed": changed})  # fmt: skip
    print_report(dataset, result)
    console.print(f"reproduce: {_command_line()}")


@eval_app.command("latency")
def latency_command(
    corpus: Annotated[Path, typer.Option(exists=True, help="BEIR corpus.jsonl whose text fills the index")],
    queries: Annotated[Path, typer.Option(exists=True, help="BEIR queries.jsonl")],
    chunks: Annotated[int, typer.Option(help="index size in chunks")] = 100_000,
    work_dir: Annotated[Path, typer.Option(help="where the synthetic index lives")] = Path(".bron/bench"),
    out: Annotated[Path | None, typer.Option(help="write JSON results here")] = None,
) -> None:
    """Hybrid query latency (embedding + BM25 + kNN + fusion, no LLM) on the embedded engine at a given size."""
    from bot.runtime import index_embedder
    from bot.settings import load_settings
    from evaluation.latency import run
    from retrieval.hybrid import FusionConfig

    settings = load_settings()
    changed = _announce(settings)
    r = settings.retrieval
    result = run(
        corpus=corpus, queries=queries, chunks=chunks, work_dir=work_dir,
        embedder=index_embedder(settings), fusion=FusionConfig.from_settings(r),
    )  # fmt: skip
    result["settings_changed"] = changed
    console.print(f"{result['chunks']} chunks: p50 {result['p50_ms']:.1f} ms, p95 {result['p95_ms']:.1f} ms "
                  f"over {result['queries']} queries")  # fmt: skip
    for part in ("embedding", "search_without_embedding", "search_with_collection_filter", "matrix_product"):
        console.print(f"  {part}: {result[part]}")
    console.print(
        f"  search without embedding / matrix product (p50): {result['search_over_matrix_product_p50']}x"
    )
    console.print(f"  first search: {result['first_search_loads_index_ms']} ms (loads the index); after a "
                  f"sync rewrote 5 documents: {result['first_search_after_5_documents_rewritten_ms']} ms")  # fmt: skip
    result["command"] = _command_line()
    console.print(f"reproduce: {result['command']}")
    _write(out, result)


SAMPLE_HANDBOOK = Path(__file__).resolve().parents[1] / "retrieval" / "sample_handbook"
HANDBOOK_QUESTIONS = SAMPLE_HANDBOOK.with_name("sample_handbook_questions.json")


@eval_app.command("citations")
def citations_command(
    set_name: Annotated[
        str, typer.Option("--set", help="clapnq, handbook or near-duplicates")
    ] = "near-duplicates",
    answers_log: Annotated[
        Path | None,
        typer.Option(help="clapnq: the per-question log of a `bron eval answers --clapnq` run to score"),
    ] = None,
    clapnq: Annotated[Path, typer.Option(help="folder with clapnq_dev_*.jsonl")] = Path(
        "../shared/data/clapnq_dev"
    ),
    near_duplicates: Annotated[Path, typer.Option(help="the near-duplicate set")] = Path(
        "bench/citations/near-duplicates"
    ),
    out: Annotated[
        Path | None, typer.Option(help="write JSON results here (and per-question lines beside it)")
    ] = None,
    min_shared_words: Annotated[
        int | None,
        typer.Option(help="clapnq, re-attributing an old log: this shared-run length (choose on tune)"),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option(help="handbook, near-duplicates: only the first N questions"),
    ] = None,
) -> None:
    """Citation precision (the cited source holds the sentence's supporting span), figures cited to the
    documents holding them, and the gold document cited when it was retrieved, for every answered question.

    clapnq scores a `bron eval answers` log (no generation; a log without per-sentence citations is
    re-attributed after re-running retrieval); handbook and near-duplicates ask their questions through
    the configured pipeline, and near-duplicates also checks attribution without the model.
    """
    from bot.runtime import open_runtime
    from bot.settings import load_settings
    from evaluation import citations as cit

    settings = load_settings()
    report: dict[str, Any] = {"set": set_name, "settings_changed": _announce(settings)}
    if set_name == "clapnq":
        if answers_log is None:
            raise typer.BadParameter(
                "--set clapnq scores a log: give --answers-log (from `bron eval answers --clapnq`)"
            )
        report |= _clapnq_citations(settings, clapnq, answers_log, min_shared_words)
    elif set_name in ("handbook", "near-duplicates"):
        from evaluation.answers import Case, ask_all
        from retrieval.ingest import ingest_paths

        if set_name == "handbook":
            folder = SAMPLE_HANDBOOK
            rows = json.loads(HANDBOOK_QUESTIONS.read_text(encoding="utf-8"))
            cases = [Case(f"handbook-{i}", r["question"], bool(r["doc"]), gold_docs=(r["doc"],) if r["doc"] else ())
                     for i, r in enumerate(rows)]  # fmt: skip
            items: list[cit.NearDuplicate] = []
        else:
            folder = near_duplicates / "docs"
            items = cit.load_near_duplicates(near_duplicates)
            cases = [Case(i.case_id, i.question, True, gold_docs=i.gold) for i in items]
        cases = cases[:limit] if limit else cases
        texts = {p.name: p.read_text(encoding="utf-8") for p in folder.glob("*.md")}
        bench = settings.model_copy(
            update={"data_dir": settings.data_dir / "bench" / f"citations-{set_name}"}
        )
        with open_runtime(bench) as runtime:
            ingest_paths([folder], backend=runtime.backend, embedder=runtime.embedder)
            assert runtime.llm is not None
            log_path = out.with_suffix(".answers.jsonl") if out else None
            if log_path is not None:
                log_path.parent.mkdir(parents=True, exist_ok=True)
                log_path.write_text("")
            outcomes = ask_all(
                cases, retriever=runtime.retriever, llm=runtime.llm, policy=runtime.policy,
                checker=runtime.checker, log_path=log_path, evidence_model=runtime.evidence_model,
            )  # fmt: skip
            records = [cit.renamed(cit.record_from_outcome(o), lambda d: Path(d).name) for o in outcomes]
            report["model"] = runtime.llm.model
            if items:
                assert runtime.checker is not None
                report["written"] = cit.written_attribution(items, texts, runtime.checker)
                report["by_kind"] = cit.by_kind(records, items, texts)
        report["answers"] = cit.score(records, texts).summary()
    else:
        raise typer.BadParameter("--set is clapnq, handbook or near-duplicates")
    _print_citations(report)
    report["command"] = _command_line()
    console.print(f"reproduce: {report['command']}")
    _write(out, report)


def _clapnq_citations(
    settings: Settings, folder: Path, answers_log: Path, min_shared_words: int | None
) -> dict[str, Any]:
    """Score a CLAPnq answers log, per half; re-attribute rows that hold only the final text."""
    from bot.runtime import open_runtime
    from evaluation import citations as cit
    from evaluation.answers import half_of, load_clapnq

    docs, cases = load_clapnq(folder)
    texts = {d.doc_id: "\n".join(s.text for s in d.sections) for d in docs}
    by_id = {c.case_id: c for c in cases}
    rows = [json.loads(line) for line in answers_log.read_text(encoding="utf-8").splitlines() if line.strip()]
    records: list[cit.Record] = []
    reattributed = 0
    if all("sentences" in r for r in rows):
        records = [cit.record_from_log(r, by_id[str(r["id"])]) for r in rows]
    else:
        with open_runtime(_clapnq_settings(settings), with_llm=False) as runtime:
            _indexed_clapnq(runtime, folder)
            assert runtime.checker is not None
            if min_shared_words is not None:
                from serving.grounding import GroundednessChecker

                assert isinstance(runtime.checker, GroundednessChecker)
                runtime.checker.min_shared_words = min_shared_words
            for r in rows:
                records.append(cit.reattribute(
                    r, by_id[str(r["id"])], retriever=runtime.retriever, policy=runtime.policy,
                    checker=runtime.checker, evidence_model=runtime.evidence_model,
                ))  # fmt: skip
                reattributed += 1
    halves = {h: [r for r in records if half_of(r.case_id) == h] for h in ("tune", "report")}
    return {
        "log": str(answers_log),
        "reattributed": reattributed,
        "min_shared_words": min_shared_words,
        **{f"answers_{h}": cit.score(rs, texts).summary() for h, rs in halves.items() if rs},
    }


def _print_citations(report: dict[str, Any]) -> None:
    table = Table(title=f"Citations: {report['set']}")
    for col in ("run", "answered", "gold cited (when retrieved)", "precision", "no span", "figures right"):
        table.add_column(col, justify="right")
    for key, r in report.items():
        if not key.startswith("answers"):
            continue
        table.add_row(
            key, f"{r['answered']}/{r['questions']}", f"{r['gold_cited']}/{r['answered_gold_retrieved']}",
            f"{r['precise']}/{r['citations_checked']}", str(r["sentences_without_shared_span"]),
            f"{r['figure_attributed_to_holder']}/{r['figure_sentences']}",
        )  # fmt: skip
    console.print(table)
    if "written" in report:
        w = report["written"]
        console.print(f"without the model (reference sentences re-cited): {w['right']}/{w['trials']} right")


@eval_app.command("conversation")
def conversation_command(
    conversations: Annotated[
        Path | None, typer.Option(exists=True, help="the conversation set (JSON)")
    ] = None,
    clapnq: Annotated[
        Path, typer.Option(help="folder with clapnq_dev_*.jsonl (its passages are indexed)")
    ] = Path("../shared/data/clapnq_dev"),
    handbook: Annotated[Path, typer.Option(help="the handbook folder the set asks about")] = Path(
        "retrieval/sample_handbook"
    ),
    half: Annotated[str, typer.Option(help="conversations to run: tune, report or all")] = "all",
    limit: Annotated[
        int | None, typer.Option(help="only the first N conversations (in the set's order)")
    ] = None,
    end_to_end: Annotated[
        bool, typer.Option(help="answer every turn with the configured model (minutes), shipped reading only")
    ] = False,
    out: Annotated[
        Path | None, typer.Option(help="write JSON results here (and per-turn lines beside it)")
    ] = None,
) -> None:
    """Follow-ups, topic switches and unanswerable turns in conversations: per kind of turn, the right
    document cited, declines and contamination, for the three ways of reading a turn."""
    from bot.runtime import open_runtime
    from bot.settings import load_settings
    from evaluation.answers import load_clapnq
    from evaluation.conversation import (
        DEFAULT_SET,
        acceptance,
        load_conversations,
        run_end_to_end,
        run_retrieval,
        summarise,
    )  # fmt: skip
    from evaluation.retrieval import index_corpus
    from retrieval.ingest import ingest_paths
    from serving.conversation import Mode

    settings = load_settings()
    settings = settings.model_copy(
        update={"data_dir": _shaped_dir(settings, settings.data_dir / "bench" / "conversation")}
    )
    docs, cases = load_clapnq(clapnq)
    gold = {c.case_id: c.gold_docs for c in cases if c.gold_docs}
    chosen = load_conversations(conversations or DEFAULT_SET, gold)
    if half != "all":
        chosen = [c for c in chosen if c.half == half]
    chosen = chosen[:limit] if limit is not None else chosen
    need_llm = end_to_end or settings.serving.condense
    changed = _announce(settings)
    report: dict[str, Any] = {
        "conversations": len(chosen),
        "half": half,
        "condense": settings.serving.condense,
        "settings_changed": changed,
    }
    with open_runtime(settings, with_llm=need_llm) as runtime:
        ingest_paths(
            [handbook],
            backend=runtime.backend,
            embedder=runtime.embedder,
            settings=settings.retrieval,
            prune=False,
        )
        index_corpus(docs, backend=runtime.backend, embedder=runtime.embedder, chunking=settings.retrieval)
        retriever, policy, evidence_model = runtime.retriever, runtime.policy, runtime.evidence_model
        lines: list[dict[str, Any]] = []
        if end_to_end:
            assert runtime.llm is not None
            log_path = out.with_suffix(".turns.jsonl") if out else None
            if log_path is not None:
                log_path.parent.mkdir(parents=True, exist_ok=True)
                log_path.write_text("")
            outcomes = run_end_to_end(
                chosen,
                retriever=retriever,
                llm=runtime.llm,
                policy=policy,
                checker=runtime.checker,
                evidence_model=evidence_model,
                log_path=log_path,
            )
            report["end_to_end"] = summarise(outcomes)
            report["model"] = runtime.llm.model
            runs = {"end_to_end": report["end_to_end"]}
        else:
            runs = {}
            modes: tuple[tuple[str, Mode], ...] = (
                ("naive", "together"),
                ("alone", "alone"),
                ("shipped", "decided"),
            )
            for name, mode in modes:
                llm = runtime.llm if mode == "decided" and settings.serving.condense else None
                outcomes = run_retrieval(
                    chosen,
                    retriever=retriever,
                    policy=policy,
                    mode=mode,
                    evidence_model=evidence_model,
                    llm=llm,
                )
                runs[name] = summarise(outcomes)
                lines += [{"run": name, **o.__dict__} for o in outcomes]
            report["retrieval_only"] = runs
            if out is not None:
                out.parent.mkdir(parents=True, exist_ok=True)
                out.with_suffix(".turns.jsonl").write_text(
                    "".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines), encoding="utf-8"
                )
    for name, summary in runs.items():
        table = Table(title=f"{name} ({'end to end' if end_to_end else 'retrieval only'}, {half} half)")
        for col in (
            "kind",
            "turns",
            "right doc",
            "declined",
            "contaminated",
            "equal to alone",
            "with conversation",
        ):
            table.add_column(col, justify="right")
        for kind, v in summary.items():
            if kind == "added_ms":
                continue
            cells = [
                v["right_doc"],
                v["declined"],
                v["contaminated"],
                v["equal_to_alone"],
                v["read_with_conversation"],
            ]
            table.add_row(kind, str(v["turns"]), *("-" if c is None else str(c) for c in cells))
        console.print(table)
        console.print(f"added time per later turn (ms): {summary['added_ms']}")
        summary["acceptance"] = acceptance(summary)
        console.print(f"acceptance: {summary['acceptance']}")
    report["command"] = _command_line()
    console.print(f"reproduce: {report['command']}")
    _write(out, report)


@eval_app.command("support-margin")
def support_margin_command(
    tune_log: Annotated[
        Path, typer.Option(exists=True, help="per-question log of `bron eval answers --half tune`")
    ] = Path("bench/answers/clapnq-tune-bar085.answers.jsonl"),
    report_log: Annotated[
        Path | None, typer.Option(exists=True, help="the report half's log, to report the margin on")
    ] = Path("bench/answers/clapnq.answers.jsonl"),
    clapnq: Annotated[Path, typer.Option(help="folder with clapnq_dev_*.jsonl")] = Path(
        "../shared/data/clapnq_dev"
    ),
    out: Annotated[Path | None, typer.Option(help="write JSON results here")] = None,
) -> None:
    """Choose how far above the check's threshold a sentence must score to be shown unmarked, on the tune log."""
    from bot.runtime import open_runtime
    from bot.settings import load_settings
    from evaluation.support_margin import choose_margin, outcome_at, sentence_scores

    settings = _clapnq_settings(load_settings())
    report: dict[str, Any] = {"settings_changed": _announce(settings)}
    with open_runtime(settings, with_llm=False) as runtime:
        _indexed_clapnq(runtime, clapnq)
        checker, retriever, policy = runtime.checker, runtime.retriever, runtime.policy
        assert checker is not None
        threshold = float(checker.threshold)
        rows, totals = sentence_scores(tune_log, retriever=retriever, checker=checker, policy=policy)
        report["threshold"] = threshold
        report["tune"] = choose_margin(rows, totals, threshold)
        if report_log is not None:
            rows, totals = sentence_scores(report_log, retriever=retriever, checker=checker, policy=policy)
            m = report["tune"]["chosen"]
            report["report"] = {
                "answers": rows,
                "at_chosen": outcome_at(rows, totals, threshold, m),
                "at_zero": outcome_at(rows, totals, threshold, 0.0),
            }
    console.print(
        f"check threshold {threshold:.4f}; margin chosen on the tune half: {report['tune']['chosen']}"
    )
    for half in ("tune", "report"):
        if half in report:
            console.print(f"{half}: at 0: {report[half]['at_zero']}")
            console.print(f"{half}: chosen: {report[half]['at_chosen']}")
    report["command"] = _command_line()
    console.print(f"reproduce: {report['command']}")
    _write(out, report)
