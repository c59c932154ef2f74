"""Choosing the evidence bar on the tune half, reporting it on the other."""

import json
from pathlib import Path

from evaluation.abstention import (
    Evidence,
    auc,
    choose_bar,
    choose_bars,
    evidence_from_log,
    rates,
    summarise_bar,
)
from evaluation.answers import half_of


def _ev(scores: list[float], answerable: bool, half: str = "tune") -> list[Evidence]:
    return [Evidence(answerable=answerable, half=half, score=s) for s in scores]


def test_the_bar_separates_the_two_kinds_and_prefers_answering_on_a_tie() -> None:
    evidence = _ev([0.90, 0.88, 0.87], True) + _ev([0.80, 0.82, 0.86], False)
    bar = choose_bar(evidence)
    assert 0.86 < bar <= 0.87
    assert rates(evidence, bar) == (1.0, 1.0)
    assert auc(evidence) == 1.0


def test_overlap_costs_one_side() -> None:
    evidence = _ev([0.90, 0.84], True) + _ev([0.85, 0.80], False)
    answered, declined = rates(evidence, choose_bar(evidence))
    assert answered + declined == 1.5
    assert auc(evidence) == 0.75


def test_the_bar_lifts_the_weaker_share_rather_than_the_sum() -> None:
    evidence = _ev([0.9] * 16 + [0.8] * 4, True) + _ev([0.5] * 14 + [0.85] * 3 + [0.95] * 3, False)
    # a bar just above 0.5 answers everything but declines only 70 % (sum 1.70); just above 0.85
    # answers 80 % and declines 85 % (sum 1.65): both aims of 80 % are met only there
    bar = choose_bar(evidence)
    assert 0.85 < bar <= 0.9
    assert rates(evidence, bar) == (0.8, 0.85)


def test_the_report_half_is_scored_with_the_tune_half_bar() -> None:
    evidence = _ev([0.90, 0.88], True) + _ev([0.80, 0.82], False)
    evidence += _ev([0.81], True, "report") + _ev([0.70], False, "report")
    out = summarise_bar(evidence, current_bar=0.5)
    assert out["report"]["answered_share"] == 0.0  # type: ignore[index]
    assert out["report"]["with_current_bar"]["answered_share"] == 1.0  # type: ignore[index]


def test_another_embedders_lower_cosines_get_a_bar_on_their_own_scale() -> None:
    """EmbeddingGemma's question-passage cosines lie around 0.3-0.6, all below e5's lowest bar 0.70."""
    evidence = _ev([0.55, 0.52, 0.50], True) + _ev([0.40, 0.42, 0.47], False)
    out = summarise_bar(evidence, current_bar=0.5)
    assert 0.47 < out["chosen_bar"] <= 0.50  # type: ignore[operator]
    assert out["tune"]["answered_share"] == 1.0 and out["tune"]["declined_share"] == 1.0  # type: ignore[index]


def test_the_split_is_fixed_and_roughly_even() -> None:
    halves = [half_of(str(i)) for i in range(1000)]
    assert halves == [half_of(str(i)) for i in range(1000)]
    assert 400 < halves.count("tune") < 600


def test_an_end_to_end_log_lowers_the_bar_when_the_model_declines_by_itself(tmp_path: Path) -> None:
    # the model itself declined the two unanswerable questions with strong evidence, so the whole
    # pipeline can afford a lower bar than retrieval alone suggests
    ids = [i for i in map(str, range(200)) if half_of(i) == "tune"][:6]
    lines = [
        {
            "id": ids[0],
            "answerable": True,
            "evidence": 0.90,
            "abstained": False,
            "declined_before_generation": False,
        },
        {
            "id": ids[1],
            "answerable": True,
            "evidence": 0.85,
            "abstained": False,
            "declined_before_generation": False,
        },
        {
            "id": ids[2],
            "answerable": False,
            "evidence": 0.88,
            "abstained": True,
            "declined_before_generation": False,
        },
        {
            "id": ids[3],
            "answerable": False,
            "evidence": 0.86,
            "abstained": True,
            "declined_before_generation": False,
        },
        {
            "id": ids[4],
            "answerable": False,
            "evidence": 0.83,
            "abstained": False,
            "declined_before_generation": False,
        },
        {
            "id": ids[5],
            "answerable": False,
            "evidence": 0.75,
            "abstained": True,
            "declined_before_generation": True,
        },
    ]
    log = tmp_path / "run.answers.jsonl"
    log.write_text("".join(json.dumps(x) + "\n" for x in lines))
    evidence, lowest = evidence_from_log(log)
    assert lowest == 0.83
    assert [e.declined_later for e in evidence] == [False, False, True, True, False, False]
    bar = choose_bar(evidence, lo=lowest)
    assert 0.83 < bar <= 0.85
    assert rates(evidence, bar) == (1.0, 1.0)
    retrieval_only = [Evidence(e.answerable, e.half, e.score) for e in evidence]
    assert sum(rates(retrieval_only, choose_bar(retrieval_only, lo=lowest))) == 1.5


