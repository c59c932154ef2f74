"""Errors that cross the serving boundary, each with a message a user can act on."""


class GenerationError(Exception):
    """The LLM server could not produce an answer."""


class LLMUnavailableError(GenerationError):
    """The LLM server cannot be reached or is overloaded."""


class LLMStartError(GenerationError):
    """The local LLM server did not start; the message says why."""


class ModelFileError(GenerationError):
    """A bundled or configured model file is missing or corrupt."""
