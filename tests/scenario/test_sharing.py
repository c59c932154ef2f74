"""Share in channel (a private /bron answer goes public) and Ask a person (the collection's owner is
mentioned in the thread), from stored answers, against the fake Slack."""

from __future__ import annotations

from dataclasses import replace

from slack_bolt import App

from bot.runtime import Runtime
from bot.settings import ChannelPolicy
from bot.slack.app import build_app
from bot.slack.sharing import ESCALATE_ACTION, SHARE_ACTION
from feedback.store import ChunkRecord, InteractionRecord, find_by_message, record_interaction
from tests.fakeslack import FakeSlack, payloads
from tests.fakeslack.ids import CHANNEL_ID, USER_ID
from tests.scenario.harness import block_text, runtime_for, send

OWNER = "U0HROWNER1"


def _stored_answer(runtime: Runtime, collection: str, *, thread_ts: str | None = None) -> str:
    chunk = ChunkRecord(
        rank=1, chunk_id="c1", doc_id=f"{collection}:verlof.md", title="Verlof", heading="Vakantiedagen",
        location="https://intranet.example/verlof", snippet="25 dagen", score=0.9, citation=1,
        collection=collection,
    )  # fmt: skip
    with runtime.store.session() as session:
        interaction = record_interaction(
            session,
            InteractionRecord(
                question="Hoeveel vakantiedagen krijg ik?", answer="Je krijgt 25 vakantiedagen [1].",
                language="nl", abstained=False, model="test", chunks=[chunk], timings={},
                surface="slack_command" if thread_ts is None else "slack", asker=USER_ID, channel=CHANNEL_ID,
                thread_ts=thread_ts, collections=[collection],
            ),
        )  # fmt: skip
        return interaction.id


def _app(runtime: Runtime, fake: FakeSlack, **slack: object) -> tuple[App, Runtime]:
    scoped = runtime_for(runtime, fake)
    settings = scoped.settings.model_copy(update={"slack": scoped.settings.slack.model_copy(update=slack)})
    scoped = replace(scoped, settings=settings)
    return build_app(scoped, http=True), scoped


def _click(action_id: str, interaction_id: str, url: str, *, thread_ts: str | None = None) -> str:
    message = {"type": "message", "ts": thread_ts or payloads.unique_ts(), "text": ""}
    if thread_ts:
        message["thread_ts"] = thread_ts
    click = payloads.block_actions(
        [payloads.button_action(action_id, interaction_id)], message=message, response_url=url
    )
    return payloads.interactive_body(click)


def test_share_in_channel_posts_the_stored_answer_and_removes_the_private_one(
    offline_runtime: Runtime,
) -> None:
    with FakeSlack() as fake:
        app, runtime = _app(offline_runtime, fake)
        interaction_id = _stored_answer(runtime, "public")
        url = fake.new_response_url()
        send(app, fake, _click(SHARE_ACTION, interaction_id, url))

        [posted] = fake.wait_for_call("chat.postMessage")
        assert posted.args["channel"] == CHANNEL_ID
        shown = block_text(fake.messages(CHANNEL_ID)[-1]["blocks"])
        assert f"<@{USER_ID}> vroeg Bron: Hoeveel vakantiedagen krijg ik?" in shown
        assert "Je krijgt 25 vakantiedagen [1]." in shown and "<https://intranet.example/verlof|" in shown
        assert fake.wait_for_response(url=url)[0].body["delete_original"] is True
        with runtime.store.session() as session:
            linked = find_by_message(session, CHANNEL_ID, posted.response["ts"])
            assert linked is not None and linked.id == interaction_id  # reactions on it count
        fake.assert_all_calls_valid()


def test_an_answer_from_sources_the_channel_may_not_see_is_not_shared(offline_runtime: Runtime) -> None:
    with FakeSlack() as fake:
        app, runtime = _app(offline_runtime, fake)
        interaction_id = _stored_answer(runtime, "hr")  # the channel searches only "public"
        url = fake.new_response_url()
        send(app, fake, _click(SHARE_ACTION, interaction_id, url))

        [refused] = fake.wait_for_response(url=url)
        assert refused.body["text"].startswith("Ik kan dit antwoord hier niet delen")
        assert fake.calls("chat.postMessage") == []


