"""verify: the math behind qgen, usable on its own.

specs (parse and validate), numeric (numpy reference), formulas (closed forms),
symbolic (SymPy derivations), finite_diff (central differences, complex step).
Heavy modules (sympy) load only when a symbolic function is first used.
"""

from verify.specs import SpecError

__all__ = ["SpecError", "gradcheck"]


def gradcheck(params, **options):
    """Central differences (complex step where analytic) for every parameter of a
    ``backprop-step`` network against the analytic gradient; see verify.finite_diff."""
    from verify.finite_diff import gradcheck as _gradcheck

    return _gradcheck(params, **options)
