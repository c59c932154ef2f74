"""Serving settings: where the OpenAI-compatible server is, which model or adapter, and answer policy."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, field_validator


class LocalServerSettings(BaseModel):
    """The llama.cpp server Bron starts itself when no `llm_base_url` is set."""

    model_path: Path | None = None
    threads: int = 1
    context_tokens: int = 4096
    start_timeout_s: float = 180.0
    port: int = 0


class ServingSettings(BaseModel):
    llm_base_url: str | None = None
    llm_api_key: str = "not-needed"
    model: str = "bron-local"
    adapter: str | None = None
    request_timeout_s: float = 120.0
    max_retries: int = 3
    max_tokens: int = 320
    temperature: float = 0.1
    context_tokens: int = 1400
    local: LocalServerSettings = LocalServerSettings()
    # chosen for the whole pipeline on CLAPnq's tune half: bench/answers/abstention-end-to-end.json
    min_dense_score: float = 0.8625
    cross_language_margin: float = 0.03
    # sources below the evidence bar less this stay out of the prompt; unset: every retrieved source
    source_margin: float | None = Field(default=0.0, ge=0.0)
    min_sources: int = 1
    llm_judge: bool = False

    @field_validator("adapter", "llm_base_url", "source_margin", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        """An empty environment variable means "not set", not a model called ''."""
        return None if value == "" else value
