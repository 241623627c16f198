"""Expression answers: equivalent forms are accepted, different functions rejected, and
unreadable or malicious text gives AnswerParseError with a reason, never a crash or hang."""

import contextlib
import signal
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qgen.errors import QgenError
from qgen.symbolic_answers import AnswerParseError, equivalent, parse_answer

# A guard against a hang, not a speed test: reading and comparing an answer takes
# milliseconds; anything near this bound means a refused input was computed after all.
HANG_GUARD_SECONDS = 20


@contextlib.contextmanager
def no_hang(seconds: int = HANG_GUARD_SECONDS):
    def fail(signum, frame):
        raise AssertionError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, fail)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize(("first", "second", "activation"), [
    ("a - y", "-(y - a)", None),
    ("a - y", "-y + a", None),
    ("a - y", "sigma(z) - y", "sigmoid"),
    ("a - y", "sigmoid(z) − y", "sigmoid"),  # a Unicode minus, as pasted from a PDF
    ("a - y", "1/(1 + exp(-z)) - y", "sigmoid"),
    ("a_j - y_j", "a - y", None),
    ("a*(1 - a)*(a - y)", "a(1-a)(a-y)", None),
    ("a*(1 - a)*(a - y)", "σ(z)(1 - σ(z))(σ(z) - y)", "sigmoid"),
    ("a*(1 - a)", "exp(-z)/(1 + exp(-z))^2", "sigmoid"),
    ("(1 - a**2)*(a - y)", "(a - y)(1 - a^2)", None),
    ("(1 - a**2)*(a - y)", "(tanh(z) - y)*(1 - tanh(z)**2)", "tanh"),
    ("(1 - a**2)*(a - y)", "(1-a)(1+a)(a-y)", None),
    ("a - 2*y + 1", "2((1 + a)/2 - y)", None),
    ("2*a - 2*y", "2a - 2y", None),
    ("0.5*(a - y)", "(a - y)/2", None),
    ("(a - y)*step(z)", "(a - y)*(z > 0)", None),
    ("(a - y)*step(z)", "(max(0, z) - y)*heaviside(z)", "relu"),
    ("(a - y)*step(z)", "(relu(z) - y) * step(z)", "relu"),
    ("(a - y)*step(z)", "(z - y)*step(z)", "relu"),
    ("a - y", "z - y", "linear"),
    ("-y/a", "-y*a**(-1)", None),
])
def test_equivalent_forms_of_one_answer_are_accepted(first, second, activation):
    assert equivalent(first, second, activation=activation)
    assert equivalent(second, first, activation=activation)


@pytest.mark.parametrize(("first", "second", "activation"), [
    ("a - y", "y - a", None),
    ("a - y", "a + y", None),
    ("a - y", "a*(1 - a)*(a - y)", None),
    ("a - y", "a*(1 - a)*(a - y)", "sigmoid"),
    ("(1 - a**2)*(a - y)", "(1 - a)*(a - y)", "tanh"),
    ("(a - y)*step(z)", "a - y", "relu"),
    ("(a - y)*step(z)", "(a - y)*step(-z)", None),
    ("a - y", "2*(a - y)", None),
    ("a - y", "a - y + 1e-6", None),
    ("a - y", "tanh(z) - y", "sigmoid"),
    ("a - y", "log(a - 2) - y", None),  # undefined where the answer is defined
])
def test_different_functions_are_rejected(first, second, activation):
    assert not equivalent(first, second, activation=activation)
    assert not equivalent(second, first, activation=activation)


def test_without_an_activation_a_is_a_free_symbol():
    # a - y equals sigma(z) - y only once a stands for sigma(z): the caller says so.
    assert not equivalent("a - y", "sigma(z) - y")
    assert equivalent("a - y", "sigma(z) - y", activation="sigmoid")
    # softmax's a_j has no scalar form of z: a stays free.
    assert equivalent("a - y", "-(y - a)", activation="softmax")


def _balanced_sum(leaves: int) -> str:
    """a + a + ... as a balanced tree: many parts, little depth."""
    if leaves == 1:
        return "a"
    half = leaves // 2
    return f"({_balanced_sum(half)}+{_balanced_sum(leaves - half)})"


