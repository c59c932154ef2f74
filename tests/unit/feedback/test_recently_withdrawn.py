"""The in-process record of withdrawn messages stays small and forgets, and an edit keeps its new words."""

from __future__ import annotations

import threading

from feedback.privacy import RecentlyWithdrawn


def test_deleted_and_edited_messages_are_told_apart() -> None:
    marks = RecentlyWithdrawn()
    marks.add("C1", "1.1")
    marks.add("C1", "1.2", unless_text="new words")
    assert marks.covers("C1", "1.1", "anything")
    assert marks.covers("C1", "1.2", "old words") and not marks.covers("C1", "1.2", "new words")
    assert not marks.covers("C2", "1.1", "anything")  # another channel's message with the same ts


def test_it_is_bounded_and_forgets_after_its_time() -> None:
    marks = RecentlyWithdrawn(limit=3)
    threads = [threading.Thread(target=marks.add, args=("C1", f"1.{n}")) for n in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(marks.get("C1", f"1.{n}") is not None for n in range(50)) == 3
    stale = RecentlyWithdrawn(ttl_s=0.0)
    stale.add("C1", "1.1")
    assert stale.get("C1", "1.1") is None
