"""One chat client for every OpenAI-compatible server: vLLM in production, llama.cpp locally.

Retries with exponential backoff on 429/5xx and connection errors come from the `openai` client
(`max_retries`); this module adds streaming with time-to-first-token, a LoRA adapter chosen by model
name with a fallback to the base model, and errors that tell the user what to do.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import openai
from openai.types.chat import ChatCompletionMessageParam

from serving.errors import GenerationError, LLMUnavailableError

log = logging.getLogger(__name__)

TokenCallback = Callable[[str], None]


@dataclass(frozen=True)
class Completion:
    text: str
    model: str
    first_token_ms: float
    total_ms: float
    completion_tokens: int | None = None


class LLMClient:
    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        adapter: str | None = None,
        api_key: str = "not-needed",
        timeout_s: float = 120.0,
        max_retries: int = 3,
        max_tokens: int = 320,
        temperature: float = 0.1,
    ) -> None:
        self._client = openai.OpenAI(
            base_url=base_url, api_key=api_key, timeout=timeout_s, max_retries=max_retries
        )
        self.base_url = base_url
        self.base_model = model
        self.adapter = adapter
        self.max_tokens = max_tokens
        self.temperature = temperature
        self._adapter_missing = False

    @property
    def model(self) -> str:
        """The adapter's name while the server serves it, else the base model."""
        if self.adapter and not self._adapter_missing:
            return self.adapter
        return self.base_model

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
        """Fall back to the base model, with a warning, when the configured adapter is not served."""
        if not self.adapter:
            return
        models = self.available_models()
        self._adapter_missing = self.adapter not in models
        if self._adapter_missing:
            log.warning(
                "LoRA adapter %r is not served by %s (models: %s); answering with base model %r",
                self.adapter, self.base_url, ", ".join(models), self.base_model,
            )  # fmt: skip

    def chat(
        self,
        messages: Sequence[ChatCompletionMessageParam],
        *,
        on_token: TokenCallback | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> Completion:
        start = time.perf_counter()
        first: float | None = None
        parts: list[str] = []
        tokens: int | None = None
        try:
            stream = self._client.chat.completions.create(
                model=self.model,
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
            if self.adapter and not self._adapter_missing:
                log.warning("model %r not found on %s; retrying with base model %r", self.model, self.base_url,
                            self.base_model)  # fmt: skip
                self._adapter_missing = True
                return self.chat(messages, on_token=on_token, max_tokens=max_tokens, temperature=temperature)
            raise GenerationError(
                f"the LLM server at {self.base_url} does not serve model {self.model!r}; "
                "check BRON_SERVING__MODEL"
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
        end = time.perf_counter()
        return Completion(
            text="".join(parts),
            model=self.model,
            first_token_ms=((first or end) - start) * 1000,
            total_ms=(end - start) * 1000,
            completion_tokens=tokens,
        )
