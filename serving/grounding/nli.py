"""An NLI or hallucination-detection model that a deployment has on disk, plugged into the check.

None ships offline here, so the checker's default is embedding evidence plus lexical checks. A
deployment that has a sequence-classification model (an MNLI cross-encoder, a DeBERTa NLI model, a
consistency classifier) points `BRON_SERVING__NLI_MODEL` at its folder; the checker then scores each
claim by the probability of the label named by `BRON_SERVING__NLI_ENTAILMENT_LABEL`, with the claim as
hypothesis and the passage the embedder found for it as premise. NLI models are trained on short
premises, and scoring against the nearest sentences rather than a whole document is what lets them
work on long texts (SummaC, Laban et al. 2022).

It calls transformers directly rather than sentence-transformers' CrossEncoder, whose constructor and
activation defaults changed across its major versions; this is the one forward pass both would run.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from serving.errors import ModelFileError


class EntailmentModel(Protocol):
    """P(premise supports hypothesis) for each pair, in 0..1."""

    name: str

    def entailment(self, pairs: Sequence[tuple[str, str]]) -> list[float]: ...


class NLIModel:
    """A Hugging Face sequence-classification model folder, read from disk and never downloaded."""

    def __init__(
        self,
        path: Path,
        *,
        entailment_label: str = "entailment",
        threads: int | None = None,
        max_length: int = 512,
        device: str | None = None,
    ) -> None:
        """`device`: a torch device; by default CUDA where torch sees one, else the CPU."""
        if not (path / "config.json").is_file():
            raise ModelFileError(
                f"no NLI model at {path} (config.json missing): point BRON_SERVING__NLI_MODEL at a "
                "Hugging Face sequence-classification folder, or unset it"
            )
        try:
            import torch
            from transformers import AutoModelForSequenceClassification, AutoTokenizer
        except ImportError as exc:
            raise ModelFileError(
                "the NLI model needs torch and transformers: run `make evidence-model` "
                "(or pip install -e '.[evidence]')"
            ) from exc
        if threads:
            torch.set_num_threads(threads)
        self._torch = torch
        self._tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        self._device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        model = AutoModelForSequenceClassification.from_pretrained(str(path), local_files_only=True)
        self._model = model.to(self._device).eval()
        # the model's own position limit, where it is below the one asked for
        limits = [max_length, getattr(model.config, "max_position_embeddings", None)]
        self._max_length = min(int(n) for n in limits if isinstance(n, int) and n > 0)
        self._index = label_index(self._model.config, entailment_label, path)
        self.name = f"nli:{path.resolve().name}"
        self._lock = threading.Lock()  # one forward pass at a time: torch's CPU threads are shared

    def entailment(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        if not pairs:
            return []
        premises, hypotheses = zip(*pairs, strict=True)
        batch = self._tokenizer(
            list(premises), list(hypotheses), padding=True, truncation="longest_first",
            max_length=self._max_length, return_tensors="pt",
        ).to(self._device)  # fmt: skip
        with self._lock, self._torch.inference_mode():
            logits = self._model(**batch).logits.float()
        if logits.shape[-1] == 1:  # a single "supported" logit
            probabilities = self._torch.sigmoid(logits[:, 0])
        else:
            probabilities = self._torch.softmax(logits, dim=-1)[:, self._index]
        return [float(p) for p in probabilities.cpu()]


def label_index(config: Any, wanted: str, path: Path) -> int:
    """The output index of `wanted` in the model's id2label, compared without case."""
    labels = {int(i): str(name) for i, name in config.id2label.items()}
    if len(labels) == 1:
        return 0
    matches = [i for i, name in labels.items() if name.lower() == wanted.lower()]
    if len(matches) != 1:
        named = ", ".join(labels[i] for i in sorted(labels))
        raise ModelFileError(
            f"the NLI model at {path} has no output label {wanted!r} (it has: {named}); set "
            "BRON_SERVING__NLI_ENTAILMENT_LABEL to the one that means the text is supported"
        )
    return matches[0]
