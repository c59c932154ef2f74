"""An optional LLM judge, asked only about claims the cheap checks cannot decide.

It goes through the same OpenAI-compatible client as answering (vLLM or the local llama.cpp server),
so a deployment with a strong model gets a strong judge. Off by default: the bundled 0.5B model is
a weak judge, and each call costs as much as a short answer.
"""

from __future__ import annotations

import re

from serving.errors import GenerationError
from serving.llm import LLMClient

_PROMPT = """You check whether a claim is supported by a source text.
Source:
\"\"\"
{source}
\"\"\"
Claim: {claim}

Is every fact in the claim (names, numbers, dates, yes/no, who did what) stated in the source?
Answer with one word: YES or NO."""

MAX_SOURCE_CHARS = 4000


class LLMJudge:
    def __init__(self, client: LLMClient, *, max_source_chars: int = MAX_SOURCE_CHARS) -> None:
        self.client = client
        self.max_source_chars = max_source_chars

    def support(self, claim: str, source: str) -> float | None:
        """1.0 for YES, 0.0 for NO, None when the judge fails or answers neither (then it is ignored)."""
        prompt = _PROMPT.format(source=source[: self.max_source_chars], claim=claim)
        try:
            reply = self.client.chat(
                [{"role": "user", "content": prompt}], max_tokens=3, temperature=0.0
            ).text
        except GenerationError:
            return None
        word = re.findall(r"[a-z]+", reply.lower())
        if not word:
            return None
        if word[0] in ("yes", "ja"):
            return 1.0
        if word[0] in ("no", "nee"):
            return 0.0
        return None
