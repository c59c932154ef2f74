"""Citation renumbering, verified re-citation, attribution clean-up and the answerability check."""

from dataclasses import dataclass

from serving.answerability import uncovered_terms
from serving.citations import renumber_citations
from serving.verification import clean_draft, rewrite_citations


@dataclass(frozen=True)
class Checked:
    sentence: str
    citations: tuple[int, ...]
    supported: bool
    attributed: tuple[int, ...]


def test_citations_are_renumbered_in_order_of_first_use_and_bad_ones_dropped() -> None:
    out = renumber_citations("Leave is 25 days [3]. Pay comes in May [1, 3]. See [9].", n_sources=4)
    assert out.text == "Leave is 25 days [1]. Pay comes in May [2][1]. See."
    assert out.cited == [3, 1]
    assert out.invalid == [9]


def test_markers_are_rewritten_to_the_verified_citations() -> None:
    text = rewrite_citations(
        [
            Checked("You get 25 days.", (), True, (2,)),
            Checked("Pay comes in May [1].", (1,), True, (3,)),
            Checked("Both say so [1][2].", (1, 2), True, (2, 1)),
            Checked("The CEO likes cats [2].", (2,), False, (2,)),
            Checked("Nobody says this [9].", (9,), False, ()),
        ]
    )
    assert text == (
        "You get 25 days [2]. Pay comes in May [3]. Both say so [2][1]. The CEO likes cats [2]. Nobody says this [9]."
    )


def test_attribution_openings_are_dropped_in_both_languages() -> None:
    assert clean_draft("According to the sources, you get 25 days.") == "You get 25 days."
    assert clean_draft("Volgens de bronnen krijg je 25 dagen.") == "Krijg je 25 dagen."
    assert clean_draft("You get 25 days.") == "You get 25 days."


def test_question_topic_missing_from_sources_is_reported() -> None:
    sources = [("Sanne Veldhoven has been our CEO since 2019.", "en")]
    assert uncovered_terms(
        "What is the name of the CEO's dog?", "The CEO's dog is Sanne Veldhoven.", sources
    ) == ["dog"]
    good = [("Medewerkers krijgen 25 vakantiedagen per jaar.", "nl")]
    assert uncovered_terms("Hoeveel vakantiedagen krijg ik?", "Je krijgt 25 vakantiedagen.", good) == []
    # across languages a lexical test says nothing, so it stays silent
    assert uncovered_terms("How many vacation days?", "You get 25 vacation days.", good) == []
