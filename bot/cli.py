"""The `bron` command: the edge where settings are built and components wired.

Every command turns Bron's typed errors into one red line saying what to do next, and exits 1;
only a bug shows a traceback.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from bot.privacy import privacy_app
from bot.review.cli import export_eval, export_sft, flags_app, purge, review_server
from bot.settings import Settings, load_settings
from evaluation.cli import eval_app
from feedback.errors import StoreError
from finetune.cli import app as finetune_app
from retrieval.errors import RetrievalError
from retrieval.ingest import CorpusRoot
from serving.answer import EmptyQuestionError, QuestionError
from serving.errors import GenerationError

if TYPE_CHECKING:
    from bot.runtime import Runtime

# a traceback must never print local variables: they hold tokens, questions and document text
app = typer.Typer(
    help="Bron answers questions from your documents, with sources.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(eval_app, name="eval")
app.add_typer(flags_app, name="flags")
app.add_typer(privacy_app, name="privacy")
export_app = typer.Typer(help="Reviewed answers as evaluation and fine-tuning data.", no_args_is_help=True)
export_app.command("eval")(export_eval)
export_app.command("sft")(export_sft)
app.add_typer(export_app, name="export")
app.command("purge")(purge)
app.command("review")(review_server)
app.add_typer(
    finetune_app, name="finetune", help="Domain fine-tuning: training data, LoRA training, eval, promotion."
)
console = Console()
err = Console(stderr=True)

SAMPLE_HANDBOOK = Path(__file__).resolve().parent.parent / "retrieval" / "sample_handbook"


@contextmanager
def friendly_errors() -> Iterator[None]:
    try:
        yield
    except (RetrievalError, GenerationError, StoreError, QuestionError) as exc:
        err.print(f"[red]Error:[/red] {escape(str(exc))}")
        raise typer.Exit(1) from None


def settings_for_cli() -> Settings:
    """Settings from the environment; a bad value names its variable instead of showing a traceback."""
    try:
        settings = load_settings()
    except ValidationError as exc:
        for error in exc.errors():
            loc = error["loc"]
            name = "BRON_" + "__".join(str(part) for part in loc).upper() if loc else "BRON_*"
            value = error.get("input")
            # a check across settings carries all of them as its input, secrets included: never print that
            shown = f" (got {escape(repr(value))})" if loc and not isinstance(value, dict | list) else ""
            err.print(f"[red]Setting {name}:[/red] {escape(error['msg'])}{shown}")
        err.print("Fix or unset these variables (or the bron.toml that BRON_CONFIG names) and try again.")
        raise typer.Exit(2) from None
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    # every command brings the database up to date first; that is news only in `bron migrate`
    logging.getLogger("alembic").setLevel(logging.WARNING)
    return settings


COLLECTIONS_OPTION = typer.Option(
    "--collection",
    help="Search these collections (repeatable); default: what every member holds "
    "(BRON_SLACK__DM_COLLECTIONS, public).",
)


def default_corpus(settings: Settings) -> list[CorpusRoot]:
    return [CorpusRoot(e.path, e.collection) for e in settings.corpus] or [CorpusRoot(SAMPLE_HANDBOOK)]


def _ingest(settings: Settings, roots: list[CorpusRoot], *, dry_run: bool) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from bot.runtime import build_backend, build_embedder
    from retrieval.ingest import discover, ingest_roots

    embedder = build_embedder(settings)
    backend = build_backend(settings, embedder)
    try:
        total = len(discover([r.path for r in roots]))
        chunks = 0
        with Progress(
            TextColumn("[bold]ingest"), BarColumn(), MofNCompleteColumn(), TextColumn("docs"),
            TextColumn("{task.fields[chunks]} chunks"), TextColumn("{task.fields[rate]}"), TimeElapsedColumn(),
            console=err, transient=False,
        ) as progress:  # fmt: skip
            task = progress.add_task("ingest", total=total, chunks=0, rate="")

            def on_document(_doc_id: str, n: int) -> None:
                nonlocal chunks
                chunks += n
                elapsed = progress.tasks[task].elapsed or 0.0
                rate = f"{chunks / elapsed:.1f} chunks/s" if elapsed > 0 and chunks else ""
                progress.update(task, advance=1, chunks=chunks, rate=rate)

            report = ingest_roots(
                roots,
                backend=backend,
                embedder=embedder,
                settings=settings.retrieval,
                dry_run=dry_run,
                on_document=on_document,
            )
    finally:
        backend.close()
    verb = "would be" if dry_run else "were"
    err.print(
        f"{len(report.added)} added, {len(report.updated)} updated, {len(report.deleted)} deleted, "
        f"{len(report.unchanged)} unchanged ({verb} applied); {report.chunks} chunks in {report.seconds:.1f} s"
        + (f", {report.chunks / report.seconds:.1f} chunks/s" if report.chunks and report.seconds else "")
        + (
            f" ({100 * (1 - report.embed_seconds / report.seconds):.0f}% of the time outside the embedder)"
            if report.chunks and report.seconds and not dry_run
            else ""
        )
    )
    if dry_run:
        for label, ids in (("add", report.added), ("update", report.updated), ("delete", report.deleted)):
            for doc_id in ids:
                err.print(f"  would {label}: {doc_id}")
    if report.failed:
        err.print(f"[yellow]{len(report.failed)} file(s) skipped:[/yellow]")
        for path, reason in report.failed:
            err.print(f"  [yellow]-[/yellow] {escape(path)}: {escape(reason)}")
    return len(report.failed)


def _ingest_if_empty(settings: Settings, chunks: int) -> None:
    """A first `bron ask` on the embedded default finds the sample handbook already indexed."""
    if chunks == 0 and (settings.corpus or settings.retrieval.backend == "sqlite"):
        _ingest(settings, default_corpus(settings), dry_run=False)


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders (Markdown, HTML, text, PDF).")],
    collection: Annotated[
        str | None,
        typer.Option(
            help="Collection (permission group) for these documents; default: what the index recorded "
            "for the path, else public."
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would change; change nothing.")
    ] = False,
) -> None:
    """Bring the index in step with PATHS: new documents added, changed ones replaced, deleted ones removed."""
    settings = settings_for_cli()
    with friendly_errors():
        _ingest(settings, [CorpusRoot(p, collection) for p in paths], dry_run=dry_run)


@app.command()
def reindex() -> None:
    """Rebuild the index from the documents it holds, chunked and embedded as the settings say now.

    Needed after changing the chunk size or overlap or the embedder: the index refuses to be searched
    with other settings than it was built with.
    """
    from bot.runtime import reindex as rebuild_index

    settings = settings_for_cli()
    with friendly_errors():
        report = rebuild_index(settings)
    r = settings.retrieval
    err.print(
        f"{report.documents} documents re-indexed with chunk_words={r.chunk_words}, "
        f"chunk_overlap_words={r.chunk_overlap_words}: {report.chunks_before} chunks before, "
        f"{report.chunks_after} now"
    )


@app.command("ask")
def ask_command(
    question: Annotated[str, typer.Argument(help="The question, in Dutch or English.")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print answer, citations, chunks and timings as JSON.")
    ] = False,
    collection: Annotated[list[str] | None, COLLECTIONS_OPTION] = None,
) -> None:
    """Answer one question from the indexed documents, with numbered sources."""
    from bot.asking import AskContext, ask
    from bot.runtime import open_runtime
    from bot.terminal import render_text, to_json

    settings = settings_for_cli()
    with friendly_errors():
        if not question.strip():
            raise EmptyQuestionError("ask a question: the text was empty")
        with open_runtime(settings) as runtime:
            _ingest_if_empty(settings, runtime.backend.count_chunks())
            ctx = AskContext(surface="cli", collections=tuple(collection or settings.slack.dm_collections))
            result = ask(runtime, question, ctx)
    if as_json:
        console.print_json(json.dumps(to_json(result)))
    else:
        console.print(escape(render_text(result.answer)))


@app.command()
def chat() -> None:
    """A local chat in the terminal: the same pipeline and feedback store as the Slack bot."""
    from bot.runtime import open_runtime
    from bot.terminal import chat_loop

    settings = settings_for_cli()
    with friendly_errors(), open_runtime(settings) as runtime:
        _ingest_if_empty(settings, runtime.backend.count_chunks())
        chat_loop(runtime, console)


@app.command()
def run(
    http: Annotated[
        bool, typer.Option("--http", help="Serve Slack's Events API over HTTP (several replicas).")
    ] = False,
) -> None:
    """Ingest the configured corpus (the sample handbook by default) and start answering.

    With SLACK_BOT_TOKEN and SLACK_APP_TOKEN set Bron connects to Slack in Socket Mode; with --http it
    serves Slack over HTTP; with neither, it opens the local chat.
    """
    from bot.runtime import open_runtime
    from bot.terminal import chat_loop

    settings = settings_for_cli()
    with friendly_errors():
        if settings.corpus or settings.retrieval.backend == "sqlite":
            # a shared Elasticsearch index is filled by `bron ingest`, never by each replica at start
            _ingest(settings, default_corpus(settings), dry_run=False)
        with open_runtime(settings) as runtime, _scheduled_sync(runtime):
            slack = settings.slack
            if http or (slack.bot_token and slack.app_token):
                from bot.slack.app import SlackConfigError
                from bot.slack.serve import serve

                try:
                    serve(runtime, http=http)
                except SlackConfigError as exc:
                    err.print(f"[red]Error:[/red] {escape(str(exc))}")
                    raise typer.Exit(1) from None
            else:
                err.print("No SLACK_BOT_TOKEN/SLACK_APP_TOKEN set: opening the local chat instead of Slack.")
                chat_loop(runtime, console)


@app.command()
def migrate() -> None:
    """Upgrade the feedback database to the latest schema (Alembic)."""
    from feedback.migrate import upgrade

    settings = settings_for_cli()
    logging.getLogger("alembic").setLevel(logging.INFO)
    with friendly_errors():
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        upgrade(settings.store_url)
    err.print("database is up to date")


@contextmanager
def _scheduled_sync(runtime: Runtime) -> Iterator[None]:
    """`bron run` keeps connected sources current: every BRON_SYNC__INTERVAL_S, in the background."""
    from bot.slack.metrics import REGISTRY
    from bot.syncing import SourceSyncCollector, make_engine, start_scheduler

    settings = runtime.settings
    collector = SourceSyncCollector(runtime.store)
    REGISTRY.register(collector)
    scheduler = start_scheduler(
        make_engine(settings, runtime.store, runtime.backend, runtime.embedder), settings
    )
    if scheduler is not None:
        err.print(f"Syncing {len(settings.sources)} source(s) every {settings.sync.interval_s:g} s.")
    try:
        yield
    finally:
        if scheduler is not None:
            scheduler.stop()
        REGISTRY.unregister(collector)


@app.command("sync")
def sync_command(
    source: Annotated[str | None, typer.Argument(help="One source by name; all of them without.")] = None,
    allow_mass_delete: Annotated[
        bool,
        typer.Option("--allow-mass-delete", help="Apply deletions beyond BRON_SYNC__MAX_DELETE_SHARE."),
    ] = False,
) -> None:
    """Bring the index in step with connected sources ([sources.NAME] in bron.toml) now."""
    from bot.runtime import build_backend, build_embedder, open_store
    from bot.syncing import UnknownSourceError, make_engine, sync_sources

    settings = settings_for_cli()
    if not settings.sources:
        err.print("No sources configured: add \\[sources.NAME] to bron.toml (see deploy/README.md).")
        raise typer.Exit(1)
    failed = False
    with friendly_errors():
        embedder = build_embedder(settings)
        backend = build_backend(settings, embedder)
        store = open_store(settings)
        try:
            engine = make_engine(settings, store, backend, embedder, allow_mass_delete=allow_mass_delete)
            try:
                runs = sync_sources(engine, settings, source)
            except UnknownSourceError as exc:
                err.print(f"[red]Error:[/red] {escape(str(exc))}")
                raise typer.Exit(1) from None
        finally:
            backend.close()
            store.close()
    for run_ in runs:
        for r in run_.reports:
            s = r.summary()
            rate = f", {r.documents / r.seconds:.1f} docs/s" if r.seconds else ""
            err.print(
                f"{escape(r.stream)}: {s['added']} added, {s['updated']} updated, {s['renamed']} renamed, "
                f"{s['moved']} moved, {s['deleted']} deleted, {s['unchanged']} unchanged, "
                f"{s['unmapped']} not served (no collection), {s['failed']} failed{rate}"
                + (" (listed in full)" if r.full_pass else "")
            )
            for item, reason in r.failed[:20]:
                err.print(f"  [yellow]-[/yellow] {escape(item)}: {escape(reason)}")
            if r.blocked_deletes:
                failed = True
                err.print(
                    f"[red]{r.blocked_deletes} of {r.indexed_before} documents would be deleted; held back.[/red] "
                    "Check the source; if it is right, run `bron sync --allow-mass-delete`."
                )
        if run_.error:
            failed = True
            err.print(f"[red]Error:[/red] {escape(run_.source)}: {escape(run_.error)}")
    if failed:
        raise typer.Exit(1)


def _print_source_status(settings: Settings) -> None:
    from bot.runtime import open_store
    from bot.syncing import format_age, status_rows

    store = open_store(settings)
    try:
        rows = status_rows(store, settings)
    finally:
        store.close()
    if not rows:
        err.print("No sources configured or synced.")
    for r in rows:
        state = "syncing" if r.in_progress else ("error" if r.last_error else "ok")
        if r.last_success_at is None:
            state = "error" if r.last_error else "never synced"
        console.print(
            f"[bold]{escape(r.stream)}[/bold]  last success {format_age(r.age_s())}  "
            f"{r.documents} documents  {state}"
        )
        if r.last_error:
            console.print(f"    [yellow]{escape(r.last_error[:300])}[/yellow]")


@app.command()
def sources(
    query: Annotated[str | None, typer.Argument(help="What to search for.")] = None,
    k: Annotated[int, typer.Option(help="How many chunks.")] = 5,
    collection: Annotated[list[str] | None, COLLECTIONS_OPTION] = None,
    status: Annotated[
        bool, typer.Option("--status", help="Connected sources: age of the last successful sync, errors.")
    ] = False,
) -> None:
    """Search the sources without generating an answer (or, with --status, show connected sources)."""
    from bot.runtime import open_runtime
    from retrieval.types import SearchFilters
    from serving.context import max_question_chars

    settings = settings_for_cli()
    if status:
        with friendly_errors():
            _print_source_status(settings)
        return
    if not query:
        err.print("Give a query, or --status for connected sources.")
        raise typer.Exit(2)
    # the same limit as a question's: embedding a 100 kB query took 42 s of CPU
    limit = max_question_chars(settings.serving.context_tokens)
    if len(query) > limit:
        err.print(f"[red]Error:[/red] the query is {len(query):,} characters; search with at most {limit:,}.")
        raise typer.Exit(2)
    filters = SearchFilters(collections=tuple(collection or settings.slack.dm_collections))
    with friendly_errors(), open_runtime(settings, with_llm=False) as runtime:
        result = runtime.retriever.search(query, k=k, filters=filters)
    for hit in result.hits:
        c = hit.chunk
        console.print(
            f"[bold][{hit.rank}][/bold] {escape(c.title)} › {escape(c.heading)} ({escape(c.location)})"
        )
        console.print(f"    {escape(c.text[:200])}…")