def test_an_answer_is_not_shared_to_another_organisation_unless_external_collections_allow_it(
    offline_runtime: Runtime,
) -> None:
    """Slash commands and buttons carry no Slack Connect flag: the channel's sharing is looked up, and
    a channel whose sharing cannot be established counts as shared (it shared to outsiders before)."""
    with FakeSlack() as fake:
        app, runtime = _app(
            offline_runtime, fake, channels={CHANNEL_ID: ChannelPolicy(collections=["public", "hr"])}
        )
        fake.workspace.ext_shared.add(CHANNEL_ID)
        hr_answer, url = _stored_answer(runtime, "hr"), fake.new_response_url()
        send(app, fake, _click(SHARE_ACTION, hr_answer, url))
        [refused] = fake.wait_for_response(url=url)
        assert refused.body["text"].startswith("Ik kan dit antwoord hier niet delen")
        assert fake.calls("chat.postMessage") == []
        assert fake.calls("conversations.info")[0].args["channel"] == CHANNEL_ID

    with FakeSlack() as fake:  # the same channel, shared with nobody: the hr answer may go to it
        app, runtime = _app(
            offline_runtime, fake, channels={CHANNEL_ID: ChannelPolicy(collections=["public", "hr"])}
        )
        send(app, fake, _click(SHARE_ACTION, _stored_answer(runtime, "hr"), fake.new_response_url()))
        assert fake.wait_for_call("chat.postMessage")[0].args["channel"] == CHANNEL_ID
        fake.assert_all_calls_valid()


def test_ask_a_person_mentions_the_owner_of_the_answers_collection_in_the_thread(
    offline_runtime: Runtime,
) -> None:
    with FakeSlack() as fake:
        app, runtime = _app(offline_runtime, fake, collection_owners={"hr": OWNER})
        thread = fake.add_message(CHANNEL_ID, "Hoeveel vakantiedagen krijg ik?", user=USER_ID)
        interaction_id = _stored_answer(runtime, "hr", thread_ts=thread)
        send(app, fake, _click(ESCALATE_ACTION, interaction_id, fake.new_response_url(), thread_ts=thread))

        [posted] = fake.wait_for_call("chat.postMessage")
        assert posted.args["thread_ts"] == thread
        assert posted.args["text"] == f"<@{OWNER}>, <@{USER_ID}> wil dat iemand dit antwoord controleert."

        unowned = _stored_answer(runtime, "public", thread_ts=thread)
        send(app, fake, _click(ESCALATE_ACTION, unowned, fake.new_response_url(), thread_ts=thread))
        fake.wait_for_call("chat.postMessage", n=1)
        assert len(fake.calls("chat.postMessage")) == 1  # nobody owns "public": nothing to post


def test_a_shared_answer_is_escaped_like_any_other(offline_runtime: Runtime) -> None:
    with FakeSlack() as fake:
        app, runtime = _app(offline_runtime, fake)
        chunk = ChunkRecord(
            rank=1, chunk_id="c1", doc_id="public:x.md", title="X", heading="", location="https://intranet.example/x",
            snippet="", score=0.9, citation=1, collection="public",
        )  # fmt: skip
        with runtime.store.session() as session:
            interaction_id = record_interaction(
                session,
                InteractionRecord(
                    question="<!channel> what?", answer="See [here](https://evil.example) <!here> [1].",
                    language="en", abstained=False, model="test", chunks=[chunk], timings={},
                    surface="slack_command", asker=USER_ID, channel=CHANNEL_ID, collections=["public"],
                ),
            ).id  # fmt: skip
        send(app, fake, _click(SHARE_ACTION, interaction_id, fake.new_response_url()))

        fake.wait_for_call("chat.postMessage")
        shown = block_text(fake.messages(CHANNEL_ID)[-1]["blocks"])
        assert "<!here>" not in shown and "<!channel>" not in shown and "](" not in shown
        assert "&lt;!here&gt;" in shown and "[here] (https://evil.example)" in shown