@pytest.mark.parametrize(("text", "reason"), [
    ("__import__('os')", "unknown name '__import__'"),
    ("__import__('os').system('ls')", "attribute"),
    ("os.system('rm -rf /')", "attribute"),
    ("().__class__.__bases__[0]", "subscript"),
    ("9**9**9**9", "exponent"),
    ("2**10**10", "exponent"),
    ("(10**60)**64", "exponent larger than 64"),
    ("999999999**50", "too large"),
    ("a**(10**100)", "exponent"),
    ("x" * 10**6, "longer than"),
    ("a + " * 100 + "a", "longer than"),
    ("(" * 200 + "a" + ")" * 200, "longer than"),
    ("-" * 200 + "a", "nests deeper"),
    ("+".join(["a"] * 60), "nests deeper"),
    (_balanced_sum(64), "parts"),
    ("123456789012345678901234567890", "digits"),
    ("1e999", "too large"),
    ("exp(exp(exp(100)))", "of a number alone"),
    ("step(pi - 3)", "of a number alone"),
    ("(e > pi)", "of a number alone"),
    ("0.5**(10**15 - y*0)", "raised to a power with variables"),
    ("(-3)**(min(sqrt(z), 10**15))", "raised to a power with variables"),
    ("a**(pi + 10**15)", "exponent"),
    ("", "empty"),
    ("   ", "empty"),
    ("a +", "syntax"),
    ("a y", "syntax"),
    ("foo(z)", "unknown name 'foo'"),
    ("b - y", "unknown name 'b'"),
    ("sigma", "is a function"),
    ("sigma(z, y)", "takes 1 argument"),
    ("max(a)", "takes 2 arguments"),
    ("exp(z=1)", "keyword"),
    ("'a - y'", "str"),
    ("a[0]", "subscript"),
    ("lambda: a", "lambda"),
    ("a if y else z", "if-expression"),
    ("a == y", "=="),
    ("a < y < z", "chains"),
    ("[a, y]", "list"),
    ("a % y", "%"),
    ("(a := 1)", "assignment"),
    ("1j * a", "unknown name 'j'"),
    ("a\x00", "syntax"),
])
def test_unreadable_or_malicious_input_gives_a_clear_error(text, reason):
    with no_hang(), pytest.raises(AnswerParseError) as error:
        parse_answer(text)
    assert reason in str(error.value)
    assert "cannot be read as an expression" in str(error.value)
    assert isinstance(error.value, QgenError)


@pytest.mark.parametrize("value", [None, 3, b"a - y", ["a"]])
def test_input_that_is_not_text_gives_a_clear_error(value):
    with pytest.raises(AnswerParseError, match="not text"):
        parse_answer(value)


def test_equivalent_reports_an_unreadable_side_instead_of_deciding():
    with no_hang(), pytest.raises(AnswerParseError, match="exponent"):
        equivalent("a - y", "9**9**9**9")
    with pytest.raises(AnswerParseError, match="unknown name"):
        equivalent("__import__('os')", "a - y")


def test_an_unknown_activation_is_a_qgen_error_naming_it():
    with pytest.raises(QgenError, match="activation='swish'"):
        equivalent("a - y", "a - y", activation="swish")


def test_huge_but_allowed_expressions_are_decided_quickly():
    with no_hang():
        assert not equivalent("exp(exp(exp(z)))", "a")
        assert not equivalent("exp(exp(exp(100*z)))", "exp(exp(exp(100*z))) + 1")
        assert not equivalent("999999**50", "a")
        assert equivalent("(a + y)**64", "(y + a)**64")


# Inputs a fuzzer found that once kept SymPy busy for minutes (exact powers inside a
# sign test, Piecewise conditions simplified while printing, a gcd inside tanh).
FUZZED = [
    ("(a--((-(3-0)^min(sqrt(z),10**15))>2))", "relu"),
    ("((-pi^-1)>-tanh(((-a+min(z,0))+y)))", "tanh"),
    ("(1+log(log(sigma((step(a)/-a)))))", "tanh"),
    ("log(tanh(exp((-999999999999999/(y**pi)))))*2", "linear"),
    ("((a/2)**(999999999999999+a))>(0.5*(pi**0.5))", None),
    ("(sigma((10**15+10**15))**sigma(0.5-pi))>relu(a)", None),
    ("tanh(((1+2)>(relu((sigma(a)>(2>y)))^(min(max(z,y),(a-2))**(y^(y^0))))))", "sigmoid"),
]


@pytest.mark.parametrize(("text", "activation"), FUZZED)
def test_inputs_that_once_kept_sympy_busy_are_decided_or_refused(text, activation):
    with no_hang(), contextlib.suppress(AnswerParseError):
        assert equivalent(text, f"{text}+0*y", activation=activation) in (True, False)


ANSWER_CHARS = "ayz()+-*/^ .0123456789,sigmatnhexplorelu_<>"


@given(st.text(max_size=300))
def test_any_text_is_read_or_refused_with_answer_parse_error(text):
    with no_hang(), contextlib.suppress(AnswerParseError):
        parse_answer(text)


@given(st.text(alphabet=ANSWER_CHARS, max_size=60))
def test_every_readable_answer_is_equivalent_to_itself_and_comparing_never_crashes(text):
    with no_hang():
        try:
            parse_answer(text)
        except AnswerParseError:
            return
        assert equivalent(text, text)
        assert equivalent(text, f"({text})", activation="tanh")
        equivalent(text, "a - y", activation="sigmoid")  # decides, whatever the result


def test_importing_the_module_does_not_import_sympy():
    code = ("import sys, qgen.symbolic_answers\n"
            "print('sympy' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "False"
