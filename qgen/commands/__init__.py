"""CLI commands kept in their own modules (each defines a click command named
``command``; qgen.cli registers it). Heavy imports happen inside the functions."""

from __future__ import annotations

__all__ = ["BadInput"]


class BadInput(Exception):
    """Raised inside commands for input the library rejected: the CLI prints the message
    as one line on stderr and exits with status 2."""
