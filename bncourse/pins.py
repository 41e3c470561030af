"""Keep environment.yml (Binder) in step with requirements.lock (the Makefile).

requirements.lock is the one source of truth. ``python -m bncourse.pins`` rewrites
environment.yml from it; ``tests/test_foundation.py`` fails when they disagree.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.lock"
ENV = ROOT / "environment.yml"

# Binder has no GPU: take torch's CPU build there instead of several GB of CUDA wheels.
# The version pin stays the same (2.13.0 matches 2.13.0+cpu).
TORCH_CPU_INDEX = "--extra-index-url https://download.pytorch.org/whl/cpu"

HEADER = """\
# Binder (repo2docker) builds the course environment from this file.
# GENERATED from requirements.lock by `python -m bncourse.pins`: do not edit by hand.
name: bn-course
channels:
  - conda-forge
dependencies:
  - python=3.11
  - pip
  - pip:
"""


def read_lock(path: Path = LOCK) -> list[str]:
    """The pinned requirements, one ``name==version`` per entry, in file order."""
    pins = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            if "==" not in line:
                raise ValueError(f"{path.name}: {line!r} is not pinned with '=='")
            pins.append(line)
    return pins


def read_env_pins(path: Path = ENV) -> list[str]:
    """The ``name==version`` entries of environment.yml's pip section."""
    pins = []
    in_pip = False
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if line.strip() == "- pip:":
            in_pip = True
            continue
        if in_pip and line.strip().startswith("- "):
            item = line.strip()[2:].strip()
            if not item.startswith("--"):
                pins.append(item)
    return pins


def render(pins: list[str]) -> str:
    lines = [HEADER, f"    - {TORCH_CPU_INDEX}\n"]
    lines += [f"    - {pin}\n" for pin in pins]
    return "".join(lines)


def main(argv: list[str]) -> int:
    text = render(read_lock())
    if "--check" in argv:
        if ENV.read_text() != text:
            print("environment.yml is out of date: run `python -m bncourse.pins`", file=sys.stderr)
            return 1
        return 0
    ENV.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
