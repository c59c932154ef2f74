"""Print acknowledgement figures with every answer worker busy: `.venv/bin/python bench/slack/interactive.py`.

Defaults are the acceptance run (10 answers of 20 s in flight on a pool of 10, then 50 slash commands,
50 clicks and 20 modal submits); `--questions 35 --queue 10 --commands 10 --clicks 10 --submits 4` is
the run beyond the queue's capacity. Same code as tests/load/test_interactive_load.py.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.load.interactive_load import run_interactive_load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--questions", type=int, default=10)
    parser.add_argument("--commands", type=int, default=50)
    parser.add_argument("--clicks", type=int, default=50)
    parser.add_argument("--submits", type=int, default=20)
    parser.add_argument("--llm-seconds", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=10)
    parser.add_argument("--queue", type=int, default=40)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as workdir:
        figures = run_interactive_load(
            Path(workdir), questions=args.questions, commands=args.commands, clicks=args.clicks,
            submits=args.submits, llm_seconds=args.llm_seconds, workers=args.workers, queue=args.queue,
        )  # fmt: skip
    print("\n".join(figures.lines()))


if __name__ == "__main__":
    main()
