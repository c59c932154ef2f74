"""Evaluation measures, the promotion gate and adapter installation (no model needed)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from finetune.adapters import install_version, read_pointer, rollback
from finetune.errors import PromotionError
from finetune.evaluate import ModelScores, cites_validly, decide, promote, report, token_f1


def scores(model: str, cite: float, ground: float, f1: float, failed: int = 0) -> ModelScores:
    return ModelScores(model=model, examples=10, citation_rate=cite, groundedness=ground, token_f1=f1,
                       failed=failed, seconds=1.0)  # fmt: skip


def test_token_f1_ignores_citations_case_and_accents() -> None:
    assert token_f1("Je krijgt 25 vakantiedagen [2].", "je krijgt 25 vakantiedagen [1]") == 1.0
    assert token_f1("Vijfentwintig", "25 dagen") == 0.0
    assert 0.0 < token_f1("Partners get one week of birth leave", "Partners get one working week [1]") < 1.0


def test_citations_must_exist_and_be_in_range() -> None:
    assert cites_validly("Yes [1] and [3].", 3)
    assert not cites_validly("Yes [4].", 3)
    assert not cites_validly("Yes, 14 characters.", 3)


def test_a_worse_adapter_is_refused_and_an_equal_one_passes() -> None:
    base = scores("bron-base", 0.8, 0.7, 0.4)
    assert decide(base, scores("bron-handbook", 0.9, 0.75, 0.5)).promote
    assert decide(base, scores("bron-handbook", 0.79, 0.7, 0.4)).promote  # within tolerance
    refused = decide(base, scores("bron-handbook", 0.9, 0.5, 0.5))
    assert not refused.promote and refused.reasons[0].startswith("groundedness")
    assert not decide(base, scores("bron-handbook", 0.9, 0.7, 0.4, failed=2)).promote


def make_adapter(path: Path, marker: str) -> Path:
    path.mkdir(parents=True)
    (path / "adapter_config.json").write_text(json.dumps({"r": 8, "marker": marker}))
    (path / "adapter_model.safetensors").write_bytes(b"\0")
    return path


def test_promotion_needs_a_passing_report_for_this_adapter(tmp_path: Path) -> None:
    adapter = make_adapter(tmp_path / "a1", "one")
    served = tmp_path / "served"
    with pytest.raises(PromotionError, match="no evaluation report"):
        promote(adapter, served_dir=served, family="bron-handbook", eval_report=None)
    failing = tmp_path / "fail.json"
    failing.write_text(json.dumps(report(scores("b", 0.9, 0.9, 0.5), scores("a", 0.1, 0.1, 0.1),
                                         decide(scores("b", 0.9, 0.9, 0.5), scores("a", 0.1, 0.1, 0.1)),
                                         adapter_dir=adapter)))  # fmt: skip
    with pytest.raises(PromotionError, match="refused this adapter"):
        promote(adapter, served_dir=served, family="bron-handbook", eval_report=failing)
    assert not served.exists()
    passing = tmp_path / "pass.json"
    good = scores("a", 0.9, 0.9, 0.5)
    passing.write_text(json.dumps(report(good, good, decide(good, good), adapter_dir=tmp_path / "other")))
    with pytest.raises(PromotionError, match="evaluated"):
        promote(adapter, served_dir=served, family="bron-handbook", eval_report=passing)
    passing.write_text(json.dumps(report(good, good, decide(good, good), adapter_dir=adapter)))
    assert (
        promote(adapter, served_dir=served, family="bron-handbook", eval_report=passing) == "bron-handbook-v1"
    )
    assert json.loads((served / "bron-handbook-v1" / "adapter_config.json").read_text())["marker"] == "one"
    assert read_pointer(served).active == "bron-handbook-v1"


def test_each_promotion_is_a_new_version_and_rollback_returns_to_the_previous(tmp_path: Path) -> None:
    served = tmp_path / "served"
    first = promote(make_adapter(tmp_path / "a1", "one"), served_dir=served, family="bron-handbook",
                    eval_report=None, force=True, base_model="/models/base")  # fmt: skip
    second = promote(make_adapter(tmp_path / "a2", "two"), served_dir=served, family="bron-handbook",
                     eval_report=None, force=True)  # fmt: skip
    assert (first, second) == ("bron-handbook-v1", "bron-handbook-v2")
    config = json.loads((served / first / "adapter_config.json").read_text())
    assert config["marker"] == "one" and config["base_model_name_or_path"] == "/models/base"
    assert json.loads((served / second / "adapter_config.json").read_text())["marker"] == "two"
    assert read_pointer(served).active == second and read_pointer(served).previous == first
    assert rollback(served, to=None, vllm_urls=[], vllm_root=None, api_key=None).active == first
    assert read_pointer(served).active == first
    with pytest.raises(PromotionError, match="never replaced in place"):
        install_version(
            make_adapter(tmp_path / "a3", "three"), served_dir=served, name=first, base_model=None
        )
    with pytest.raises(PromotionError, match=r"no adapter_config\.json"):
        install_version(tmp_path / "a1" / "missing", served_dir=served, name="x", base_model=None)
    with pytest.raises(PromotionError, match="not an installed adapter"):
        rollback(served, to="bron-handbook-v9", vllm_urls=[], vllm_root=None, api_key=None)


@pytest.fixture
def server_without_lora_endpoint() -> Iterator[str]:
    """An HTTP server that, like vLLM without VLLM_ALLOW_RUNTIME_LORA_UPDATING, has no such route."""

    class NotFound(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.send_response(404)
            self.end_headers()
            self.wfile.write(b'{"detail":"Not Found"}')

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), NotFound)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()


def test_hot_load_says_how_to_enable_runtime_lora(tmp_path: Path, server_without_lora_endpoint: str) -> None:
    adapter = make_adapter(tmp_path / "a1", "one")
    served = tmp_path / "served"
    with pytest.raises(PromotionError, match="VLLM_ALLOW_RUNTIME_LORA_UPDATING=True"):
        promote(adapter, served_dir=served, family="bron-handbook", eval_report=None, force=True,
                vllm_urls=[server_without_lora_endpoint])  # fmt: skip
    # a version no replica could load is not left behind, and Bron was never pointed at it
    assert not (served / "bron-handbook-v1").exists() and read_pointer(served).active is None
