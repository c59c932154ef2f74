"""The support margin is chosen like the evidence bar: the lower share first, then the other."""

from evaluation.support_margin import choose_margin, outcome_at


def _row(answerable: bool, gold: bool, *scores: float) -> dict[str, object]:
    return {"id": str(scores), "answerable": answerable, "cited_gold": gold, "scores": list(scores)}


def test_a_borderline_wrong_answer_is_declined_and_a_clear_right_one_kept() -> None:
    rows = [
        _row(True, True, 0.80),
        _row(True, True, 0.70, 0.43),
        _row(False, False, 0.425),
        _row(False, False, 0.90),
    ]
    totals = {"answerable": 3, "unanswerable": 3}
    at_zero = outcome_at(rows, totals, 0.42, 0.0)
    assert at_zero["answered_share"] == round(2 / 3, 4) and at_zero["declined_share"] == round(1 / 3, 4)
    at_two = outcome_at(rows, totals, 0.42, 0.02)
    assert at_two["answered_share"] == round(2 / 3, 4) and at_two["declined_share"] == round(2 / 3, 4)
    assert at_two["good_answers_marked"] == 0.5  # the 0.43 sentence is shown with a mark
    chosen = choose_margin(rows, totals, 0.42)
    assert chosen["chosen"] == 0.01  # the smallest margin that declines the 0.425 answer
