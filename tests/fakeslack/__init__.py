"""A local fake of Slack for the test suite: Web API, response_url, Socket Mode, signing, payloads.

Slack is unreachable from CI, so tests run the real app (slack_bolt, slack_sdk)
against this fake over real HTTP and websockets; see
shared/notes/slack-testing.md for why this seam and what it must cover.
"""

from tests.fakeslack import ids, payloads
from tests.fakeslack.records import Call, ResponsePost
from tests.fakeslack.server import FakeSlack
from tests.fakeslack.signing import sign, signature
from tests.fakeslack.validation import check_blocks, check_call

__all__ = [
    "Call",
    "FakeSlack",
    "ResponsePost",
    "check_blocks",
    "check_call",
    "ids",
    "payloads",
    "sign",
    "signature",
]
