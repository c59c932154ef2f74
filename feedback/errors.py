"""Errors that cross the feedback-store boundary."""


class StoreError(Exception):
    """The feedback store could not complete a request."""


class StoreUnavailableError(StoreError):
    """The database cannot be reached; feedback goes to the spool file meanwhile."""
