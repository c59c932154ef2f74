"""The CLAPnq summary counts answers, declines and how each decline happened."""

from evaluation.answers import Case, Outcome, summarise, wilson_interval


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


def test_shares_come_with_a_95_percent_interval_that_narrows_with_more_questions() -> None:
    small = summarise([_outcome(True, i % 5 == 0) for i in range(10)] + [_outcome(False, True)] * 10)
    large = summarise([_outcome(True, i % 5 == 0) for i in range(150)] + [_outcome(False, True)] * 150)
    lo, hi = small["ci95"]["answered_share"]  # type: ignore[index]
    assert lo < 0.8 < hi and (lo, hi) == (0.4902, 0.9433)  # Wilson's interval for 8 of 10
    lo150, hi150 = large["ci95"]["answered_share"]  # type: ignore[index]
    assert lo < lo150 < 0.8 < hi150 < hi and hi150 - lo150 < 0.14
    assert large["ci95"]["declined_share"][1] == 1.0  # type: ignore[index]
    assert wilson_interval(0, 0) is None
