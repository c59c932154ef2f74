"""Everything Bron says in Slack, in English and Dutch; the language follows the question."""

from __future__ import annotations

from typing import Literal

Backend = Literal["search", "llm", "store", "other"]

_TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "sources": "Sources",
        "closest": "Closest sources",
        "grounded": "Grounded: {score}",
        "unsupported": "⚠️ marks a sentence the cited sources do not support.",
        "weak": "⚠️ marks a sentence the cited sources support only weakly: check it there.",
        "quoted": "Quoted word for word: my own wording of the answer did not pass the check.",
        "uncovered": "⚠️ No document uses these words from the question: {terms}. Check that the answer fits.",
        "sources_button": "Sources",
        "searching": "Searching the handbook…",
        "unavailable.search": "Sorry, I can't reach the document search right now; please try again in a few minutes.",
        "unavailable.llm": "Sorry, I can't reach the language model right now; please try again in a few minutes.",
        "unavailable.store": "Sorry, I can't reach my database right now; please try again in a few minutes.",
        "unavailable.other": "Sorry, something went wrong while answering; please try again in a few minutes.",
        "too_long": "That question is too long for me: please ask it in at most {limit} characters.",
        "empty": "Ask me a question about the documents, e.g. `/bron how many vacation days do I get?`",
        "thanks": "Thanks for the feedback!",
        "flagged": "Thanks, I've flagged that answer for review. Want to tell us what was wrong?",
        "tell_more": "Tell us more",
        "modal_title": "Feedback",
        "modal_submit": "Send",
        "modal_reason": "What was wrong?",
        "modal_comment": "Anything else?",
        "modal_correct": "The correct answer (if you know it)",
        "reason.incorrect": "Incorrect",
        "reason.outdated": "Outdated",
        "reason.incomplete": "Incomplete",
        "reason.not_helpful": "Not helpful",
        "no_message": "I can't find a Bron answer at that link. Add words after the link to search the sources for them.",
        "used_sources": "Sources used for that answer",
        "supporting": "what the answer rests on:",
        "search_results": "Closest sources for “{query}”",
        "no_results": "No sources found for “{query}”.",
        "reviewers_only": "Only reviewers can see the flags.",
        "no_flags": "No open flags. 🎉",
        "open_flags": "Latest open flags",
        "greeting": "Hi! Ask me anything about the handbook; I answer with numbered sources.",
        "share": "Share in channel",
        "share_refused": "I can't share this answer here: it uses sources this channel may not see.",
        "shared_by": "{user} asked Bron: {question}",
        "ask_person": "Ask a person",
        "asked_person": "{owner}, {user} would like a person to check this answer.",
        "files_only": "I can only read text, not files or images. Please type your question; I answer from the handbook.",
        "feedback_not_saved": "Sorry, I couldn't record your feedback right now; please try again in a few minutes.",
        "busy": "Sorry, I'm answering a lot of questions right now; please ask again in a minute.",
        "user_busy": "I'm still working on your earlier questions; please ask this one again once they're answered.",
    },
    "nl": {
        "sources": "Bronnen",
        "closest": "Dichtstbijzijnde bronnen",
        "grounded": "Onderbouwd: {score}",
        "unsupported": "⚠️ markeert een zin die de geciteerde bronnen niet onderbouwen.",
        "weak": "⚠️ markeert een zin die de geciteerde bronnen maar zwak onderbouwen: controleer hem daar.",
        "quoted": "Letterlijk geciteerd: mijn eigen formulering van het antwoord doorstond de controle niet.",
        "uncovered": "⚠️ Geen document gebruikt deze woorden uit de vraag: {terms}. Controleer of het antwoord klopt.",
        "sources_button": "Bronnen",
        "searching": "Ik zoek in het handboek…",
        "unavailable.search": "Sorry, ik kan de documenten nu niet doorzoeken; probeer het over een paar minuten opnieuw.",
        "unavailable.llm": "Sorry, ik kan het taalmodel nu niet bereiken; probeer het over een paar minuten opnieuw.",
        "unavailable.store": "Sorry, ik kan mijn database nu niet bereiken; probeer het over een paar minuten opnieuw.",
        "unavailable.other": "Sorry, er ging iets mis bij het antwoorden; probeer het over een paar minuten opnieuw.",
        "too_long": "Die vraag is te lang voor mij: stel hem in hoogstens {limit} tekens.",
        "empty": "Stel me een vraag over de documenten, bijv. `/bron hoeveel vakantiedagen heb ik?`",
        "thanks": "Bedankt voor je feedback!",
        "flagged": "Bedankt, ik heb dat antwoord gemarkeerd voor controle. Wil je vertellen wat er mis was?",
        "tell_more": "Vertel meer",
        "modal_title": "Feedback",
        "modal_submit": "Verstuur",
        "modal_reason": "Wat was er mis?",
        "modal_comment": "Nog iets?",
        "modal_correct": "Het juiste antwoord (als je het weet)",
        "reason.incorrect": "Onjuist",
        "reason.outdated": "Verouderd",
        "reason.incomplete": "Onvolledig",
        "reason.not_helpful": "Niet behulpzaam",
        "no_message": "Ik vind geen Bron-antwoord bij die link. Zet woorden achter de link om daarop in de bronnen te zoeken.",
        "used_sources": "Bronnen die voor dat antwoord zijn gebruikt",
        "supporting": "waar het antwoord op steunt:",
        "search_results": "Dichtstbijzijnde bronnen voor “{query}”",
        "no_results": "Geen bronnen gevonden voor “{query}”.",
        "reviewers_only": "Alleen reviewers kunnen de meldingen zien.",
        "no_flags": "Geen open meldingen. 🎉",
        "open_flags": "Nieuwste open meldingen",
        "greeting": "Hoi! Vraag me alles over het handboek; ik antwoord met genummerde bronnen.",
        "share": "Deel in kanaal",
        "share_refused": "Ik kan dit antwoord hier niet delen: het gebruikt bronnen die dit kanaal niet mag zien.",
        "shared_by": "{user} vroeg Bron: {question}",
        "ask_person": "Vraag een collega",
        "asked_person": "{owner}, {user} wil dat iemand dit antwoord controleert.",
        "files_only": "Ik kan alleen tekst lezen, geen bestanden of afbeeldingen. Typ je vraag; ik antwoord uit het handboek.",
        "feedback_not_saved": "Sorry, ik kon je feedback nu niet opslaan; probeer het over een paar minuten opnieuw.",
        "busy": "Sorry, ik beantwoord nu heel veel vragen; stel je vraag over een minuut opnieuw.",
        "user_busy": "Ik ben nog bezig met je eerdere vragen; stel deze opnieuw zodra die beantwoord zijn.",
    },
}

SUGGESTED_PROMPTS = (
    {"title": "Vakantiedagen", "message": "Hoeveel vakantiedagen heb ik per jaar?"},
    {"title": "Expenses", "message": "How do I claim travel expenses?"},
    {"title": "Ziekmelding", "message": "Hoe meld ik me ziek?"},
)


def text(language: str, key: str, **values: str) -> str:
    table = _TEXTS.get(language, _TEXTS["en"])
    return table[key].format(**values) if values else table[key]


def unavailable(language: str, backend: Backend) -> str:
    """The polite message for a backend outage: never the exception text, which stays in the log."""
    return text(language, f"unavailable.{backend}")


def score(language: str, value: float) -> str:
    """0.92 in English, 0,92 in Dutch."""
    formatted = f"{value:.2f}"
    return formatted.replace(".", ",") if language == "nl" else formatted
