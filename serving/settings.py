"""Serving settings: where the OpenAI-compatible server is, which model or adapter, and answer policy."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator


class LocalServerSettings(BaseModel):
    """The llama.cpp server Bron starts itself when no `llm_base_url` is set."""

    model_path: Path | None = None
    threads: int = 1
    context_tokens: int = 4096
    start_timeout_s: float = 180.0
    port: int = 0


class ServingSettings(BaseModel):
    llm_base_url: str | None = None
    llm_api_key: SecretStr = SecretStr("not-needed")
    model: str = "bron-local"
    adapter: str | None = None
    # the pointer `bron finetune promote` writes beside the adapters (read on every request): when set, the
    # adapter it names answers, so a promotion or rollback needs no restart; unset or unreadable: `adapter`
    adapter_file: Path | None = None
    # after a 404 for the adapter, requests use the base model for this long, then try the adapter again
    adapter_retry_s: float = Field(default=60.0, ge=0.0)
    # requests one Bron process has at the LLM at once; more wait up to queue_timeout_s, then hear "busy"
    max_in_flight: int | None = Field(default=32, ge=1)
    queue_timeout_s: float = Field(default=30.0, ge=0.0)
    request_timeout_s: float = 120.0
    max_retries: int = 3
    max_tokens: int = 320
    temperature: float = 0.1
    context_tokens: int = 1400
    local: LocalServerSettings = LocalServerSettings()
    # chosen for the whole pipeline on CLAPnq's tune half (bench/answers/abstention-end-to-end.json);
    # chosen together with quote_bar it would be 0.865, which lets 3 fewer of our 52 handbook questions through
    min_dense_score: float = 0.8625
    # when the check supports no sentence of the draft, Bron quotes the source passage closest to the
    # question instead of declining, if the evidence reaches this bar (chosen on the same tune half with
    # the bar held at 0.8625: bench/answers/quote-bar-e5.json); unset: it declines
    quote_bar: float | None = 0.9075
    cross_language_margin: float = 0.03
    # a follow-up that looks dependent is first rewritten by the model into a standalone question
    # (one call, <= 64 tokens; serving/conversation.py); off: searched with the conversation's topic
    condense: bool = False
    # a sentence the check supports by less than this above its threshold is marked, and an answer with
    # no sentence above threshold + margin is quoted or declined; chosen on CLAPnq's tune log (tune:
    # declined 80.0 -> 80.7 %, answered 78.0 % either way; report unchanged at 74.2 / 77.6 %;
    # bench/answers/support-margin.json, `bron eval support-margin`)
    support_margin: float = Field(default=0.01, ge=0.0)
    # sources below the evidence bar less this stay out of the prompt; unset: every retrieved source
    source_margin: float | None = Field(default=0.0, ge=0.0)
    min_sources: int = 1
    llm_judge: bool = False
    # an NLI or hallucination-detection model (a Hugging Face sequence-classification folder) for the
    # groundedness check; unset: embedding evidence and lexical checks (serving/grounding/nli.py)
    nli_model: Path | None = None
    nli_entailment_label: str = "entailment"
    nli_threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    nli_threads: int | None = None
    # a verifier head trained by `python -m evaluation.verifier --write-head` (serving/grounding/
    # verifier_head.json): it scores claims in place of the fitted combiner, at its own threshold
    verifier_head: Path | None = None
    # a stronger sentence-transformers model (a folder) that re-scores the top hits; the bar then applies
    # to its cosine (`make evidence-model` fetches EmbeddingGemma-300M; README, "Abstention")
    evidence_model: Path | None = None
    evidence_bar: float | None = None
    # quote_bar on the evidence model's scale (0.56 for EmbeddingGemma-300M); unset: decline
    evidence_quote_bar: float | None = None
    evidence_top_k: int = Field(default=3, ge=1)
    evidence_threads: int | None = None
    # how a chunk is laid out for the evidence model ({title}, {text}); empty: the model's own prompt
    evidence_passage_template: str = "title: {title} | text: {text}"

    @field_validator(
        "adapter",
        "adapter_file",
        "max_in_flight",
        "llm_base_url",
        "source_margin",
        "evidence_model",
        "evidence_bar",
        "quote_bar",
        "evidence_quote_bar",
        "nli_model",
        "verifier_head",
        mode="before",
    )
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        """An empty environment variable means "not set", not a model called ''."""
        return None if value == "" else value

    @model_validator(mode="after")
    def _evidence_model_has_a_bar(self) -> ServingSettings:
        """Each model's cosines live on their own scale, so the e5 bar cannot carry over."""
        if self.evidence_model is not None and self.evidence_bar is None:
            raise ValueError(
                "evidence_model is set without evidence_bar: set BRON_SERVING__EVIDENCE_BAR to the bar "
                "`bron eval abstention` chose for that model (0.5275 for EmbeddingGemma-300M, with "
                "BRON_SERVING__EVIDENCE_QUOTE_BAR=0.56)"
            )
        return self

    @property
    def bar(self) -> float:
        """The evidence bar in force: the evidence model's where one is set, else the index embedder's."""
        return (
            self.evidence_bar
            if self.evidence_model is not None and self.evidence_bar is not None
            else self.min_dense_score
        )

    @property
    def quote_floor(self) -> float | None:
        """The quote bar in force, on the same scale as `bar`."""
        return self.evidence_quote_bar if self.evidence_model is not None else self.quote_bar
