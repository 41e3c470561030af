"""Shared pytest configuration: paths, and the fixed speed settings for torch."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def root() -> Path:
    """The repository root."""
    return ROOT


@pytest.fixture(autouse=True)
def _restore_torch_float_state():
    """Undo process-wide torch settings a test made (e.g. ``fast_torch()`` in the experiments).

    ``torch.set_flush_denormal(True)`` outlives the test that set it and would make the
    next test in the same worker see subnormal floats flushed to zero (hypothesis refuses
    to run then). Only acts when torch is already imported: it never imports torch.
    """
    yield
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_flush_denormal(False)
