"""JupyterLab on exercises/ as a learner sees it: ``python -m bncourse.lab`` (``make lab``).

Learners get nbgrader's **Validate** button and nothing else of nbgrader: the instructor
tools (formgrader, create-assignment toolbar, course list, assignment list, nbgrader
menu) are switched off for this session only. They stay installed and enabled for
anyone who starts ``jupyter lab`` directly.

How: a throw-away Jupyter config folder, put first on ``JUPYTER_CONFIG_PATH``, holds
``labconfig/page_config.json`` (JupyterLab plugins to disable) and
``jupyter_server_config.json`` (server extensions to disable). The server runs from the
course root, so Validate reads the course's ``nbgrader_config.py`` (cell timeout,
kernel), and serves only ``exercises/``.

Binder does the same, once and for the whole environment: ``postBuild`` at the
repository root runs ``python -m bncourse.lab --install-learner-config``. (``jupyter
server extension disable`` cannot be used for this: it refuses nbgrader's server
extensions, "module could not be found", and writes nothing.)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# JupyterLab plugins of nbgrader's labextension that only instructors need.
INSTRUCTOR_PLUGINS = (
    "@jupyter/nbgrader:formgrader",
    "@jupyter/nbgrader:create-assignment",
    "@jupyter/nbgrader:course-list",
    "@jupyter/nbgrader:assignment-list",
    "@jupyter/nbgrader:menu",
)
LEARNER_PLUGIN = "@jupyter/nbgrader:validate-assignment"
# Server extensions behind them. validate_assignment stays on: the button calls it.
INSTRUCTOR_SERVER_EXTENSIONS = (
    "nbgrader.server_extensions.formgrader",
    "nbgrader.server_extensions.course_list",
    "nbgrader.server_extensions.assignment_list",
)
LEARNER_SERVER_EXTENSION = "nbgrader.server_extensions.validate_assignment"


def _merge_json(path: Path, update) -> None:
    """Apply ``update(data)`` to the JSON object in ``path`` (created if missing)."""
    data = json.loads(path.read_text()) if path.is_file() else {}
    update(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def write_learner_config(folder: Path) -> Path:
    """Merge the learner-only settings into the Jupyter config folder ``folder``; return it.

    ``labconfig/page_config.json`` disables and locks the instructor plugins (locked:
    JupyterLab's plugin manager cannot switch them back on), and
    ``jupyter_server_config.json`` disables the instructor server extensions. Other
    settings already in these files are kept.
    """
    folder = Path(folder)

    def page(data):
        for key in ("disabledExtensions", "lockedExtensions"):
            data.setdefault(key, {}).update({name: True for name in INSTRUCTOR_PLUGINS})
            data[key][LEARNER_PLUGIN] = key == "lockedExtensions"

    def server(data):
        extensions = data.setdefault("ServerApp", {}).setdefault("jpserver_extensions", {})
        extensions.update({name: False for name in INSTRUCTOR_SERVER_EXTENSIONS})
        extensions[LEARNER_SERVER_EXTENSION] = True

    _merge_json(folder / "labconfig" / "page_config.json", page)
    _merge_json(folder / "jupyter_server_config.json", server)
    return folder


def sys_prefix_config_dir() -> Path:
    """This environment's own Jupyter config folder (``{sys.prefix}/etc/jupyter``)."""
    from jupyter_core.paths import ENV_CONFIG_PATH

    return Path(ENV_CONFIG_PATH[0])


def learner_env(config_dir: Path, env: dict | None = None) -> dict:
    """``env`` (default: this process's) with ``config_dir`` first on JUPYTER_CONFIG_PATH."""
    env = dict(os.environ if env is None else env)
    rest = env.get("JUPYTER_CONFIG_PATH")
    env["JUPYTER_CONFIG_PATH"] = str(config_dir) + (os.pathsep + rest if rest else "")
    return env


def command(root: Path = ROOT, extra: list[str] | None = None) -> list[str]:
    """The ``jupyter lab`` command line serving ``root/exercises``."""
    folder = Path(root) / "exercises"
    # The server extensions are also switched off on the command line, which outranks
    # every config file (a user's own config could switch them back on).
    off = [f"--ServerApp.jpserver_extensions={name}=False" for name in INSTRUCTOR_SERVER_EXTENSIONS]
    # In a container one often is root, which jupyter refuses without this flag.
    root_flag = ["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
    return [
        sys.executable,
        "-m",
        "jupyterlab",
        f"--ServerApp.root_dir={folder}",
        *off,
        *root_flag,
        *(extra or []),
    ]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bncourse.lab",
        description="JupyterLab on exercises/ with nbgrader's Validate button only.",
    )
    p.add_argument("--root", type=Path, default=ROOT, help="course root (default: the repo)")
    p.add_argument(
        "--install-learner-config",
        nargs="?",
        const=True,
        metavar="DIR",
        help="instead of starting JupyterLab, make the learner setup permanent in this "
        "Jupyter config folder (default: the environment's, {sys.prefix}/etc/jupyter); "
        "Binder's postBuild does this",
    )
    a, extra = p.parse_known_args(argv)  # the rest goes to jupyter lab (--no-browser, --port)
    if a.install_learner_config:
        target = a.install_learner_config
        folder = sys_prefix_config_dir() if target is True else Path(target)
        print(f"learner-only nbgrader setup written to {write_learner_config(folder)}")
        return 0
    root = a.root.resolve()
    if not (root / "exercises").is_dir():
        print(f"no exercises/ in {root}: run `make exercises` first", file=sys.stderr)
        return 1
    config_dir = Path(tempfile.mkdtemp(prefix="bn-lab-config-"))
    try:
        write_learner_config(config_dir)
        return subprocess.call(command(root, extra), cwd=root, env=learner_env(config_dir))
    except KeyboardInterrupt:
        return 0
    finally:
        shutil.rmtree(config_dir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
