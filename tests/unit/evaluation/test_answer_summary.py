"""The CLAPnq summary counts answers, declines and how each decline happened."""

from evaluation.answers import Case, Outcome, summarise


def _outcome(answerable: bool, abstained: bool, before: bool = False, cited: tuple[str, ...] = ()) -> Outcome:
    case = Case(case_id="x", question="q?", answerable=answerable, gold_answer="25 days", gold_docs=("gold",))
    text = "I could not find the answer." if abstained else "You get 25 days [1]."
    return Outcome(case, text, abstained, list(cited), {"total_ms": 10.0}, declined_before_generation=before)


def test_declines_are_split_by_where_they_happened() -> None:
    outcomes = [
        _outcome(True, False, cited=("gold",)),
        _outcome(True, False, cited=("other",)),
        _outcome(True, True, before=True),
        _outcome(False, True, before=True),
        _outcome(False, True),
        _outcome(False, False),
        _outcome(False, True, before=True),
    ]
    s = summarise(outcomes)
    assert (s["answered_share"], s["answered_citing_gold_share"]) == (0.6667, 0.3333)
    assert s["declined_share"] == 0.75
    assert s["declined_before_generation"] == {"answerable": 0.3333, "unanswerable": 0.5}
    assert s["token_f1_answered"] == 0.6667  # "you get 25 days" against "25 days": P 0.5, R 1
