"""`bron flags ...`, `bron export eval|sft`, `bron purge` and `bron review`.

`bot/cli.py` mounts these (this module never imports it at load time, so there is no import cycle):
`flags_app` as a sub-app, and the four functions as commands.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from bot.settings import Settings
from feedback.review import VERDICTS, FlagView

flags_app = typer.Typer(help="Answers flagged as possible hallucinations: list, show, resolve.",
                        no_args_is_help=True)  # fmt: skip
console = Console()
err = Console(stderr=True)


def _settings() -> Settings:
    from bot.cli import settings_for_cli

    return settings_for_cli()


def exports_dir(settings: Settings) -> Path:
    """Where exports go unless --out says otherwise: beside the database, not in the source tree.

    They hold employees' questions, so they stay under the data dir (git-ignored, outside the Docker
    build context, covered by `bron privacy export/erase`)."""
    return settings.data_dir / "exports"


def _print_flag(flag: FlagView, *, full: bool) -> None:
    reasons = ", ".join(flag.reasons)
    g = f" groundedness {flag.groundedness:.2f}" if flag.groundedness is not None else ""
    console.print(f"[bold]#{flag.flag_id}[/bold] [{flag.status}] {escape(reasons)}{g} · "
                  f"{flag.asked_at:%Y-%m-%d %H:%M} · {flag.language}")  # fmt: skip
    console.print(f"  Q: {escape(flag.question)}")
    if not full:
        console.print(f"  A: {escape(flag.answer[:160])}{'…' if len(flag.answer) > 160 else ''}")
        return
    console.print(f"  A: {escape(flag.answer)}")
    for s in flag.unsupported:
        console.print(f"  [red]⚠ unsupported:[/red] {escape(s)}")
    for src in flag.sources:
        mark = " [green](cited)[/green]" if src.cited else ""
        console.print(
            f"  [{src.number}] {escape(src.title)} › {escape(src.heading)} ({escape(src.doc_id)}){mark}"
        )
    for fb in flag.feedback:
        console.print(
            f"  {fb.vote} by {fb.user or '?'}: {escape(fb.reason or '')} {escape(fb.comment or '')}"
        )
    for r in flag.reviews:
        console.print(f"  review: {r.verdict} by {escape(r.reviewer)}"
                      + (f": {escape(r.corrected_answer)}" if r.corrected_answer else ""))  # fmt: skip


@flags_app.command("list")
def list_command(
    status: Annotated[str, typer.Option(help="open, resolved or all.")] = "open",
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 50,
) -> None:
    """List flagged answers (open ones by default)."""
    from bot.cli import friendly_errors
    from bot.runtime import store_session
    from feedback.review import list_flags

    settings = _settings()
    with friendly_errors(), store_session(settings) as session:
        flags = list_flags(session, status=None if status == "all" else status, limit=limit)
    if not flags:
        err.print("no flags")
    for flag in flags:
        _print_flag(flag, full=False)


@flags_app.command("show")
def show_command(flag_id: Annotated[int, typer.Argument(help="The flag's number.")]) -> None:
    """Show one flag: question, answer, unsupported sentences, sources, feedback and reviews."""
    from bot.cli import friendly_errors
    from bot.runtime import store_session
    from feedback.review import get_flag

    settings = _settings()
    with friendly_errors(), store_session(settings) as session:
        flag = get_flag(session, flag_id)
    _print_flag(flag, full=True)


@flags_app.command("resolve")
def resolve_command(
    flag_id: Annotated[int, typer.Argument(help="The flag's number.")],
    verdict: Annotated[str, typer.Option(help=f"One of: {', '.join(VERDICTS)}.")],
    corrected_answer: Annotated[str | None, typer.Option(help="The right answer, citing [n].")] = None,
    expected_source: Annotated[
        list[str] | None, typer.Option(help="A document id the answer should rest on (repeatable).")
    ] = None,
    reviewer: Annotated[str | None, typer.Option(help="Your name (default: $USER).")] = None,
    note: Annotated[str | None, typer.Option(help="Anything else worth keeping.")] = None,
) -> None:
    """Record a verdict on a flag and close it."""
    import getpass

    from bot.cli import friendly_errors
    from bot.runtime import store_session
    from feedback.review import resolve_flag

    settings = _settings()
    with friendly_errors(), store_session(settings) as session:
        resolve_flag(
            session, flag_id, verdict=verdict, reviewer=reviewer or getpass.getuser(),
            corrected_answer=corrected_answer, expected_sources=expected_source or [], note=note,
        )  # fmt: skip
    err.print(f"flag #{flag_id} resolved: {verdict}")


EXPORT_COLLECTIONS = typer.Option(
    "--collection",
    help="Only answers whose every source lies in these collections (repeatable; default: public). "
    "Whoever reads the file, or the adapter trained on it, sees them.",
)


def export_eval(
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="JSONL file to write (default: in BRON_DATA_DIR/exports)."),
    ] = None,
    collection: Annotated[list[str] | None, EXPORT_COLLECTIONS] = None,
) -> None:
    """Write reviewed answers as a regression set for `bron eval answers` (JSONL)."""
    from bot.cli import friendly_errors
    from bot.runtime import store_session
    from feedback.exports import eval_cases, reviewed_cases, write_eval_set

    settings = _settings()
    with friendly_errors():
        with store_session(settings) as session:
            cases = eval_cases(reviewed_cases(session, scope=tuple(collection or ["public"])))
        out = out or exports_dir(settings) / "regression.jsonl"
        n = write_eval_set(out, cases)
    err.print(f"{n} case(s) written to {out}")


def export_sft(
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="JSONL file to write (default: in BRON_DATA_DIR/exports)."),
    ] = None,
    collection: Annotated[list[str] | None, EXPORT_COLLECTIONS] = None,
) -> None:
    """Write corrected answers with their sources as chat-format fine-tuning data (JSONL)."""
    from bot.cli import friendly_errors
    from bot.review.sft import SftReport, sft_examples
    from bot.runtime import build_backend, build_embedder, store_session
    from feedback.exports import reviewed_cases, write_jsonl

    settings = _settings()
    report = SftReport()
    with friendly_errors():
        with store_session(settings) as session:
            cases = reviewed_cases(session, scope=tuple(collection or ["public"]))
        backend = build_backend(settings, build_embedder(settings))
        try:
            examples = sft_examples(
                cases, lookup=backend.get_chunks, token_budget=settings.serving.context_tokens, report=report
            )
        finally:
            backend.close()
        out = out or exports_dir(settings) / "sft.jsonl"
        write_jsonl(out, examples)
    err.print(f"{report.written} example(s) written to {out}")
    for reason, n in sorted(report.skipped.items()):
        err.print(f"  skipped {n}: {reason}")


def purge(
    older_than: Annotated[
        str | None, typer.Option(help="Age like 90d, 12w or 36h (default: store.retention_days).")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count, delete nothing.")] = False,
) -> None:
    """Delete answers older than the retention period, with their feedback, flags and reviews."""
    from datetime import timedelta

    from bot.cli import friendly_errors
    from bot.runtime import open_store
    from feedback.errors import StoreError
    from feedback.retention import compact, parse_age, purge_by_age
    from feedback.spool import Spool, drop_older_than, spool_path

    settings = _settings()
    with friendly_errors():
        if older_than is not None:
            age = parse_age(older_than)
        elif settings.store.retention_days:
            age = timedelta(days=settings.store.retention_days)
        else:
            raise StoreError("say how old: --older-than 90d, or set BRON_STORE__RETENTION_DAYS")
        store = open_store(settings)
        try:
            report = purge_by_age(store, age, dry_run=dry_run)
            spooled = drop_older_than(
                Spool(spool_path(settings.store, settings.data_dir)), report.cutoff, dry_run=dry_run
            )
            if not dry_run:
                compact(store)
        finally:
            store.close()
    verb = "would be deleted" if dry_run else "deleted"
    typer.echo(json.dumps({
        "cutoff": report.cutoff.isoformat(), "dry_run": dry_run, "interactions": report.interactions,
        "chunks": report.chunks, "feedback": report.feedback, "flags": report.flags, "reviews": report.reviews,
        "processed_events": report.processed_events, "spool_entries": spooled,
    }))  # fmt: skip
    err.print(f"{report.interactions} answer(s) older than {report.cutoff:%Y-%m-%d %H:%M} UTC {verb}")


def review_server(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
) -> None:
    """Serve the review page: flagged answers, verdicts, and charts (reviewers only)."""
    import uvicorn

    from bot.cli import friendly_errors
    from bot.review.app import ReviewConfig, create_app
    from bot.runtime import open_store

    settings = _settings()
    with friendly_errors():
        token = settings.store.review_token
        config = ReviewConfig(
            reviewers=tuple(settings.store.reviewers),
            token=token.get_secret_value() if token else "",
            min_groundedness=settings.store.flags.min_groundedness,
            scopes={r: settings.store.review_scope(r) for r in settings.store.reviewers},
            passwords={r: p.get_secret_value() for r, p in settings.store.reviewer_passwords.items()},
        )
        store = open_store(settings)
    err.print(f"review page on http://{host}:{port}/ (reviewers: {', '.join(config.reviewers)})")
    try:
        uvicorn.run(create_app(store, config), host=host, port=port, log_level="info")
    finally:
        store.close()
