"""Skip a test that runs programs where no sandbox mode isolates them (the sandbox fails closed)."""

from __future__ import annotations

import pytest

from nlrl import VerifierError
from nlrl.verifiers import sandbox as sb


def isolated() -> bool:
    """Whether an isolating sandbox mode works on this machine."""
    try:
        return sb.isolation() in sb.ISOLATING
    except VerifierError:
        return False


needs_sandbox = pytest.mark.skipif(not isolated(), reason="no isolating sandbox mode on this machine")
