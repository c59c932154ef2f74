"""A local JSONL file that holds answers and feedback while the database is down, and replays them.

Why a file: a thumbs-down given during a database outage is the feedback we most want (something is
already wrong), and the user cannot be asked to click again later. Each entry is one JSON line,
appended and fsynced under an exclusive lock, so a crash loses at most the line being written and
two processes on one host never interleave. Replay applies entries in order, one transaction each,
and rewrites the file with what is left: it stops at the first entry the database cannot take yet
(still unreachable), and moves an entry the database refuses for good (e.g. feedback on an answer
that was purged) to `<spool>.rejected.jsonl`, so one bad line never blocks the rest and is never lost.

Interactions are spooled with their id already chosen, so a Slack button or a later thumbs-down that
refers to that id still lands on the right row once it is replayed.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.exc import IntegrityError

from feedback.errors import StoreError, StoreUnavailableError
from feedback.feedback import record_feedback
from feedback.flags import flag_reasons, raise_flag
from feedback.models import ProcessedEvent, new_id
from feedback.settings import FlagRules, StoreSettings
from feedback.store import ChunkRecord, FeedbackStore, InteractionRecord, delete_question, record_interaction

log = logging.getLogger(__name__)


def spool_path(settings: StoreSettings, data_dir: Path) -> Path:
    """Where this process spools: `store.spool_path`, else `<data_dir>/spool.jsonl`."""
    return settings.spool_path or data_dir / "spool.jsonl"


@dataclass(frozen=True)
class FeedbackEntry:
    """A thumbs-up/down waiting for the database; the arguments of `record_feedback`."""

    interaction_id: str
    vote: str
    user: str | None
    reason: str | None = None
    comment: str | None = None
    correct_answer: str | None = None
    source: str = "button"


@dataclass
class ReplayReport:
    applied: int = 0
    rejected: int = 0
    remaining: int = 0
    errors: list[str] = field(default_factory=list)


def _record_to_json(record: InteractionRecord) -> dict[str, Any]:
    return asdict(record)


def _record_from_json(data: dict[str, Any]) -> InteractionRecord:
    chunks = [ChunkRecord(**c) for c in data.pop("chunks", [])]
    return InteractionRecord(chunks=chunks, **data)


class Spool:
    """An append-only JSONL file of pending writes, safe for several threads and processes on one host."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rejected_path = path.with_name(path.name + ".rejected.jsonl")
        self._lock_path = path.with_name(path.name + ".lock")

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self._lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def add_interaction(self, record: InteractionRecord) -> None:
        if record.interaction_id is None:
            raise StoreError(
                "a spooled interaction needs its id chosen first (InteractionRecord.interaction_id)"
            )
        self._append({"kind": "interaction", "record": _record_to_json(record)})

    def add_withdrawn(self, channel: str, question_ts: str, *, unless_text: str | None = None) -> None:
        """A question withdrawn while the database could not be erased: replay erases its rows then,
        and never applies an answer to it spooled meanwhile (see `feedback.privacy.erase_question`)."""
        self._append({"kind": "withdrawn", "channel": channel, "question_ts": question_ts,
                      "unless_text": unless_text})  # fmt: skip

    def add_feedback(self, entry: FeedbackEntry) -> None:
        self._append({"kind": "feedback", "feedback": asdict(entry)})

    def _append(self, entry: dict[str, Any]) -> None:
        stamped = {**entry, "entry_id": new_id(), "spooled_at": datetime.now(UTC).isoformat()}
        line = json.dumps(stamped, ensure_ascii=False)
        try:
            with self._locked(), open(self.path, "a", encoding="utf-8") as f:
                f.write(line + "\n")
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:
            raise StoreError(
                f"the database is unreachable and the spool file {self.path} cannot be written ({exc}); "
                "set BRON_STORE__SPOOL_PATH to a writable place"
            ) from exc
        log.warning("feedback database unreachable: %s spooled to %s", entry["kind"], self.path)

    def has_pending(self) -> bool:
        """Cheap check (no lock, no parse) used before every write."""
        try:
            return self.path.stat().st_size > 0
        except OSError:  # missing, or its folder is not there (yet)
            return False

    def pending(self) -> list[dict[str, Any]]:
        with self._locked():
            return self._read()

    def pending_interaction_ids(self) -> set[str]:
        return {e["record"]["interaction_id"] for e in self.pending() if e["kind"] == "interaction"}

    def _read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        entries: list[dict[str, Any]] = []
        for n, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                entries.append(json.loads(line))
            except json.JSONDecodeError:
                # a torn last line from a crash mid-write: keep it aside rather than drop it silently
                log.error("spool %s line %d is not JSON; moved to %s", self.path, n, self.rejected_path)
                self._reject({"kind": "unreadable", "line": line})
        return entries

    def _reject(self, entry: dict[str, Any]) -> None:
        with open(self.rejected_path, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry, ensure_ascii=False) + "\n")

    def _rewrite(self, entries: list[dict[str, Any]]) -> None:
        self.rewrite(self.path, entries)

    def locked(self) -> AbstractContextManager[None]:
        """The spool's lock, for a caller that rewrites its files (erasing one person's entries)."""
        return self._locked()

    def rewrite(self, path: Path, entries: list[dict[str, Any]]) -> None:
        """Replace `path` (the spool or its rejected file) with `entries`, atomically; hold `locked()`."""
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            for e in entries:
                f.write(json.dumps(e, ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    def replay(self, store: FeedbackStore, *, rules: FlagRules) -> ReplayReport:
        """Apply pending entries in order; keep the rest when the database goes away again."""
        report = ReplayReport()
        with self._locked():
            entries = self._read()
            if not entries:
                return report
            entries = _without_withdrawn_answers(entries)
            left: list[dict[str, Any]] = []
            for i, entry in enumerate(entries):
                try:
                    _apply(store, entry, rules=rules)
                except StoreUnavailableError as exc:
                    left = entries[i:]
                    report.errors.append(str(exc))
                    break
                except StoreError as exc:
                    report.rejected += 1
                    report.errors.append(str(exc))
                    self._reject({**entry, "error": str(exc)})
                    continue
                report.applied += 1
            self._rewrite(left)
            report.remaining = len(left)
        if report.applied or report.rejected:
            log.info("spool replay: %d applied, %d rejected, %d left", report.applied, report.rejected,
                     report.remaining)  # fmt: skip
        return report


def _withdraws(mark: dict[str, Any], record: dict[str, Any]) -> bool:
    unless = mark.get("unless_text")
    return (record.get("channel"), record.get("question_ts")) == (
        mark.get("channel"),
        mark.get("question_ts"),
    ) and (unless is None or record.get("question") != unless)


def _without_withdrawn_answers(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The entries less the answers (and votes on them) to questions withdrawn while the database was
    down: erase_question removed those spooled before, so these were spooled after, still being written."""
    marks = [e for e in entries if e.get("kind") == "withdrawn"]
    if not marks:
        return entries
    dropped = {
        str(e["record"].get("interaction_id")) for e in entries
        if e.get("kind") == "interaction" and any(_withdraws(m, e.get("record") or {}) for m in marks)
    }  # fmt: skip
    return [
        e for e in entries
        if str((e.get("record") or e.get("feedback") or {}).get("interaction_id")) not in dropped
    ]  # fmt: skip


def _apply(store: FeedbackStore, entry: dict[str, Any], *, rules: FlagRules) -> None:
    """One entry, one transaction; the entry's id goes into processed_events in that same transaction,
    so an entry applied just before a crash (file not yet rewritten) is not applied twice."""
    kind = entry.get("kind")
    if kind not in ("interaction", "feedback", "withdrawn"):
        raise StoreError(f"unknown spool entry kind {kind!r}")
    try:
        with store.session() as session:
            session.add(ProcessedEvent(event_id=f"spool:{entry['entry_id']}"))
            session.flush()
            if kind == "withdrawn":
                delete_question(
                    session, channel=str(entry.get("channel")), question_ts=str(entry.get("question_ts")),
                    unless_text=entry.get("unless_text"),
                )  # fmt: skip
            elif kind == "interaction":
                record = _record_from_json(dict(entry["record"]))
                interaction = record_interaction(session, record)
                # the retention clock runs from when it was asked, not from when the database came back
                interaction.created_at = _spooled_at(entry, interaction.created_at)
                raise_flag(session, interaction, flag_reasons(interaction, rules))
            else:
                fb = FeedbackEntry(**entry["feedback"])
                vote = record_feedback(
                    session, fb.interaction_id, vote=fb.vote, user=fb.user, rules=rules, reason=fb.reason,
                    comment=fb.comment, correct_answer=fb.correct_answer, source=fb.source,
                )  # fmt: skip
                vote.created_at = _spooled_at(entry, vote.created_at)
    except IntegrityError as exc:
        if _already_applied(store, entry):
            return
        raise StoreError(f"the database refused a spooled {kind}: {exc.orig}") from exc


def _spooled_at(entry: dict[str, Any], fallback: datetime) -> datetime:
    try:
        return datetime.fromisoformat(str(entry["spooled_at"]))
    except (KeyError, ValueError):
        return fallback


def drop_older_than(spool: Spool, cutoff: datetime, *, dry_run: bool = False) -> int:
    """Remove entries spooled before `cutoff` from the spool and its rejected file (retention covers
    them too: a rejected vote is as personal as a stored one). Returns how many went."""
    removed = 0
    with spool.locked():
        for path in (spool.path, spool.rejected_path):
            if not path.exists():
                continue
            entries = [
                json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
            ]
            kept = [e for e in entries if _spooled_at(e, datetime.max.replace(tzinfo=UTC)) >= cutoff]
            removed += len(entries) - len(kept)
            if len(kept) != len(entries) and not dry_run:
                spool.rewrite(path, kept)
    return removed


def _already_applied(store: FeedbackStore, entry: dict[str, Any]) -> bool:
    with store.session() as session:
        return session.get(ProcessedEvent, f"spool:{entry['entry_id']}") is not None


def replay_spool(store: FeedbackStore, spool: Spool, *, rules: FlagRules) -> ReplayReport:
    """Call at start (and whenever convenient): a no-op when nothing is pending."""
    if not spool.has_pending():
        return ReplayReport()
    return spool.replay(store, rules=rules)


class SpoolReplayer:
    """Replays the spool every `interval_s` on a daemon thread, so a backlog drains even when no new
    answer or vote comes in to trigger it (a quiet night after an outage)."""

    def __init__(
        self, store: FeedbackStore, spool: Spool, *, rules: FlagRules, interval_s: float = 60.0
    ) -> None:
        self.store, self.spool, self.rules, self.interval_s = store, spool, rules, interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bron-spool-replay", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                replay_spool(self.store, self.spool, rules=self.rules)
            except Exception:  # a replay bug must not kill the thread that drains the backlog
                log.exception("spool replay failed; retrying in %.0f s", self.interval_s)

    def start(self) -> SpoolReplayer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval_s + 5)