def test_the_quote_bar_recovers_rejected_answerable_drafts_above_the_rejected_unanswerable_ones() -> None:
    answered = _ev([0.90] * 6, True)
    rejected_answerable = [Evidence(True, "tune", s, rejected=True) for s in (0.95, 0.93, 0.91, 0.86)]
    declined = _ev([0.70] * 8, False)
    rejected_unanswerable = [Evidence(False, "tune", s, rejected=True) for s in (0.89, 0.88)]
    evidence = answered + rejected_answerable + declined + rejected_unanswerable
    # never quoting answers 6 of 10; quoting above 0.89 answers 9 and still declines all 10
    assert rates(evidence, 0.85) == (0.6, 1.0)
    bar, quote_bar = choose_bars(evidence, lo=0.80)
    assert quote_bar is not None and 0.89 < quote_bar <= 0.91
    assert rates(evidence, bar, quote_bar) == (0.9, 1.0)
    assert choose_bar(evidence, lo=0.80) == bar  # the evidence bar alone counts rejected drafts as declined
    # a retrieval-only run has no drafts, so no quote bar
    assert choose_bars(answered + declined, lo=0.80)[1] is None


def test_a_log_marks_rejected_drafts_apart_from_other_declines_after_generation(tmp_path: Path) -> None:
    ids = [i for i in map(str, range(200)) if half_of(i) == "tune"][:4]
    rows = [
        {"id": ids[0], "answerable": True, "evidence": 0.9, "abstained": True,
         "declined_before_generation": False, "unsupported_draft": "It is 8 [1]."},
        {"id": ids[1], "answerable": True, "evidence": 0.9, "abstained": False,
         "declined_before_generation": False, "unsupported_draft": "It is 8 [1].", "quoted": True},
        {"id": ids[2], "answerable": False, "evidence": 0.9, "abstained": True,
         "declined_before_generation": False, "unsupported_draft": None},
        {"id": ids[3], "answerable": False, "evidence": 0.5, "abstained": True,
         "declined_before_generation": True},
    ]  # fmt: skip
    log = tmp_path / "run.answers.jsonl"
    log.write_text("".join(json.dumps(x) + "\n" for x in rows))
    evidence, _ = evidence_from_log(log)
    assert [e.rejected for e in evidence] == [True, True, False, False]
    assert [e.declined_later for e in evidence] == [False, False, True, False]
    assert rates(evidence, 0.6, 0.85) == (1.0, 1.0)
    assert rates(evidence, 0.6, None) == (0.0, 1.0)


def test_a_held_evidence_bar_leaves_only_the_quote_bar_to_choose() -> None:
    evidence = _ev([0.90] * 6, True) + [Evidence(True, "tune", s, rejected=True) for s in (0.95, 0.86)]
    evidence += _ev([0.70] * 8, False) + [Evidence(False, "tune", s, rejected=True) for s in (0.89, 0.88)]
    # quoting every rejected draft declines 8 of 10 unanswerable questions; above 0.89, 10 of 10 and 7 of 8
    bar, quote_bar = choose_bars(evidence, lo=0.80, bar=0.82)
    assert bar == 0.82 and quote_bar is not None and 0.89 < quote_bar <= 0.95
    assert rates(evidence, bar, quote_bar) == (0.875, 1.0)
