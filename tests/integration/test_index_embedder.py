"""Issue 21: another index embedder as one setting (`BRON_RETRIEVAL__EMBEDDER_MODEL`).

Real EmbeddingGemma-300M where `make evidence-model` installed it (`.ci/run` does), else skipped with
the reason; the settings check needs no model.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.runtime import open_search
from bot.settings import Settings
from retrieval.ingest import ingest_paths
from retrieval.shape import IndexShapeError

ROOT = Path(__file__).resolve().parents[2]
MODEL = Path(os.environ.get("BRON_TEST_EVIDENCE_MODEL", ROOT / ".bron" / "models" / "embeddinggemma-300m"))
HANDBOOK = ROOT / "retrieval" / "sample_handbook"
BARS = {"min_dense_score": 0.5, "quote_bar": None}


def test_another_embedder_without_its_bars_is_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="MIN_DENSE_SCORE"):
        Settings(data_dir=tmp_path, retrieval={"embedder_model": MODEL})  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="QUOTE_BAR"):
        Settings(data_dir=tmp_path, retrieval={"embedder_model": MODEL}, serving={"min_dense_score": 0.5})  # type: ignore[arg-type]
    Settings(data_dir=tmp_path, retrieval={"embedder_model": MODEL}, serving=BARS)  # type: ignore[arg-type]
    assert Settings(data_dir=tmp_path, retrieval={"embedder_model": ""}).retrieval.embedder_model is None  # type: ignore[arg-type]


@pytest.mark.skipif(
    not (MODEL / "modules.json").is_file(), reason=f"no model at {MODEL}: run `make evidence-model`"
)
def test_the_index_is_built_with_the_configured_embedder_and_finds_the_other_language(tmp_path: Path) -> None:
    pages = tmp_path / "pages"
    pages.mkdir()
    for name in ("pension.md", "vakantie-en-verlof.md", "it-security.md"):
        (pages / name).write_text((HANDBOOK / name).read_text(encoding="utf-8"), encoding="utf-8")
    settings = Settings(data_dir=tmp_path / "bron", retrieval={"embedder_model": MODEL}, serving=BARS)  # type: ignore[arg-type]
    with open_search(settings) as search:
        assert search.embedder.name == "st:embeddinggemma-300m" and search.embedder.dim == 768
        report = ingest_paths([pages], backend=search.backend, embedder=search.embedder)
        assert not report.failed, report.failed
        hits = search.retriever.search("Hoeveel draagt de werkgever bij aan mijn pensioen?", k=3).hits
        assert Path(hits[0].chunk.doc_id).name == "pension.md"
    # the index remembers its embedder: opening it with e5 is refused until `bron reindex`
    with (
        pytest.raises(IndexShapeError, match="reindex"),
        open_search(Settings(data_dir=tmp_path / "bron")) as e5,
    ):
        e5.retriever.search("pensioen", k=1)
