"""The course's nbgrader configuration, read once for every tool (grading, release).

``load_config(root)`` reads ``root/nbgrader_config.py`` and settles the two things every
tool must agree on: the course root (wherever the course was copied) and the gradebook URL
(``db_url`` argument > ``$BN_COURSE_DB_URL`` > the config > ``sqlite:///<root>/gradebook.db``,
with a bare ``postgresql://`` mapped to the installed driver).
"""

from __future__ import annotations

import os
from pathlib import Path

DB_ENV = "BN_COURSE_DB_URL"


class ConfigError(RuntimeError):
    """The course configuration is missing or cannot be loaded (the message says which)."""


def load_config(root, db_url: str | None = None, **overrides):
    """nbgrader config of the course at ``root``.

    ``overrides`` are ``"Section.name": value`` pairs applied last, for example
    ``{"CourseDirectory.release_directory": "/tmp/x"}`` (passed as ``**{...}``).
    Raises :class:`ConfigError` when there is no ``nbgrader_config.py`` or it fails to load.
    """
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    from .grading.gradebook import normalize_url

    root = Path(root).resolve()
    path = root / "nbgrader_config.py"
    if not path.is_file():
        raise ConfigError(
            f"no nbgrader_config.py in {root}: run this from the course root (or pass --root)"
        )
    cfg = Config()
    try:
        cfg.merge(PyFileConfigLoader(path.name, path=str(root)).load_config())
    except Exception as e:  # noqa: BLE001 - any error in the file means the same to the user
        raise ConfigError(f"{path} could not be loaded: {type(e).__name__}: {e}") from None
    cfg.CourseDirectory.root = str(root)
    url = db_url or os.environ.get(DB_ENV)
    if url:
        cfg.CourseDirectory.db_url = url
    elif "db_url" not in cfg.CourseDirectory:
        cfg.CourseDirectory.db_url = f"sqlite:///{root / 'gradebook.db'}"
    cfg.CourseDirectory.db_url = normalize_url(str(cfg.CourseDirectory.db_url))
    for key, value in overrides.items():
        section, name = key.split(".")
        cfg[section][name] = value
    return cfg


def course_dir(cfg, key: str, default: str) -> str:
    """A ``CourseDirectory`` folder name (``submitted_directory`` ...) or its default."""
    return str(cfg.CourseDirectory.get(key, default))
