"""Opposites: a claim that says "decreased", "unpaid" or "minder" where its evidence says the reverse.

An embedding puts a word and its opposite almost on top of each other ("sales rose" / "sales fell"),
so opposites are looked up literally: a claim word counts when the evidence lacks it but uses its
opposite, from a short bilingual list of pairs that matter in company documents (more/less,
before/after, allowed/forbidden, approved/rejected) or by a negating prefix (efficient/inefficient,
mogelijk/onmogelijk). Only a word the evidence does not also use counts, so "more or less" is no clash.
"""

from __future__ import annotations

from collections.abc import Iterable

_PAIRS = (
    # English: quantity, time, direction, permission, outcome
    ("all", "some"), ("all", "none"), ("any", "none"), ("always", "never"), ("always", "sometimes"),
    ("more", "less"), ("more", "fewer"), ("most", "least"), ("many", "few"), ("before", "after"),
    ("earlier", "later"), ("early", "late"), ("first", "last"), ("start", "end"),
    ("increase", "decrease"), ("increased", "decreased"), ("increases", "decreases"),
    ("increase", "decline"), ("increased", "declined"), ("rise", "fall"), ("rose", "fell"),
    ("grow", "shrink"), ("growth", "decline"), ("higher", "lower"), ("high", "low"), ("up", "down"),
    ("above", "below"), ("over", "under"), ("larger", "smaller"), ("large", "small"),
    ("maximum", "minimum"), ("gain", "loss"), ("gains", "losses"), ("profit", "loss"),
    ("win", "lose"), ("won", "lost"), ("success", "failure"), ("buy", "sell"), ("bought", "sold"),
    ("cheap", "expensive"), ("free", "paid"), ("with", "without"), ("include", "exclude"),
    ("included", "excluded"), ("internal", "external"), ("public", "private"), ("publicly", "secretly"),
    ("allowed", "forbidden"), ("permitted", "prohibited"), ("required", "optional"),
    ("mandatory", "optional"), ("must", "may"), ("accept", "reject"), ("accepted", "rejected"),
    ("approve", "reject"), ("approved", "rejected"), ("agree", "disagree"), ("agreed", "refused"),
    ("support", "oppose"), ("supports", "opposes"), ("supported", "opposed"),
    ("encourage", "discourage"), ("encourages", "discourages"), ("add", "remove"),
    ("added", "removed"), ("keep", "delete"), ("hire", "fire"), ("hired", "fired"), ("join", "leave"),
    ("joined", "left"), ("send", "receive"), ("sent", "received"), ("open", "closed"),
    ("new", "old"), ("long", "short"), ("same", "different"), ("good", "bad"), ("better", "worse"),
    ("best", "worst"), ("great", "terrible"), ("strong", "weak"), ("positive", "negative"),
    ("easy", "difficult"), ("easy", "hard"), ("true", "false"), ("yes", "no"), ("known", "unknown"),
    ("friend", "enemy"), ("friends", "enemies"), ("input", "output"),
    # Dutch
    ("alle", "sommige"), ("alle", "geen"), ("altijd", "nooit"), ("altijd", "soms"), ("meer", "minder"),
    ("meeste", "minste"), ("veel", "weinig"), ("voor", "na"), ("voordat", "nadat"), ("eerder", "later"),
    ("vroeg", "laat"), ("eerste", "laatste"), ("begin", "einde"), ("stijging", "daling"),
    ("stijgt", "daalt"), ("gestegen", "gedaald"), ("stijgen", "dalen"), ("groei", "krimp"),
    ("hoger", "lager"), ("hoog", "laag"), ("boven", "onder"), ("groter", "kleiner"), ("groot", "klein"),
    ("maximaal", "minimaal"), ("maximum", "minimum"), ("winst", "verlies"), ("winnen", "verliezen"),
    ("kopen", "verkopen"), ("goedkoop", "duur"), ("gratis", "betaald"), ("met", "zonder"),
    ("inclusief", "exclusief"), ("intern", "extern"), ("publiek", "prive"), ("openbaar", "geheim"),
    ("toegestaan", "verboden"), ("verplicht", "optioneel"), ("verplicht", "vrijwillig"),
    ("moet", "mag"), ("goedgekeurd", "afgewezen"), ("eens", "oneens"), ("toevoegen", "verwijderen"),
    ("aannemen", "ontslaan"), ("ontvangen", "verstuurd"), ("open", "gesloten"), ("nieuw", "oud"),
    ("lang", "kort"), ("zelfde", "ander"), ("beter", "slechter"), ("goed", "slecht"), ("ja", "nee"),
    ("bekend", "onbekend"),
)  # fmt: skip
OPPOSITES: dict[str, frozenset[str]] = {}
for _a, _b in _PAIRS:
    OPPOSITES[_a] = OPPOSITES.get(_a, frozenset()) | {_b}
    OPPOSITES[_b] = OPPOSITES.get(_b, frozenset()) | {_a}
# un-/in-/dis-/non- (English), on-/niet- (Dutch): "inefficient" against "efficient"
_PREFIXES = ("un", "in", "im", "il", "ir", "dis", "non", "non-", "de", "on", "niet-")
_MIN_STEM = 5  # "income" is no opposite of "come", nor "display" of "play"


def _prefix_opposite(word: str, evidence: frozenset[str]) -> bool:
    if len(word) < _MIN_STEM:
        return False
    for prefix in _PREFIXES:
        rest = word[len(prefix) :]
        if word.startswith(prefix) and len(rest) >= _MIN_STEM and rest in evidence:
            return True
        if prefix + word in evidence:
            return True
    return False


def opposed_words(claim_words: Iterable[str], evidence_words: Iterable[str]) -> tuple[str, ...]:
    """Folded claim words the evidence lacks while it has their opposite (listed or by prefix)."""
    evidence = frozenset(evidence_words)
    out = []
    for word in dict.fromkeys(claim_words):
        if word in evidence:
            continue
        if OPPOSITES.get(word, frozenset()) & evidence or _prefix_opposite(word, evidence):
            out.append(word)
    return tuple(out)
