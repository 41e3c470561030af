"""Shared pytest configuration: paths, and the fixed speed settings for torch."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def root() -> Path:
    """The repository root."""
    return ROOT
