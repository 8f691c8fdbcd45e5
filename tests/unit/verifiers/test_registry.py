import pytest

from nlrl._exceptions import UnknownNameError, VerifierError
from nlrl.verifiers import VERIFIERS, Verdict, get_verifier


def test_checker_registry():
    assert VERIFIERS.names() == ["choice", "code", "collie", "math", "qa", "stdio", "yesno"]
    with pytest.raises(UnknownNameError, match="unknown checker 'regex'; known: choice, code, collie, math, qa, stdio, yesno"):
        get_verifier("regex")


def test_verdict_validates_score():
    assert Verdict(True, 1).score == 1.0
    for bad in (1.5, -0.1, float("nan"), True, "1"):
        with pytest.raises(VerifierError):
            Verdict(False, bad)
