"""Groundedness: does each sentence of an answer rest on the source it cites?

`GroundednessChecker.check(answer, sources)` returns a `GroundednessReport` with one `SentenceCheck`
per claim: its support score, the issues found (a number or name the source lacks, a negation
mismatch), and whether another source supports it better than the cited one (a wrong citation).
"""

from serving.grounding.checker import (
    Combiner,
    GroundednessChecker,
    GroundednessReport,
    SentenceCheck,
)
from serving.grounding.claims import Claim, split_claims, split_sentences

__all__ = [
    "Claim",
    "Combiner",
    "GroundednessChecker",
    "GroundednessReport",
    "SentenceCheck",
    "split_claims",
    "split_sentences",
]
