"""One chat client for every OpenAI-compatible server: vLLM in production, llama.cpp locally.

Retries with exponential backoff on 429/5xx and connection errors come from the `openai` client
(`max_retries`); this module adds streaming with time-to-first-token, a LoRA adapter chosen by model
name with a per-request fallback to the base model, a bound on requests in flight (vLLM itself queues
without limit, so a burst would otherwise wait minutes instead of hearing "busy"), and errors that tell
the user what to do.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
from openai.types.chat import ChatCompletionMessageParam

from serving.errors import GenerationError, LLMUnavailableError
from serving.settings import ServingSettings

log = logging.getLogger(__name__)

TokenCallback = Callable[[str], None]


@dataclass(frozen=True)
class Completion:
    text: str
    model: str
    first_token_ms: float
    total_ms: float
    completion_tokens: int | None = None


def read_active_adapter(path: Path) -> str | None:
    """The adapter `bron finetune promote` made active, from the pointer file it writes.

    A missing or unreadable pointer means "no adapter": the base model answers, never an error.
    """
    try:
        name = json.loads(path.read_text(encoding="utf-8")).get("active")
    except (OSError, ValueError, AttributeError):
        return None
    return name if isinstance(name, str) and name else None


class LLMClient:
    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        adapter: str | None,
        adapter_file: Path | None,
        adapter_retry_s: float,
        api_key: str,
        timeout_s: float,
        max_retries: int,
        max_tokens: int,
        temperature: float,
        max_in_flight: int | None,
        queue_timeout_s: float,
    ) -> None:
        self._client = openai.OpenAI(
            base_url=base_url, api_key=api_key, timeout=timeout_s, max_retries=max_retries
        )
        self.base_url = base_url
        self.base_model = model
        self._adapter = adapter
        self.adapter_file = adapter_file
        self.adapter_retry_s = adapter_retry_s
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.queue_timeout_s = queue_timeout_s
        self._slots = threading.BoundedSemaphore(max_in_flight) if max_in_flight else None
        # adapter name -> monotonic time before which requests go to the base model instead
        self._adapter_down_until: dict[str, float] = {}
        self._lock = threading.Lock()

    @property
    def adapter(self) -> str | None:
        """The adapter Bron should use: the promoted one named in the pointer file, else the setting."""
        if self.adapter_file is not None:
            return read_active_adapter(self.adapter_file) or self._adapter
        return self._adapter

    @adapter.setter
    def adapter(self, name: str | None) -> None:
        self._adapter = name

    @classmethod
    def from_settings(
        cls, settings: ServingSettings | None = None, *, base_url: str | None = None, **overrides: Any
    ) -> LLMClient:
        """The client the settings describe (the defaults where None); `base_url` for a server Bron started."""
        s = settings or ServingSettings()
        url = base_url or s.llm_base_url
        if url is None:
            raise LLMUnavailableError("no LLM server: set BRON_SERVING__LLM_BASE_URL")
        kwargs: dict[str, Any] = {
            "base_url": url,
            "model": s.model,
            "adapter": s.adapter,
            "adapter_file": s.adapter_file,
            "adapter_retry_s": s.adapter_retry_s,
            "max_in_flight": s.max_in_flight,
            "queue_timeout_s": s.queue_timeout_s,
            "api_key": s.llm_api_key.get_secret_value(),
            "timeout_s": s.request_timeout_s,
            "max_retries": s.max_retries,
            "max_tokens": s.max_tokens,
            "temperature": s.temperature,
        }
        return cls(**(kwargs | overrides))

    @property
    def model(self) -> str:
        """The adapter's name unless it failed recently (then the base model until its back-off ends)."""
        adapter = self.adapter
        if adapter and time.monotonic() >= self._adapter_down_until.get(adapter, 0.0):
            return adapter
        return self.base_model

    def _mark_adapter_down(self, adapter: str) -> None:
        with self._lock:
            self._adapter_down_until[adapter] = time.monotonic() + self.adapter_retry_s

    def available_models(self) -> list[str]:
        try:
            return [m.id for m in self._client.models.list()]
        except openai.APIConnectionError as exc:
            raise LLMUnavailableError(
                f"the LLM server at {self.base_url} cannot be reached; check that it is running "
                "(BRON_SERVING__LLM_BASE_URL)"
            ) from exc
        except openai.APIError as exc:
            raise GenerationError(f"the LLM server at {self.base_url} refused to list models: {exc}") from exc

    def check_adapter(self) -> None:
        """Warn, and use the base model for a back-off period, when the adapter is not served yet.

        With vLLM's filesystem LoRA resolver an adapter loads on its first request, so "not listed"
        is not final: requests try it again once the back-off has passed.
        """
        adapter = self.adapter
        if not adapter:
            return
        models = self.available_models()
        if adapter not in models:
            self._mark_adapter_down(adapter)
            log.warning(
                "LoRA adapter %r is not served by %s (models: %s); answering with base model %r "
                "and trying the adapter again in %.0f s",
                adapter, self.base_url, ", ".join(models), self.base_model, self.adapter_retry_s,
            )  # fmt: skip

    def chat(
        self,
        messages: Sequence[ChatCompletionMessageParam],
        *,
        on_token: TokenCallback | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> Completion:
        if self._slots is None:
            return self._chat(messages, on_token=on_token, max_tokens=max_tokens, temperature=temperature)
        if not self._slots.acquire(timeout=self.queue_timeout_s):
            raise LLMUnavailableError(
                f"the LLM server is busy (all {self.queue_timeout_s:.0f} s of waiting for a free slot used); "
                "try again in a minute"
            )
        try:
            return self._chat(messages, on_token=on_token, max_tokens=max_tokens, temperature=temperature)
        finally:
            self._slots.release()

    def _chat(
        self,
        messages: Sequence[ChatCompletionMessageParam],
        *,
        on_token: TokenCallback | None,
        max_tokens: int | None,
        temperature: float | None,
        model: str | None = None,
    ) -> Completion:
        model = model or self.model
        start = time.perf_counter()
        first: float | None = None
        parts: list[str] = []
        tokens: int | None = None
        try:
            stream = self._client.chat.completions.create(
                model=model,
                messages=list(messages),
                max_tokens=max_tokens or self.max_tokens,
                temperature=self.temperature if temperature is None else temperature,
                stream=True,
                stream_options={"include_usage": True},
            )
            for event in stream:
                if event.usage is not None:
                    tokens = event.usage.completion_tokens
                if not event.choices:
                    continue
                delta = event.choices[0].delta.content or ""
                if delta:
                    if first is None:
                        first = time.perf_counter()
                    parts.append(delta)
                    if on_token:
                        on_token(delta)
        except openai.NotFoundError as exc:
            if model != self.base_model and not parts:
                # this request goes to the base model; later ones try the adapter again after the back-off
                log.warning("model %r not found on %s; answering with base model %r, adapter retried in %.0f s",
                            model, self.base_url, self.base_model, self.adapter_retry_s)  # fmt: skip
                self._mark_adapter_down(model)
                return self._chat(messages, on_token=on_token, max_tokens=max_tokens, temperature=temperature,
                                  model=self.base_model)  # fmt: skip
            raise GenerationError(
                f"the LLM server at {self.base_url} does not serve model {model!r}; check BRON_SERVING__MODEL"
            ) from exc
        except (openai.APIConnectionError, openai.APITimeoutError) as exc:
            raise LLMUnavailableError(
                f"the LLM server at {self.base_url} did not answer ({type(exc).__name__}); "
                "it may be down or overloaded: try again in a minute"
            ) from exc
        except openai.RateLimitError as exc:
            raise LLMUnavailableError(
                "the LLM server is overloaded (429 after retries); try again shortly"
            ) from exc
        except openai.APIStatusError as exc:
            raise GenerationError(f"the LLM server answered HTTP {exc.status_code}: {exc.message}") from exc
        except openai.APIError as exc:
            # vLLM reports a failure after the stream began as an `{"error": ...}` event, which the client
            # raises as the base APIError
            raise GenerationError(f"the LLM server stopped the answer with an error: {exc.message}") from exc
        end = time.perf_counter()
        return Completion(
            text="".join(parts),
            model=model,
            first_token_ms=((first or end) - start) * 1000,
            total_ms=(end - start) * 1000,
            completion_tokens=tokens,
        )
