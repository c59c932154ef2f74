"""Errors that cross the retrieval boundary; callers show their message, never a traceback."""


class RetrievalError(Exception):
    """The search backend could not answer; the message says what to do next."""


class BackendUnavailableError(RetrievalError):
    """The search engine cannot be reached (network, credentials, missing index)."""


class DocumentError(RetrievalError):
    """One document could not be read or parsed; ingestion skips it and reports it."""


class EmbedderUnavailableError(RetrievalError):
    """A configured embedding model is missing from disk, or its libraries are not installed."""
