"""Language guess on short Slack-style questions: function words alone vs `detect_language` (and lingua,
where installed), per split of bench/language/short_questions.json.

    PYTHONPATH=. .venv/bin/python bench/language/measure.py   # writes bench/language/results.json

The set was written before any detector ran on it; choices were made on `tune`, `report` is reported only.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

from retrieval.analysis import _DUTCH, _ENGLISH, detect_language, words

HERE = Path(__file__).parent


def function_words_only(text: str) -> str:
    """The detector before issue 21: function-word counts, ties to English."""
    tokens = words(text)
    nl = sum(t in _DUTCH for t in tokens)
    en = sum(t in _ENGLISH for t in tokens)
    return "nl" if nl > en else "en"


def detectors() -> dict[str, Callable[[str], str]]:
    found: dict[str, Callable[[str], str]] = {
        "function_words": function_words_only,
        "detect_language": detect_language,
    }
    try:
        from lingua import Language, LanguageDetectorBuilder
    except ImportError:
        return found
    lingua = LanguageDetectorBuilder.from_languages(Language.DUTCH, Language.ENGLISH).build()

    def by_lingua(text: str) -> str:
        return "nl" if lingua.detect_language_of(text) == Language.DUTCH else "en"

    def words_then_lingua(text: str) -> str:
        tokens = words(text)
        nl, en = sum(t in _DUTCH for t in tokens), sum(t in _ENGLISH for t in tokens)
        return by_lingua(text) if nl == en else ("nl" if nl > en else "en")

    found["lingua"] = by_lingua
    found["words_then_lingua"] = words_then_lingua
    return found


def main() -> None:
    rows = json.loads((HERE / "short_questions.json").read_text(encoding="utf-8"))["questions"]
    out: dict[str, object] = {"command": "PYTHONPATH=. .venv/bin/python bench/language/measure.py"}
    for name, detect in detectors().items():
        for split in ("tune", "report"):
            part = [r for r in rows if r["split"] == split]
            wrong = [r["text"] for r in part if detect(r["text"]) != r["language"]]
            accuracy = 1 - len(wrong) / len(part)
            out[f"{name}.{split}"] = {"n": len(part), "accuracy": round(accuracy, 4), "wrong": wrong}
            print(f"{name:16s} {split:6s} {accuracy:6.1%} of {len(part)}  wrong: {wrong}")
    (HERE / "results.json").write_text(json.dumps(out, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(out["command"], file=sys.stderr)


if __name__ == "__main__":
    main()
