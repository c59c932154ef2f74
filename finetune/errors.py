"""Errors of the fine-tuning pipeline, each with a message that says what to fix.

Kept in a module with no imports so the command line can catch them without loading torch, the LLM
client or the data pipeline (a GPU host runs `train` with only torch, transformers and peft).
"""


class FinetuneError(Exception):
    """Root of the pipeline's errors."""


class ExampleFormatError(FinetuneError, ValueError):
    """A line of an SFT file is not a chat example; the message names the file and line."""


class TrainingError(FinetuneError, RuntimeError):
    """Training cannot start or finish."""


class PromotionError(FinetuneError, RuntimeError):
    """The adapter was not promoted; the message says why and what to do."""
