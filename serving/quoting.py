"""When the check supports nothing the model wrote, quote the source instead of declining.

A small model often words the right passage wrongly: "John Omalu" where the source says Bennet,
"episode 1" where it names none. Declining then hides a passage that does answer the question. Where
the evidence is strong (the quote bar, chosen with the evidence bar on CLAPnq's tune half), Bron
shows the one or two sentences of the sources closest to the question, word for word: a quote
cannot invent a figure or a name. It is marked as a quote, so nobody takes it for Bron's own wording.
"""

from __future__ import annotations

QUOTE_LEAD = {"en": "The sources say:", "nl": "De bronnen zeggen:"}


def quote_claim(window: str, source: int) -> str:
    """The quote as the checker and the citation renumbering read it: the window, cited."""
    return f"“{window.strip()}” [{source}]"


def with_lead(text: str, language: str) -> str:
    return f"{QUOTE_LEAD.get(language, QUOTE_LEAD['en'])} {text}"
