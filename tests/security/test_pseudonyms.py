"""With `BRON_STORE__PSEUDONYMISE_USERS`, no Slack user id reaches the database or the spool, and
everything that looks a person up still finds them: votes, feedback details, `bron privacy
export|erase` (on SQLite and PostgreSQL). The thread rule through the real app is in
tests/scenario/test_thread_policy.py. Before this option every row held the plain Slack id.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import text

from bot.slack.lookups import add_feedback_details, thread_askers
from feedback.errors import StoreError
from feedback.feedback import record_feedback
from feedback.migrate import upgrade
from feedback.people import PREFIX, pseudonym
from feedback.resilient import save_feedback, save_interaction
from feedback.settings import FlagRules, StoreSettings
from feedback.spool import Spool, replay_spool
from feedback.store import FeedbackStore, record_interaction
from tests.security.support import bron, flat
from tests.unit.feedback.records import verlof_record

KEY = "k" * 16 + "0123456789abcdef"  # 32 characters, the minimum
ALICE, BOB = "U0ALICE01", "U0BOB0002"
ON = {"BRON_STORE__PSEUDONYMISE_USERS": "true", "BRON_STORE__USER_KEY": KEY}


def _all_text(store: FeedbackStore) -> str:
    """Every value of every person column, as the database holds them."""
    with store.engine.connect() as conn:
        rows = conn.execute(text('SELECT asker FROM interactions UNION ALL SELECT "user" FROM feedback'))
        return " ".join(str(r[0]) for r in rows)


def test_the_pseudonym_is_keyed_stable_recognisable_and_fits_the_column() -> None:
    one = pseudonym(ALICE, SecretStr(KEY))
    assert one == pseudonym(ALICE, SecretStr(KEY)) and one is not None and one.startswith(PREFIX)
    assert len(one) <= 64 and ALICE not in one
    assert pseudonym(ALICE, SecretStr(KEY[::-1])) != one  # another key, another value
    assert pseudonym(BOB, SecretStr(KEY)) != one
    assert pseudonym(one, SecretStr(KEY)) == one  # already a pseudonym: not hashed twice
    assert pseudonym(ALICE, None) == ALICE and pseudonym(None, SecretStr(KEY)) is None


def test_asker_and_voter_are_stored_as_pseudonyms_and_found_again(store_url: str) -> None:
    store = FeedbackStore(store_url, user_key=SecretStr(KEY))
    try:
        with store.session() as session:
            asked = record_interaction(session, verlof_record(asker=ALICE, channel="C1", thread_ts="1.1"))
            vote = record_feedback(session, asked.id, vote="down", user=BOB, rules=FlagRules())
            interaction_id, feedback_id = asked.id, vote.id
        assert ALICE not in _all_text(store) and BOB not in _all_text(store)
        assert _all_text(store).count(PREFIX) == 2
        with store.session() as session:
            askers, replier = thread_askers(session, channel="C1", thread_ts="1.1", replier=ALICE)
            assert replier in askers  # the thread rule's comparison, hashed on both sides
            _, stranger = thread_askers(session, channel="C1", thread_ts="1.1", replier=BOB)
            assert stranger not in askers
            added = add_feedback_details(
                session, feedback_id, user=BOB, reason="incorrect", comment="wrong", correct_answer=None
            )
            assert added.comment == "wrong"
        with pytest.raises(StoreError, match="another user"), store.session() as session:
            add_feedback_details(
                session, feedback_id, user=ALICE, reason=None, comment="x", correct_answer=None
            )
        assert interaction_id
    finally:
        store.close()


def test_the_spool_holds_pseudonyms_and_replay_does_not_hash_them_twice(tmp_path: Path) -> None:
    db = tmp_path / "db"
    db.mkdir()
    url = f"sqlite:///{db / 'bron.db'}"
    upgrade(url)
    store = FeedbackStore(url, user_key=SecretStr(KEY))
    spool = Spool(tmp_path / "spool.jsonl")
    db.rename(tmp_path / "away")  # the database goes away: answers and votes wait in the spool
    store.engine.dispose()
    saved = save_interaction(store, verlof_record(asker=ALICE), rules=FlagRules(), spool=spool)
    save_feedback(store, saved.interaction_id, vote="up", user=BOB, rules=FlagRules(), spool=spool)
    assert saved.spooled
    spooled = spool.path.read_text()
    assert ALICE not in spooled and BOB not in spooled and spooled.count(PREFIX) == 2

    (tmp_path / "away").rename(db)
    store.engine.dispose()
    assert replay_spool(store, spool, rules=FlagRules()).applied == 2
    assert sorted(_all_text(store).split()) == sorted(
        [str(pseudonym(ALICE, SecretStr(KEY))), str(pseudonym(BOB, SecretStr(KEY)))]
    )
    store.close()


def test_privacy_export_and_erase_hash_the_given_id(store_url: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    store = FeedbackStore(store_url, user_key=SecretStr(KEY))
    try:
        with store.session() as session:
            mine = record_interaction(session, verlof_record(asker=ALICE, question="Alice vraagt"))
            record_interaction(session, verlof_record(asker=BOB, question="Bob vraagt"))
            record_feedback(session, mine.id, vote="up", user=ALICE, rules=FlagRules())
    finally:
        store.close()
    plain = FeedbackStore(store_url)  # a row from before the option was turned on
    try:
        with plain.session() as session:
            record_interaction(session, verlof_record(asker=ALICE, question="Alice, eerder"))
    finally:
        plain.close()
    env = {"BRON_STORE__URL": store_url, **ON}

    exported = bron(data, "privacy", "export", ALICE, env=env)
    assert exported.exit_code == 0, exported.output
    dump = json.loads((data / "exports" / f"privacy-{ALICE}.json").read_text())
    assert sorted(i["question"] for i in dump["interactions"]) == ["Alice vraagt", "Alice, eerder"]
    assert len(dump["feedback"]) == 1

    erased = bron(data, "privacy", "erase", ALICE, env=env)
    assert erased.exit_code == 0, erased.output
    again = json.loads(bron(data, "privacy", "export", ALICE, env=env).stdout.splitlines()[0])
    assert (again["interactions"], again["feedback"]) == (0, 0)
    bob = json.loads(bron(data, "privacy", "export", BOB, env=env).stdout.splitlines()[0])
    assert bob["interactions"] == 1


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"BRON_STORE__PSEUDONYMISE_USERS": "true"}, "needs a key"),
        ({**ON, "BRON_STORE__USER_KEY": "tooShortKey9"}, "at least 32 characters"),
        ({"BRON_STORE__PSEUDONYMISE_USERS": "true", "BRON_STORE__USER_KEY_FILE": "/nonexistent/key"},
         "cannot be read"),
    ],
)  # fmt: skip
def test_the_option_without_a_usable_key_stops_bron_at_start(
    env: dict[str, str], says: str, tmp_path: Path
) -> None:
    result = bron(tmp_path / "data", "privacy", "export", ALICE, env=env)
    assert result.exit_code == 2
    assert "BRON_STORE__PSEUDONYMISE_USERS" in flat(result) and says in flat(result)
    assert "tooShortKey9" not in result.output  # the key itself is never printed
    assert not (tmp_path / "data" / "bron.db").exists()


def test_the_key_can_come_from_a_file(tmp_path: Path) -> None:
    key_file = tmp_path / "user-key"
    key_file.write_text(KEY + "\n")
    settings = StoreSettings(pseudonymise_users=True, user_key_file=key_file)
    assert settings.pseudonym_key() == SecretStr(KEY)
    assert StoreSettings(user_key=SecretStr(KEY)).pseudonym_key() is None  # a key alone turns nothing on


def test_rows_stored_before_the_option_still_count_for_the_thread_rule_and_votes(store_url: str) -> None:
    """On c91b44e a thread asked in plain ids no longer heard its asker's follow-up once pseudonyms
    were on (plain asker, hashed replier), and the owner of an older vote could not add its details."""
    plain = FeedbackStore(store_url)
    try:
        with plain.session() as session:
            asked = record_interaction(session, verlof_record(asker=ALICE, channel="C1", thread_ts="1.1"))
            vote = record_feedback(session, asked.id, vote="down", user=BOB, rules=FlagRules())
            feedback_id = vote.id
    finally:
        plain.close()
    store = FeedbackStore(store_url, user_key=SecretStr(KEY))
    try:
        with store.session() as session:
            askers, replier = thread_askers(session, channel="C1", thread_ts="1.1", replier=ALICE)
            assert replier in askers and ALICE not in replier
            _, stranger = thread_askers(session, channel="C1", thread_ts="1.1", replier=BOB)
            assert stranger not in askers
            added = add_feedback_details(
                session, feedback_id, user=BOB, reason="incorrect", comment="wrong", correct_answer=None
            )
            assert added.comment == "wrong"
        with pytest.raises(StoreError, match="another user"), store.session() as session:
            add_feedback_details(
                session, feedback_id, user=ALICE, reason=None, comment="x", correct_answer=None
            )
    finally:
        store.close()
