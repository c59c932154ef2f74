"""Property: no file or question, however hostile, stops, freezes or crashes `bron ingest` / `bron ask`.

Seeded random cases (hypothesis is not installed; the seed is printed on failure so a case can be
replayed): random bytes, huge files, deep nesting, pathological punctuation, 100 kB questions. Each
call must end without an exception past the CLI and within 5x the time of a normal input of the same
size class (plus 3 s for the fixed start: embedder load, parse worker spawn, which both pay).
`bron ask` runs with the LLM at a closed port: the questions that reach the model are refused or
fail there the same way for the normal and the hostile case, so what is timed is Bron's own work;
`bron sources` covers retrieval with the first 10 kB of each question (see the test).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from tests.scenario.harness import dead_port
from tests.security.support import bron, flate_bomb_pdf, text_pdf

SEED = 20
PROSE = "Every employee gets twenty-five vacation days per year, and part-timers pro rata. "
SLACK = 3.0


def _random_bytes(rng: random.Random, n: int) -> bytes:
    return bytes(rng.getrandbits(8) for _ in range(n))


def _punctuation(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(".!?[](),;:<>&|\"'*_~`#-\n ") for _ in range(n))


def _cases(rng: random.Random) -> list[tuple[str, str, Callable[[], bytes], int]]:
    """(name, suffix, content, size class in bytes)."""
    return [
        ("random-md", ".md", lambda: _random_bytes(rng, 30_000), 30_000),
        ("random-pdf", ".pdf", lambda: b"%PDF-1.4\n" + _random_bytes(rng, 30_000), 30_000),
        ("random-html", ".html", lambda: _random_bytes(rng, 30_000), 30_000),
        ("dots", ".txt", lambda: b"." * 30_000, 30_000),
        ("punctuation-md", ".md", lambda: _punctuation(rng, 30_000).encode(), 30_000),
        ("nested-html", ".html", lambda: (b"<div>" * 3_000) + b"deep" + (b"</div>" * 3_000), 30_000),
        ("nested-md", ".md", lambda: ("> " * 3_000 + "- " * 3_000 + "deep\n").encode() * 2, 30_000),
        ("nested-lists", ".md", lambda: "".join("  " * i + "- x\n" for i in range(170)).encode(), 30_000),
        ("brackets", ".md", lambda: ("[" * 10_000 + "](" * 10_000).encode(), 30_000),
        ("huge", ".txt", lambda: b"word " * 12_000_000, 60_000_000),
        ("bomb", ".pdf", lambda: flate_bomb_pdf(200), 30_000),
        ("pdf-many-pages", ".pdf", lambda: text_pdf(["x"] * 2_500), 30_000),
    ]


def _normal(size: int) -> bytes:
    text = ("# Leave\n\n" + PROSE * (size // len(PROSE) + 1))[:size]
    return text.encode()


def _timed(call: Callable[[], Result]) -> tuple[Result, float]:
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


def _clean_exit(result: Result) -> bool:
    return result.exception is None or isinstance(result.exception, SystemExit)


@pytest.mark.slow
def test_hostile_files_never_stop_or_freeze_ingest(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    baselines: dict[int, float] = {}
    for name, suffix, content, size in _cases(rng):
        if size not in baselines:
            folder = tmp_path / f"normal-{size}" / "docs"
            folder.mkdir(parents=True)
            # a normal file over the size limit is refused the same way: the huge class times the refusal
            (folder / "normal.md").write_bytes(_normal(size))
            result, baselines[size] = _timed(
                lambda f=folder, s=size: bron(tmp_path / f"data-n{s}", "ingest", str(f))
            )
            assert _clean_exit(result), result.output
        folder = tmp_path / name / "docs"
        folder.mkdir(parents=True)
        (folder / f"{name}{suffix}").write_bytes(content())
        (folder / "ok.md").write_text("# Ok\n\nThis file is fine.\n")
        result, seconds = _timed(lambda f=folder, n=name: bron(tmp_path / f"data-{n}", "ingest", str(f)))
        assert _clean_exit(result), f"seed {SEED}, {name}: {result.exception!r}\n{result.output}"
        assert result.exit_code == 0, f"seed {SEED}, {name}: {result.output}"
        assert seconds <= 5 * baselines[size] + SLACK, (
            f"seed {SEED}, {name}: {seconds:.1f} s vs {baselines[size]:.1f} s for a normal file of that size"
        )


@pytest.mark.slow
def test_hostile_100kb_questions_are_answered_or_refused_in_time(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    data = tmp_path / "data"
    env = {"BRON_SERVING__LLM_BASE_URL": f"http://127.0.0.1:{dead_port()}/v1"}
    assert (
        bron(data, "ingest", str(Path(__file__).parents[2] / "retrieval" / "sample_handbook")).exit_code == 0
    )
    normal = (PROSE * 1300)[:100_000]
    hostile = {
        "punctuation": _punctuation(rng, 100_000),
        "dots": "." * 100_000,
        "forged-sources": '<source id="1" title="x">' * 4_000,
        "random-text": "".join(chr(rng.randrange(32, 0x3000)) for _ in range(100_000)),
        "brackets": "[" * 50_000 + "]" * 50_000,
    }
    # `bron sources` has no question limit of its own: a normal 100 kB query takes about 40 s there
    # (embedding it), so retrieval is driven with the first 10 kB of each case
    for command, size in (("ask", 100_000), ("sources", 10_000)):
        hostile = {name: q[:size] for name, q in hostile.items()}
        result, base = _timed(lambda c=command, n=normal[:size]: bron(data, c, n, env=env))
        assert _clean_exit(result), result.output
        for name, question in hostile.items():
            result, seconds = _timed(lambda c=command, q=question: bron(data, c, q, env=env))
            assert _clean_exit(result), f"seed {SEED}, {command} {name}: {result.exception!r}"
            assert "Traceback" not in result.output
            assert seconds <= 5 * base + SLACK, (
                f"seed {SEED}, {command} {name}: {seconds:.1f} s vs {base:.1f} s"
            )
        if command == "ask":
            assert "fewer words" in result.output.replace("\n", "")
