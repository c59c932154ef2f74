"""Every default lives once, in the settings: the config objects below take theirs from there.

A policy or config object with defaults of its own drifted from the settings before (AnswerPolicy's
top_k 6 against 5, quote_bar None against 0.9075, FusionConfig's rank constant 60 against 10), so
benchmarks ran a configuration nobody deployed. Each mapping below names the settings field behind a
config field; the tests check that the defaults agree and that a changed setting reaches the object.
"""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from bot.settings import Settings
from finetune.data import DataSettings
from retrieval.hybrid import FusionConfig, HybridRetriever
from retrieval.settings import RetrievalSettings
from serving.answer import AnswerPolicy
from serving.evidence_model import EvidenceModel
from serving.llm import LLMClient
from serving.local_server import LocalLLMServer
from serving.settings import ServingSettings

# config field -> (settings path, a value other than the default)
FUSION = {
    "method": ("retrieval.fusion", "zscore"),
    "rank_constant": ("retrieval.rrf_rank_constant", 37),
    "bm25_weight": ("retrieval.bm25_weight", 0.7),
    "dense_weight": ("retrieval.dense_weight", 1.3),
    "candidates": ("retrieval.candidates", 77),
}
POLICY = {
    "top_k": ("retrieval.top_k", 9),
    "context_tokens": ("serving.context_tokens", 999),
    "bar": ("serving.min_dense_score", 0.5),
    "cross_language_margin": ("serving.cross_language_margin", 0.07),
    "min_sources": ("serving.min_sources", 2),
    "source_margin": ("serving.source_margin", 0.02),
    "quote_bar": ("serving.quote_bar", 0.6),
    "condense": ("serving.condense", True),
}
LLM = {
    "base_model": ("serving.model", "other-model"),
    "adapter": ("serving.adapter", "an-adapter"),
    "max_tokens": ("serving.max_tokens", 99),
    "temperature": ("serving.temperature", 0.3),
    "adapter_retry_s": ("serving.adapter_retry_s", 5.0),
    "queue_timeout_s": ("serving.queue_timeout_s", 2.0),
    "adapter_file": ("serving.adapter_file", Path("active.json")),
    "_client.api_key": ("serving.llm_api_key", "a-key"),
    "_client.max_retries": ("serving.max_retries", 1),
    "_client.timeout": ("serving.request_timeout_s", 12.0),
}
LOCAL_SERVER = {
    "alias": ("serving.model", "other-model"),
    "threads": ("serving.local.threads", 3),
    "context_tokens": ("serving.local.context_tokens", 2048),
    "start_timeout_s": ("serving.local.start_timeout_s", 5.0),
}
DATA = {
    "max_words": ("retrieval.chunk_words", 240),
    "overlap_words": ("retrieval.chunk_overlap_words", 20),
    "context_tokens": ("serving.context_tokens", 999),
}


def _get(obj: object, path: str) -> Any:
    value: Any = obj
    for part in path.split("."):
        value = getattr(value, part)
    return (
        value.get_secret_value() if isinstance(value, SecretStr) else value
    )  # a key, as the client holds it


def _changed(mapping: dict[str, tuple[str, Any]]) -> Settings:
    """Settings with every field in `mapping` set to its non-default value."""
    nested: dict[str, Any] = {}
    for path, value in mapping.values():
        *parents, leaf = path.split(".")
        node = nested
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return Settings(**nested)


def _built(settings: Settings) -> dict[str, Any]:
    s, r = settings.serving, settings.retrieval
    return {
        "fusion": FusionConfig.from_settings(r),
        "policy": AnswerPolicy.from_settings(s, r),
        "llm": LLMClient.from_settings(s, base_url="http://127.0.0.1:9/v1"),
        "server": LocalLLMServer.from_settings(Path("model.gguf"), s),
    }


CASES = [("fusion", FUSION), ("policy", POLICY), ("llm", LLM), ("server", LOCAL_SERVER)]


@pytest.mark.parametrize(("name", "mapping"), CASES, ids=[c[0] for c in CASES])
def test_the_defaults_agree_with_the_settings(name: str, mapping: dict[str, tuple[str, Any]]) -> None:
    defaults = Settings()
    built = _built(defaults)[name]
    for field, (path, _) in mapping.items():
        assert _get(built, field) == _get(defaults, path), f"{name}.{field} != {path}"


@pytest.mark.parametrize(("name", "mapping"), CASES, ids=[c[0] for c in CASES])
def test_a_changed_setting_reaches_the_object(name: str, mapping: dict[str, tuple[str, Any]]) -> None:
    changed = _changed(mapping)
    built = _built(changed)[name]
    for field, (path, value) in mapping.items():
        assert _get(changed, path) == value != _get(Settings(), path)
        assert _get(built, field) == value, f"{name}.{field} did not follow {path}"


