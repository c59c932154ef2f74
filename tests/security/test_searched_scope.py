"""A question searched in `hr` whose kept chunks are all public is still read only by scopes holding `hr`.

The question itself, the thread history the model read and its draft can carry what `hr` holds (an hr
member's follow-up in their DM, "and for the director?"), so the review queue, /bron-flags and the
exports that show question and answer text go by the collections searched as well as by the chunks.
Before, only the chunks counted, and a public-only reviewer read such questions.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.slack.lookups import open_flags
from feedback.exports import reviewed_cases
from feedback.feedback import record_feedback
from feedback.migrate import upgrade
from feedback.review import FlagNotFoundError, get_flag, list_flags, resolve_flag
from feedback.settings import FlagRules
from feedback.store import ChunkRecord, FeedbackStore, InteractionRecord, record_interaction

QUESTION = "En wat verdient de directeur, na die 250000 van vorig jaar?"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[FeedbackStore]:
    url = f"sqlite:///{tmp_path / 'feedback.sqlite'}"
    upgrade(url)
    store = FeedbackStore(url)
    yield store
    store.close()


def _flagged(store: FeedbackStore, searched: list[str] | None) -> int:
    chunk = ChunkRecord(rank=1, chunk_id="c1", doc_id="pub/verlof.md", title="Verlof", heading="Dagen",
                        location="pub/verlof.md", snippet="25 dagen", score=0.9, citation=1,
                        collection="public")  # fmt: skip
    with store.session() as session:
        interaction = record_interaction(session, InteractionRecord(
            question=QUESTION, answer="Dat staat niet in de bronnen.", language="nl", abstained=True,
            model="test", chunks=[chunk], timings={}, surface="slack", asker="U0HRUSER001",
            channel="D0HRUSER01", collections=searched,
        ))  # fmt: skip
        record_feedback(session, interaction.id, vote="down", user="U0HRUSER001", rules=FlagRules())
        interaction_id = interaction.id
    with store.session() as session:
        flag = next(f for f in list_flags(session, scope=None) if f.interaction_id == interaction_id)
        return flag.flag_id


def test_a_question_searched_in_hr_is_not_shown_to_a_public_reviewer(store: FeedbackStore) -> None:
    flag_id = _flagged(store, ["public", "hr"])
    with store.session() as session:
        assert list_flags(session, scope=["public"]) == []
        assert open_flags(session, scope=["public"]) == []
        with pytest.raises(FlagNotFoundError):
            get_flag(session, flag_id, scope=["public"])
        with pytest.raises(FlagNotFoundError):
            resolve_flag(session, flag_id, verdict="correct", reviewer="pub", scope=["public"])
        assert [f.question for f in list_flags(session, scope=["public", "hr"])] == [QUESTION]
        assert get_flag(session, flag_id, scope=["hr", "public"]).question == QUESTION
        resolve_flag(session, flag_id, verdict="correct", reviewer="hr-reviewer", scope=["hr", "public"])
    with store.session() as session:
        assert reviewed_cases(session, scope=["public"]) == []
        assert [c.flag.question for c in reviewed_cases(session, scope=["public", "hr"])] == [QUESTION]


def test_a_public_question_stays_visible_and_an_unrecorded_search_only_to_the_operator(
    store: FeedbackStore,
) -> None:
    public = _flagged(store, ["public"])
    unknown = _flagged(store, None)  # recorded before the searched collections were
    with store.session() as session:
        assert [f.flag_id for f in list_flags(session, scope=["public"])] == [public]
        assert {f.flag_id for f in list_flags(session, scope=None)} == {public, unknown}
