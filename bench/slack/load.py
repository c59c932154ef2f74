"""Print HTTP-mode load figures: `.venv/bin/python bench/slack/load.py [--events 200 --seconds 10]`.

Same run as tests/load/test_http_load.py (real Slack path, dedupe, retrieval and SQL; a fixed-answer
stand-in for the LLM); see tests/load/http_load.py for what is and is not real.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.load.http_load import run_load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--duplicate-share", type=float, default=0.1)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as workdir:
        figures = run_load(
            Path(workdir), events=args.events, seconds=args.seconds, duplicate_share=args.duplicate_share
        )
    print("\n".join(figures.lines()))


if __name__ == "__main__":
    main()