# config fields whose settings counterpart has another name (the policy holds the bar in force)
ALIASES = {
    "bar": "serving.bar",
    "quote_bar": "serving.quote_floor",
    "method": "retrieval.fusion",
    "rank_constant": "retrieval.rrf_rank_constant",
}


def _counterpart(field: str) -> str | None:
    if field in ALIASES:
        return ALIASES[field]
    for section in ("serving", "retrieval"):
        if field in type(getattr(Settings(), section)).model_fields:
            return f"{section}.{field}"
    return None


@pytest.mark.parametrize("config", [AnswerPolicy, FusionConfig])
def test_every_field_has_a_settings_counterpart_with_the_same_default(config: Any) -> None:
    """A field added to a config object is found by name (or in ALIASES): no mapping to keep up."""
    defaults = Settings()
    built = (
        config.from_settings(defaults.serving, defaults.retrieval)
        if config is AnswerPolicy
        else (config.from_settings(defaults.retrieval))
    )
    for f in dataclasses.fields(config):
        path = _counterpart(f.name)
        assert path is not None, f"{config.__name__}.{f.name} has no settings field of that name"
        assert getattr(built, f.name) == _get(defaults, path), f"{config.__name__}.{f.name} != {path}"


@pytest.mark.parametrize("config", [FusionConfig, AnswerPolicy, EvidenceModel])
def test_config_objects_have_no_defaults_of_their_own(config: type) -> None:
    missing = dataclasses.MISSING
    own = [
        f.name
        for f in dataclasses.fields(config)
        if f.default is not missing or f.default_factory is not missing
    ]
    assert own == []


@pytest.mark.parametrize(
    ("cls", "params"),
    [
        (
            LLMClient,
            [
                "api_key",
                "timeout_s",
                "max_retries",
                "max_tokens",
                "temperature",
                "adapter",
                "adapter_file",
                "adapter_retry_s",
                "max_in_flight",
                "queue_timeout_s",
            ],
        ),
        (LocalLLMServer, ["alias", "threads", "context_tokens", "port", "start_timeout_s"]),
    ],
)
def test_constructors_leave_settings_backed_parameters_to_from_settings(
    cls: type, params: tuple[str, ...]
) -> None:
    signature = inspect.signature(cls.__init__)  # type: ignore[misc]
    assert [p for p in params if signature.parameters[p].default is not inspect.Parameter.empty] == []


def test_the_evidence_models_bar_is_the_policys_bar(tmp_path: Path) -> None:
    """One bar on its way down: with an evidence model the policy holds the evidence model's bar."""
    serving = ServingSettings(evidence_model=tmp_path, evidence_bar=0.53, evidence_quote_bar=0.56)
    policy = AnswerPolicy.from_settings(serving)
    assert (policy.bar, policy.quote_bar) == (0.53, 0.56)
    assert AnswerPolicy.from_settings(ServingSettings(quote_bar="")).quote_bar is None  # type: ignore[arg-type]


def test_connected_sources_sync_as_configured() -> None:
    from connectors.sync import SyncPolicy

    defaults, policy = Settings(), SyncPolicy()
    assert (policy.max_words, policy.overlap_words) == (
        defaults.retrieval.chunk_words,
        defaults.retrieval.chunk_overlap_words,
    )
    assert policy.max_delete_share == defaults.sync.max_delete_share


def test_connectors_fetch_with_the_configured_timeout_and_retries() -> None:
    """The HTTP client had its own defaults (Retry-After capped at 120 s where the settings say 300)."""
    from connectors.http import Http
    from connectors.settings import SyncSettings

    for sync in (Settings().sync, SyncSettings(request_timeout_s=7, max_retries=2, max_retry_after_s=9)):
        http = Http(sync)
        assert (http.client.timeout.read, http.max_retries, http.max_wait_s) == (
            sync.request_timeout_s,
            sync.max_retries,
            sync.max_retry_after_s,
        )
    assert Http().max_wait_s == Settings().sync.max_retry_after_s


def test_fine_tuning_data_is_chunked_and_budgeted_as_production() -> None:
    defaults = Settings()
    data = DataSettings()
    for field, (path, _) in DATA.items():
        assert getattr(data, field) == _get(defaults, path)


def test_a_retriever_built_without_fusion_fuses_as_production() -> None:
    retriever = HybridRetriever(backend=None, embedder=None)  # type: ignore[arg-type]
    assert retriever.fusion == FusionConfig.from_settings(RetrievalSettings())
    assert retriever.fusion.rank_constant == Settings().retrieval.rrf_rank_constant
