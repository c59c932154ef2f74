"""Per-person access through the fake Slack: user groups grant collections, a DM gets the union of the
asker's groups, a channel answer the intersection of channel and asker, and guests and people from
another organisation (Slack Connect) get nothing unless a setting grants it.

Bron's evidence bar is set out of reach, so each question is declined with its closest sources listed
and no LLM is needed: whether `salarissen.md` (collection `hr`) is listed is what the asker could reach.
Each scenario leaked (or, for the group grants, could not be expressed) on bcb969d.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest
from slack_bolt import App

from bot.runtime import open_runtime
from bot.settings import ChannelPolicy, Settings
from bot.slack.app import build_app
from retrieval.ingest import ingest_paths
from serving.settings import ServingSettings
from tests.fakeslack import FakeSlack, payloads
from tests.fakeslack.ids import TEAM_ID
from tests.scenario.harness import block_text, dead_port, send, slack_settings, wait_for_answers

HR_CHANNEL = "C0HRCHANNEL"
HR_GROUP = "S0HRGROUP1"
HR_USER = "U0HRUSER001"
OTHER_USER = "U0OTHER0001"
GUEST = "U0GUEST0001"
SINGLE_CHANNEL_GUEST = "U0GUEST0002"
EXTERNAL = "U0EXTERNAL1"
QUESTION = "Wat is het salaris van de directeur per jaar?"


@dataclass
class Workspace:
    fake: FakeSlack
    app: App


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    root = tmp_path_factory.mktemp("docs")
    (root / "hr").mkdir()
    (root / "hr" / "salarissen.md").write_text(
        "# Salarissen\n\nHet salaris van de directeur is 250000 euro per jaar; dat is vertrouwelijk.\n"
    )
    (root / "handbook").mkdir()
    (root / "handbook" / "welkom.md").write_text(
        "# Welkom\n\nWelkom bij de koffiebranderij; koffie is gratis.\n"
    )
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("bron"),
        serving=ServingSettings(
            min_dense_score=1.01,
            quote_bar=None,
            llm_base_url=f"http://127.0.0.1:{dead_port()}/v1",
            max_retries=0,
        ),
    )
    with FakeSlack() as fake, open_runtime(settings) as running:
        ingest_paths([root / "hr"], backend=running.backend, embedder=running.embedder, collection="hr")
        ingest_paths([root / "handbook"], backend=running.backend, embedder=running.embedder)
        fake.workspace.usergroups[HR_GROUP] = [HR_USER, GUEST, SINGLE_CHANNEL_GUEST, EXTERNAL]
        member: dict[str, Any] = {"team_id": TEAM_ID, "deleted": False, "is_bot": False}
        fake.workspace.users.update({
            HR_USER: {"id": HR_USER, **member},
            OTHER_USER: {"id": OTHER_USER, **member},
            GUEST: {"id": GUEST, **member, "is_restricted": True},
            SINGLE_CHANNEL_GUEST: {"id": SINGLE_CHANNEL_GUEST, **member, "is_ultra_restricted": True},
            EXTERNAL: {"id": EXTERNAL, **member, "team_id": "T0OTHERORG"},
        })  # fmt: skip
        slack = slack_settings(fake).model_copy(
            update={
                "channels": {HR_CHANNEL: ChannelPolicy(collections=["hr", "public"])},
                "group_collections": {HR_GROUP: ["hr"]},
            }
        )
        runtime = replace(running, settings=running.settings.model_copy(update={"slack": slack}))
        yield Workspace(fake=fake, app=build_app(runtime, http=True))
        assert fake.check_all_calls() == []


def _mention(ws: Workspace, user: str, *, shared_externally: bool = False) -> str:
    event = payloads.event_callback(payloads.app_mention(QUESTION, channel=HR_CHANNEL, user=user))
    event["is_ext_shared_channel"] = shared_externally
    send(ws.app, ws.fake, event)
    [message] = wait_for_answers(ws.fake, HR_CHANNEL, event["event"]["ts"])
    return block_text(message["blocks"])


def _dm(ws: Workspace, user: str) -> str:
    channel = f"D0{user[2:]}"
    event = payloads.event_callback(payloads.message_im(QUESTION, channel=channel, user=user))
    send(ws.app, ws.fake, event)
    [message] = wait_for_answers(ws.fake, channel, event["event"]["ts"])
    return block_text(message["blocks"])


def test_a_dm_gets_the_union_of_the_askers_groups(workspace: Workspace) -> None:
    assert "salarissen.md" in _dm(workspace, HR_USER)
    other = _dm(workspace, OTHER_USER)
    assert "salarissen.md" not in other and "welkom.md" in other


def test_a_channel_answer_uses_what_channel_and_asker_share(workspace: Workspace) -> None:
    assert "salarissen.md" not in _mention(workspace, OTHER_USER)  # in the hr channel, not in the group
    assert "salarissen.md" in _mention(workspace, HR_USER)


@pytest.mark.parametrize("guest", [GUEST, SINGLE_CHANNEL_GUEST])
def test_guests_get_nothing_even_in_a_granted_group(workspace: Workspace, guest: str) -> None:
    for shown in (_mention(workspace, guest), _dm(workspace, guest)):
        assert "salarissen.md" not in shown and "welkom.md" not in shown


def test_people_from_another_organisation_get_nothing(workspace: Workspace) -> None:
    shown = _mention(workspace, EXTERNAL, shared_externally=True)
    assert "salarissen.md" not in shown and "welkom.md" not in shown


def test_a_channel_shared_with_another_organisation_is_answered_only_from_what_it_may_read(
    workspace: Workspace,
) -> None:
    shown = _mention(workspace, HR_USER, shared_externally=True)  # the external members read the answer too
    assert "salarissen.md" not in shown


def test_bron_sources_search_uses_the_persons_scope(workspace: Workspace) -> None:
    def search(user: str) -> str:
        url = workspace.fake.new_response_url()
        form = payloads.slash_command("/bron-sources", "salaris directeur", user=user, channel=HR_CHANNEL,
                                      response_url=url)  # fmt: skip
        send(workspace.app, workspace.fake, form)
        return str(workspace.fake.wait_for_response(url=url)[0].body)

    assert "salarissen.md" not in search(OTHER_USER)
    assert "salarissen.md" in search(HR_USER)


def test_a_group_dm_thread_follow_up_is_answered_only_from_what_the_group_may_read(
    workspace: Workspace,
) -> None:
    """A group DM (mpim) is read by everyone in it, so it is not the asker's private DM: a follow-up in
    its thread (a `message` event with channel_type `mpim`, no mention) searches what channel and asker
    share, like the mention that opened the thread. On e37db44 it searched the asker's whole union."""
    group = "G0GROUPDM01"
    opening = payloads.event_callback(payloads.app_mention("Is koffie gratis?", channel=group, user=HR_USER))
    send(workspace.app, workspace.fake, opening)
    thread = opening["event"]["ts"]
    wait_for_answers(workspace.fake, group, thread)
    follow_up = payloads.message_im(QUESTION, channel=group, user=HR_USER, thread_ts=thread)
    follow_up["channel_type"] = "mpim"
    send(workspace.app, workspace.fake, payloads.event_callback(follow_up))
    _, answer = wait_for_answers(workspace.fake, group, thread, n=2)
    shown = block_text(answer["blocks"])
    assert "welkom.md" in shown and "salarissen.md" not in shown
