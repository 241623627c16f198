"""qgen: deep-learning practice and exam questions whose answers are proven.

``qgen.solve(family, params)`` answers one problem with its verification record.
"""

from qgen.errors import QgenError, VerificationError

__all__ = ["QgenError", "VerificationError", "solve"]
__version__ = "0.1.0"


def solve(family: str, params, **options) -> dict:
    """See :func:`qgen.problems.solve`; imported lazily to keep start-up light."""
    from qgen.problems import solve as _solve

    return _solve(family, params, **options)
