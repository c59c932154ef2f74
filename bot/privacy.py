"""`bron privacy export USER` and `bron privacy erase USER`: one person's data, handed over or erased.

The database and the spool are covered by feedback/privacy.py; here the files: exports and fine-tuning
data (JSONL under the data dir, and any folder given with --files) lose the lines that hold the
person's answers, and every trained adapter whose data file held them is named, since an adapter
cannot forget what it learnt: it must be retrained or withdrawn.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from bot.settings import Settings
from feedback.privacy import PersonReport, erase_person, find_person

privacy_app = typer.Typer(help="One person's data (GDPR articles 15 and 17): export or erase.",
                          no_args_is_help=True)  # fmt: skip
err = Console(stderr=True)
ADAPTER_METADATA = "bron_adapter.json"  # finetune/train.py writes it beside each trained adapter


@dataclass
class FileFindings:
    files: dict[str, int] = field(default_factory=dict)  # path -> lines holding the person's answers
    adapters: list[str] = field(default_factory=list)  # adapter folders trained on such a file


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def scan_files(roots: list[Path], ids: set[str], *, erase: bool, skip: Collection[Path] = ()) -> FileFindings:
    """JSONL lines naming one of `ids` (an export's `id`, an SFT example's meta), and the adapters whose
    recorded training data hash matches a file that held such lines (hashed before it is rewritten).
    `skip`: files another owner rewrites under its own lock (the spool)."""
    found = FileFindings()
    hashes: set[str] = set()
    adapters: list[Path] = []
    for root in roots:
        if not root.exists():
            continue
        adapters += sorted(root.rglob(ADAPTER_METADATA))
        for path in sorted(root.rglob("*.jsonl")):
            if not ids or not path.is_file() or path.is_symlink() or path in skip:
                continue
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines(keepends=True)
            hit = [line for line in lines if any(i in line for i in ids)]
            if not hit:
                continue
            found.files[str(path)] = len(hit)
            hashes.add(_sha256(path))
            if erase:
                path.write_text("".join(line for line in lines if line not in hit), encoding="utf-8")
    for meta in adapters:
        try:
            data = json.loads(meta.read_text(encoding="utf-8")).get("data", {})
        except (OSError, ValueError):
            continue
        if {data.get("train_sha256"), data.get("valid_sha256")} & hashes:
            found.adapters.append(str(meta.parent))
    return found


def _settings() -> Settings:
    from bot.cli import settings_for_cli

    return settings_for_cli()


def _run(user: str, files: list[Path] | None, *, erase: bool) -> tuple[PersonReport, FileFindings, Settings]:
    from bot.cli import friendly_errors
    from bot.runtime import open_store
    from feedback.spool import Spool, spool_path

    settings = _settings()
    with friendly_errors():
        store = open_store(settings)
        try:
            spool = Spool(spool_path(settings.store, settings.data_dir))
            report = (erase_person if erase else find_person)(store, spool, user)
        finally:
            store.close()
    findings = scan_files([settings.data_dir, *(files or [])], report.interaction_ids, erase=erase)
    return report, findings, settings


def _summary(report: PersonReport, findings: FileFindings) -> dict[str, Any]:
    return {
        "user": report.user, "interactions": len(report.interactions), "feedback": len(report.feedback),
        "reviews": len(report.reviews), "spool_entries": len(report.spool), "files": findings.files,
        "adapters_trained_on_their_questions": findings.adapters,
    }  # fmt: skip


FilesOption = Annotated[
    list[Path] | None, typer.Option("--files", help="Another folder of exports or training data to cover.")
]


@privacy_app.command("export")
def export_command(
    user: Annotated[str, typer.Argument(help="The person's Slack user id (e.g. U0123ABCD).")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="JSON file to write.")] = None,
    files: FilesOption = None,
) -> None:
    """Everything Bron holds about USER, as one JSON file (default: BRON_DATA_DIR/exports/privacy-USER.json)."""
    report, findings, settings = _run(user, files, erase=False)
    target = out or settings.data_dir / "exports" / f"privacy-{user}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    summary = _summary(report, findings)
    body = {**asdict(report), "summary": summary, "files": findings.files,
            "adapters_trained_on_their_questions": findings.adapters}  # fmt: skip
    target.write_text(json.dumps(body, ensure_ascii=False, indent=1), encoding="utf-8")
    typer.echo(json.dumps(summary, ensure_ascii=False))
    err.print(f"written to {escape(str(target))}")


@privacy_app.command("erase")
def erase_command(
    user: Annotated[str, typer.Argument(help="The person's Slack user id (e.g. U0123ABCD).")],
    files: FilesOption = None,
) -> None:
    """Delete USER's questions, answers, feedback, reviews, spooled entries and export lines."""
    report, findings, settings = _run(user, files, erase=True)
    (settings.data_dir / "exports" / f"privacy-{user}.json").unlink(missing_ok=True)
    typer.echo(json.dumps(_summary(report, findings), ensure_ascii=False))
    for adapter in findings.adapters:
        err.print(
            f"[yellow]adapter {escape(adapter)} was trained on their questions: retrain or withdraw it[/]"
        )
