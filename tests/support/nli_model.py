"""A small NLI model built on the spot: a one-layer BERT sequence classifier with a word-level tokenizer.

No NLI model ships offline here, so tests build one with the real transformers classes and save it as a
deployment's folder would be laid out. Its weights are random, except that `favour` can pin the
classifier to one label: that makes its verdict known in advance while everything in front of the
classifier (tokenising premise and hypothesis as a pair, the encoder) still runs. Weights are drawn
wider than BERT's default so that different inputs give visibly different outputs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any


def build_nli_model(
    folder: Path,
    *,
    labels: Sequence[str] = ("contradiction", "neutral", "entailment"),
    favour: str | None = None,
    words: Iterable[str] = (),
    config: Any = None,
) -> Path:
    """`config`: a transformers config to build instead of the one-layer BERT (its labels are set here)."""
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import AutoModelForSequenceClassification, BertConfig, PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
    known = sorted({w for text in words for w in re.findall(r"\w+", text.lower())})
    vocab = {token: i for i, token in enumerate([*specials, *known])}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]"
    )
    config = config or BertConfig(
        vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=256, initializer_range=0.5,
    )  # fmt: skip
    config.num_labels = len(labels)
    config.id2label = dict(enumerate(labels))
    config.label2id = {name: i for i, name in enumerate(labels)}
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_config(config)
    if favour is not None:
        with torch.no_grad():
            model.classifier.weight.zero_()
            model.classifier.bias.zero_()
            model.classifier.bias[list(labels).index(favour)] = 8.0
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder
