"""qgen's one exception type for callers, carrying the one line the CLI prints."""

from __future__ import annotations

__all__ = ["QgenError", "VerificationError"]


class QgenError(ValueError):
    """Bad input to qgen: the message names the field, the value and the rule.

    verify's SpecError is re-raised as a QgenError with the same message, so that a
    library caller catches one type; the CLI prints ``str(error)`` and exits 2.
    """


class VerificationError(QgenError):
    """Independent methods disagreed about an answer: it is not emitted."""
